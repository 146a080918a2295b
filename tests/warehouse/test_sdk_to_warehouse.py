"""Events sent with the real SDKs reach the warehouse, DuckDB and PostgreSQL, as RudderStack writes them.

A real `headwater up` per engine (module-scoped) receives events from rudder-sdk-python,
segment-analytics-python, the Node SDKs and @rudderstack/analytics-js in Chromium (the collect tests'
clients, imported from tests/sdk). Each test waits until its rows are queryable through the running
warehouse process, then compares them field by field with rows worked out by hand from
/work/shared/reference/warehouse-contract.md: §1.2 rule columns, §1.3 flattening, §1.4 example rows,
§1.5 `users` merge, §1.11 where each SDK's identify traits land, §2.2 names, §3.1/§3.2 types and §3.4
type conflicts. Time columns are compared with the event the data plane stored in the log, whose own
time rules the SDK tests check.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from rudderstack.analytics import client as rudder_client
from rudderstack.analytics import request as rudder_request
from rudderstack.analytics.version import VERSION as RUDDER_PY_VERSION
from segment.analytics import client as segment_client
from segment.analytics import request as segment_request
from segment.analytics.version import VERSION as SEGMENT_PY_VERSION

from headwater.warehouse.client import WarehouseClient, socket_path
from tests.conftest import RunningHeadwater, start_headwater
from tests.sdk import conftest as sdk_fixtures
from tests.sdk.npm_sdks import package_version
from tests.sdk.test_sdk_browser import visit
from tests.sdk.test_sdk_python import wire_capture
from tests.warehouse.engines_fixtures import fresh_postgres_dsn

pytestmark = pytest.mark.slow

# The SDK suite's fixtures (npm install and bundle, node runner, page server, Chromium), as they are.
npm_sdks = sdk_fixtures.npm_sdks
node_send = sdk_fixtures.node_send
page_origin = sdk_fixtures.page_origin
browser = sdk_fixtures.browser

ENGINES = ("duckdb", "postgres")
DESTINATION_TYPES = {"duckdb": "DUCKDB", "postgres": "POSTGRES"}
# Contract §3.2 (PostgreSQL) and §3.3 (DuckDB), as information_schema.columns.data_type spells them.
COLUMN_TYPES = {
    "duckdb": {
        "int": "BIGINT",
        "float": "DOUBLE",
        "string": "VARCHAR",
        "boolean": "BOOLEAN",
        "datetime": "TIMESTAMP WITH TIME ZONE",
    },
    "postgres": {
        "int": "bigint",
        "float": "numeric",
        "string": "text",
        "boolean": "boolean",
        "datetime": "timestamp with time zone",
    },
}
TIME_FIELDS = {
    "received_at": "receivedAt",
    "sent_at": "sentAt",
    "timestamp": "timestamp",
    "original_timestamp": "originalTimestamp",
}
WAIT_SECONDS = 30.0

# --- the python SDKs' calls, and the columns they must become ------------------------------------------

# §2.2: camelCase snake-cased, then cut to 63 bytes (PostgreSQL's identifier limit, DuckDB follows it).
LONG_KEY = "customerLifetimeValueAsEstimatedByTheMarketingDepartmentsQuarterlyForecastModel"
LONG_COLUMN = "customer_lifetime_value_as_estimated_by_the_marketing_departmen"
assert len(LONG_COLUMN) == 63

ORDER_PROPERTIES: dict[str, Any] = {
    "revenue": 9.5,
    "items": [{"sku": "x"}],
    "shipping": {"city": "Oslo"},
    "firstName": "Ann",
    "first_name": "Bea",  # byte order puts firstName first, so first_name's value wins (§1.3)
    "order": 3,
    "from": "newsletter",
    "Cízǔ": "oui",
    LONG_KEY: 42,
    "delivery_date": "2021-05-01",
    "quantity": 2,
    "gift": False,
}
# What ORDER_PROPERTIES becomes in the per-event table (§1.4, §2.2, §3.1), worked out by hand.
ORDER_COLUMNS: dict[str, Any] = {
    "revenue": 9.5,
    "items": '[{"sku":"x"}]',
    "shipping_city": "Oslo",
    "first_name": "Bea",
    "_order": 3,
    "_from": "newsletter",
    "c_z": "oui",
    LONG_COLUMN: 42,
    "delivery_date": datetime(2021, 5, 1, tzinfo=UTC),
    "quantity": 2,
    "gift": False,
}
ORDER_TYPES = {
    "revenue": "float",
    "items": "string",
    "shipping_city": "string",
    "first_name": "string",
    "_order": "int",
    "_from": "string",
    "c_z": "string",
    LONG_COLUMN: "int",
    "delivery_date": "datetime",
    "quantity": "int",
    "gift": "boolean",
}
# The rule and injected-context columns of every row from these SDKs (§1.2, §1.3), and `uuid_ts`.
COMMON_TYPES = {
    "id": "string",
    "anonymous_id": "string",
    "user_id": "string",
    "channel": "string",
    "received_at": "datetime",
    "sent_at": "datetime",
    "timestamp": "datetime",
    "original_timestamp": "datetime",
    "uuid_ts": "datetime",
    "context_library_name": "string",
    "context_library_version": "string",
    "context_source_id": "string",
    "context_source_type": "string",
    "context_destination_id": "string",
    "context_destination_type": "string",
    "context_ip": "string",
    "context_request_ip": "string",
}
TRAIT_TYPES = {"email": "string", "plan": "string", "logins": "int"}
IDENTIFY_TYPES = {
    **COMMON_TYPES,
    **TRAIT_TYPES,  # segment: top-level traits (§1.11)
    **{f"context_traits_{k}": v for k, v in TRAIT_TYPES.items()},  # rudder: traits only in context
}
# Whole column sets of the tables only this module's python SDK calls write to.
TABLE_TYPES: dict[str, dict[str, str]] = {
    "order_completed": {**COMMON_TYPES, "event": "string", "event_text": "string", **ORDER_TYPES},
    "identifies": IDENTIFY_TYPES,
    # §1.5: users = identifies minus user_id, with id typed like identifies.user_id.
    "users": {k: v for k, v in IDENTIFY_TYPES.items() if k != "user_id"},
    "pages": {**COMMON_TYPES, "name": "string", "path": "string"},
    "screens": {**COMMON_TYPES, "name": "string", "section": "string"},
    "groups": {**COMMON_TYPES, "group_id": "string", "name": "string", "employees": "int"},
    # Neither SDK's alias takes an anonymousId, so no anonymous_id column was ever made.
    "aliases": {k: v for k, v in COMMON_TYPES.items() if k != "anonymous_id"} | {"previous_id": "string"},
}


@dataclass(frozen=True)
class PythonSdk:
    name: str
    client_class: Any
    session: Any
    version: str
    channel: str | None
    traits_prefix: str  # §1.11: rudder-sdk-python puts identify traits in context.traits only


PYTHON_SDKS = {
    "rudder": PythonSdk(
        "rudder",
        rudder_client.Client,
        rudder_request._session,
        RUDDER_PY_VERSION,
        "server",
        "context_traits_",
    ),
    "segment": PythonSdk(
        "segment", segment_client.Client, segment_request._session, SEGMENT_PY_VERSION, None, ""
    ),
}


# --- one `headwater up` per engine ---------------------------------------------------------------------


@dataclass
class Up:
    """A running `headwater up` with a warehouse, and ways to read it."""

    engine: str
    running: RunningHeadwater

    @property
    def destination_type(self) -> str:
        return DESTINATION_TYPES[self.engine]

    def wait_warehouse(self, timeout: float = WAIT_SECONDS) -> None:
        """`up` answers /health before its warehouse process listens; wait for the socket too.

        Only an existing socket is dialled: httpx leaks the socket of a failed Unix connect, which
        pytest (warnings as errors) would report.
        """
        path = socket_path(self.running.data_dir)
        deadline = time.monotonic() + timeout
        while not (path.exists() and self.warehouse().available()):
            if time.monotonic() > deadline or self.running.process.poll() is not None:
                raise AssertionError(
                    f"no warehouse process answered on {path}:\n{self.running.log_path.read_text()[-3000:]}"
                )
            time.sleep(0.05)

    def warehouse(self) -> WarehouseClient:
        return WarehouseClient(socket_path(self.running.data_dir), timeout=30.0)

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Rows as the warehouse process's API answers them (JSON cells: timestamps as ISO strings)."""
        return list(self.warehouse().query(sql).records())

    def wait_rows(self, sql: str, count: int, timeout: float = WAIT_SECONDS) -> list[dict[str, Any]]:
        """Poll `sql` until it returns at least `count` rows (the table may not exist yet)."""
        deadline = time.monotonic() + timeout
        last: Exception | list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            try:
                rows = self.query(sql)
            except Exception as error:  # no such table until the first load that makes it
                last = error
            else:
                if len(rows) >= count:
                    return rows
                last = rows
            time.sleep(0.1)
        raise AssertionError(
            f"{sql!r}: wanted {count} rows within {timeout}s, last answer {last!r}\n"
            f"{self.running.log_path.read_text()[-3000:]}"
        )

    def rows_by_id(self, table: str, ids: list[str], column: str = "id") -> dict[str, dict[str, Any]]:
        rows = self.wait_rows(f"SELECT * FROM {table} WHERE {column} IN ({quoted(ids)})", len(ids))
        by_id = {row[column]: row for row in rows}
        assert len(by_id) == len(rows) == len(ids), f"{table}: {len(rows)} rows for {len(ids)} ids: {rows}"
        return by_id

    def status(self) -> dict[str, Any]:
        return self.warehouse().status()

    def wait_idle(self, timeout: float = WAIT_SECONDS) -> dict[str, Any]:
        """The warehouse status once every event in the log has been loaded, dropped or failed."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            loader = status["loader"]
            accounted = loader["events_loaded"] + loader["duplicates"] + loader["failed"]
            if status["lag_total"] == 0 and accounted == len(self.running.records()):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"the loader did not catch up: {status}")
            time.sleep(0.1)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(self.running.config_path, *args)


def run_cli(config_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "headwater", *args, "--config", str(config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def quoted(values: list[str]) -> str:
    return ", ".join("'" + value.replace("'", "''") + "'" for value in values)


def start_up(directory: Path, engine: str, stack: ExitStack) -> Up:
    settings: dict[str, Any] = {"batch_interval_seconds": 0.2}
    if engine == "postgres":
        settings |= {"engine": "postgres", "postgres_dsn": stack.enter_context(fresh_postgres_dsn())}
    running = start_headwater(directory, workers=1, extra={"warehouse": settings})
    started = Up(engine, running)
    started.wait_warehouse()
    return started


@pytest.fixture(scope="module", params=ENGINES)
def up(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    engine = str(request.param)
    with ExitStack() as stack:
        started = start_up(tmp_path_factory.mktemp(f"sdk-warehouse-{engine}"), engine, stack)
        try:
            yield started
        finally:
            code = started.running.stop()
        assert code == 0, started.running.log_path.read_text()[-4000:]


# --- sending with the python SDKs -----------------------------------------------------------------------


@dataclass
class PythonCalls:
    """One SDK's six calls: the events as they went over the wire and as the log stored them, by type."""

    sdk: PythonSdk
    tag: str
    user: str
    anon: str
    wire: dict[str, dict[str, Any]]
    stored: dict[str, dict[str, Any]]

    def mid(self, kind: str) -> str:
        return str(self.wire[kind]["messageId"])


def send_python_calls(sdk: PythonSdk, running: RunningHeadwater) -> PythonCalls:
    tag = uuid.uuid4().hex[:12]
    user, anon = f"user-{sdk.name}-{tag}", f"anon-{sdk.name}-{tag}"
    errors: list[tuple[Exception, Any]] = []
    client = sdk.client_class(
        write_key=running.write_key,
        host=running.url,
        max_retries=0,
        upload_interval=0.05,
        on_error=lambda e, batch: errors.append((e, batch)),
    )
    with wire_capture(sdk.session) as wire:
        results = [
            client.track(
                user_id=user, anonymous_id=anon, event="Order Completed", properties=ORDER_PROPERTIES
            ),
            client.identify(
                user_id=user,
                anonymous_id=anon,
                traits={"email": f"{tag}@example.com", "plan": "pro", "logins": 3},
            ),
            # name from `name`; the property `name` is a reserved rule column of pages, so it is dropped.
            client.page(
                user_id=user,
                anonymous_id=anon,
                category="Docs",
                name="Pricing",
                properties={"path": "/pricing", "name": "Ignored"},
            ),
            # no `name`: the rule takes properties.name.
            client.screen(user_id=user, anonymous_id=anon, properties={"name": "Home", "section": "top"}),
            client.group(
                user_id=user,
                anonymous_id=anon,
                group_id=f"group-{tag}",
                traits={"name": "Acme", "employees": 12},
            ),
            client.alias(previous_id=f"old-{tag}", user_id=user),
        ]
        client.flush()
        client.shutdown()
    assert not errors, errors
    assert all(ok for ok, _ in results), results
    assert [req.status for req in wire] == [200] * len(wire) and wire
    sent = {event["type"]: event for req in wire for event in req.body["batch"]}
    assert sorted(sent) == ["alias", "group", "identify", "page", "screen", "track"], sorted(sent)
    ids = {event["messageId"] for event in sent.values()}
    stored = running.events(where=lambda e: e.get("messageId") in ids, count=len(ids))
    return PythonCalls(sdk, tag, user, anon, sent, {event["type"]: event for event in stored})


@pytest.fixture(scope="module")
def python_calls(up: Up) -> dict[str, PythonCalls]:
    """The six calls of each python SDK, sent once per engine and loaded before any test reads them."""
    calls = {name: send_python_calls(sdk, up.running) for name, sdk in PYTHON_SDKS.items()}
    up.wait_idle()
    return calls


# --- expected rows, by hand ---------------------------------------------------------------------------


def parse_time(value: Any) -> datetime:
    assert isinstance(value, str), f"expected a timestamp, got {value!r}"
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, f"timestamp without a zone: {value!r}"
    return parsed


def base_columns(up: Up, calls: PythonCalls, kind: str) -> dict[str, Any]:
    """The columns every row of this event has: rule columns and the injected context (§1.2, §1.3)."""
    wire, stored = calls.wire[kind], calls.stored[kind]
    row: dict[str, Any] = {
        "id": wire["messageId"],
        "context_library_name": "analytics-python",
        "context_library_version": calls.sdk.version,
        "context_source_id": "web",
        "context_source_type": "HTTP",
        "context_destination_id": "warehouse",
        "context_destination_type": up.destination_type,
        "context_ip": "127.0.0.1",
        "context_request_ip": "127.0.0.1",
    }
    if calls.sdk.channel is not None:
        row["channel"] = calls.sdk.channel
    if wire.get("userId"):
        row["user_id"] = wire["userId"]
    if wire.get("anonymousId"):
        row["anonymous_id"] = wire["anonymousId"]
    for column, key in TIME_FIELDS.items():
        row[column] = parse_time(stored[key])
    return row


def check_row(actual: dict[str, Any], expected: dict[str, Any], what: str) -> None:
    """The row's non-NULL cells are exactly `expected` (datetimes compared as instants), plus uuid_ts."""
    cells = {column: value for column, value in actual.items() if value is not None}
    loaded_at = parse_time(cells.pop("uuid_ts", None))
    assert parse_time(actual["received_at"]) <= loaded_at <= datetime.now(UTC), f"{what}: uuid_ts {loaded_at}"
    for column, value in expected.items():
        if isinstance(value, datetime) and column in cells:
            cells[column] = parse_time(cells[column])
    assert cells == expected, f"{what}: row differs from the hand-computed one"


def column_types(up: Up, table: str) -> dict[str, str]:
    rows = up.query(
        "SELECT column_name, data_type FROM information_schema.columns "
        f"WHERE table_schema = 'events' AND table_name = '{table}'"
    )
    return {row["column_name"]: row["data_type"] for row in rows}


def engine_types(up: Up, abstract: dict[str, str]) -> dict[str, str]:
    return {column: COLUMN_TYPES[up.engine][kind] for column, kind in abstract.items()}


# --- 2. every call type of the python SDKs, field by field ------------------------------------------------


@pytest.mark.parametrize("sdk", sorted(PYTHON_SDKS))
def test_track_rows(up, python_calls, sdk):
    """§1.4: a `tracks` row of rule and context columns; the per-event row has the properties too."""
    calls = python_calls[sdk]
    mid = calls.mid("track")
    tracks = up.rows_by_id("tracks", [mid])[mid]
    expected = base_columns(up, calls, "track") | {
        "event": "order_completed",
        "event_text": "Order Completed",
    }
    check_row(tracks, expected, f"{sdk} tracks")
    order = up.rows_by_id("order_completed", [mid])[mid]
    check_row(order, expected | ORDER_COLUMNS, f"{sdk} order_completed")


@pytest.mark.parametrize("sdk", sorted(PYTHON_SDKS))
def test_identify_and_users_rows(up, python_calls, sdk):
    """§1.11: segment's top-level traits become `email`, `plan`; rudder-sdk-python's context_traits_*."""
    calls = python_calls[sdk]
    mid = calls.mid("identify")
    traits = {"email": f"{calls.tag}@example.com", "plan": "pro", "logins": 3}
    expected = base_columns(up, calls, "identify") | {
        calls.sdk.traits_prefix + key: value for key, value in traits.items()
    }
    check_row(up.rows_by_id("identifies", [mid])[mid], expected, f"{sdk} identifies")
    # §1.5: one users row, id = the user id, every identifies column but user_id.
    user_row = up.rows_by_id("users", [calls.user])[calls.user]
    want_user = {k: v for k, v in expected.items() if k != "user_id"} | {"id": calls.user}
    check_row(user_row, want_user, f"{sdk} users")


@pytest.mark.parametrize("sdk", sorted(PYTHON_SDKS))
def test_page_screen_group_alias_rows(up, python_calls, sdk):
    """The name rule (name, else properties.name), group_id, previous_id; `category` is no column."""
    calls = python_calls[sdk]
    expected = {
        ("pages", "page"): {"name": "Pricing", "path": "/pricing"},
        ("screens", "screen"): {"name": "Home", "section": "top"},
        ("groups", "group"): {"group_id": f"group-{calls.tag}", "name": "Acme", "employees": 12},
        ("aliases", "alias"): {"previous_id": f"old-{calls.tag}"},
    }
    for (table, kind), own in expected.items():
        mid = calls.mid(kind)
        row = up.rows_by_id(table, [mid])[mid]
        check_row(row, base_columns(up, calls, kind) | own, f"{sdk} {table}")


def test_tables_columns_and_types(up, python_calls):
    """Each table has exactly the columns worked out by hand, with §3.2/§3.3 types (information_schema)."""
    for table, abstract in TABLE_TYPES.items():
        assert column_types(up, table) == engine_types(up, abstract), table
    # tracks also receives other SDKs' context in this module: the python SDKs' columns must be there, typed.
    tracks = column_types(up, "tracks")
    want = engine_types(up, COMMON_TYPES | {"event": "string", "event_text": "string"})
    assert {column: tracks.get(column) for column in want} == want
    assert not set(ORDER_TYPES) & set(tracks), "properties go to the per-event table only (§1.3)"


# --- 3. users merge ---------------------------------------------------------------------------------------


def test_users_merge_latest_non_null(up):
    """§1.5 through segment-analytics-python: a trait the newer identify omits keeps its older value."""
    user = f"merge-{uuid.uuid4().hex[:12]}"
    client = segment_client.Client(write_key=up.running.write_key, host=up.running.url, max_retries=0)
    _, first = client.identify(user_id=user, traits={"email": "old@example.com", "plan": "pro"})
    client.flush()
    up.rows_by_id("identifies", [first["messageId"]])  # loaded on its own, before the second is sent
    _, second = client.identify(user_id=user, traits={"email": "new@example.com"})
    client.flush()
    client.shutdown()
    identifies = up.rows_by_id("identifies", [first["messageId"], second["messageId"]])

    users = up.query(f"SELECT * FROM users WHERE id = '{user}'")
    assert len(users) == 1, users
    row = users[0]
    assert (row["email"], row["plan"], row["logins"]) == ("new@example.com", "pro", None)
    newest = identifies[second["messageId"]]
    assert parse_time(row["received_at"]) == parse_time(newest["received_at"])
    assert parse_time(newest["received_at"]) > parse_time(identifies[first["messageId"]]["received_at"])
    assert newest["plan"] is None, "the identifies row itself keeps what was sent"


# --- 4. node and browser SDKs ------------------------------------------------------------------------------


@pytest.mark.node
@pytest.mark.parametrize(
    ("script", "library", "package", "channel"),
    [
        ("send_rudder_node.mjs", "analytics-node", "@rudderstack/rudder-sdk-node", "server"),
        ("send_segment_node.mjs", "@segment/analytics-node", "@segment/analytics-node", None),
    ],
    ids=["rudder-node", "segment-node"],
)
def test_node_sdk_track(up, node_send, script, library, package, channel):
    tag = uuid.uuid4().hex[:12]
    user = f"node-{tag}"
    call = {"userId": user, "event": "Node Checkout", "properties": {"revenue": 4.25, "tag": tag}}
    report = node_send(script, up.running.url, up.running.write_key, [("track", call)])
    assert report["exit"] == 0 and not report["errors"], report
    [mid] = report["messageIds"]
    row = up.rows_by_id("tracks", [mid])[mid]
    got = {key: row[key] for key in ("context_library_name", "context_library_version", "channel")}
    assert got == {
        "context_library_name": library,
        "context_library_version": package_version(package),
        "channel": channel,
    }
    assert (row["event"], row["event_text"], row["user_id"]) == ("node_checkout", "Node Checkout", user)
    assert (row["context_source_id"], row["context_destination_type"]) == ("web", up.destination_type)
    own = up.rows_by_id("node_checkout", [mid])[mid]
    assert (own["revenue"], own["tag"], own["context_library_name"]) == (4.25, tag, library)


@pytest.mark.browser
@pytest.mark.node
def test_browser_sdk_track(up, browser, page_origin):
    """@rudderstack/analytics-js in Chromium: its library name and its page context arrive as columns."""
    tag = uuid.uuid4().hex[:12]
    url, key = up.running.url, up.running.write_key
    script = f"""
      const ra = new RudderAnalytics();
      ra.load("{key}", "{url}", {{configUrl: "{url}", polyfillIfRequired: false}});
      ra.track("Browser Checkout", {{revenue: 12.5, tag: "{tag}"}});
    """
    run = visit(browser, page_origin, url, "rudder-analytics.js", script, events=1)
    [sent] = run.sent()
    mid = sent.event["messageId"]
    row = up.rows_by_id("tracks", [mid])[mid]
    assert (row["context_library_name"], row["context_library_version"], row["channel"]) == (
        "RudderLabs JavaScript SDK",
        package_version("@rudderstack/analytics-js"),
        "web",
    )
    assert (row["event"], row["anonymous_id"]) == ("browser_checkout", sent.event["anonymousId"])
    assert row["context_page_path"] == sent.event["context"]["page"]["path"] == "/page/rudder-analytics.js"
    own = up.rows_by_id("browser_checkout", [mid])[mid]
    assert (own["revenue"], own["tag"]) == (12.5, tag)


# --- 5. headwater query -----------------------------------------------------------------------------------

KNOWN_QUERY = "SELECT event_text, revenue, _order, gift, items FROM order_completed WHERE id = '{mid}'"
KNOWN_RECORD = {
    "event_text": "Order Completed",
    "revenue": 9.5,
    "_order": 3,
    "gift": False,
    "items": '[{"sku":"x"}]',
}


def test_query_cli_formats_while_up(up, python_calls):
    """table, csv and json render the same row; the CLI reaches the warehouse through the running process."""
    sql = KNOWN_QUERY.format(mid=python_calls["rudder"].mid("track"))

    table = up.cli("query", sql, "--format", "table")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.rstrip("\n").split("\n")
    assert re.split(r"\s{2,}", lines[0].strip()) == list(KNOWN_RECORD)
    assert lines[1].split() == ["-" * w for w in (15, 7, 6, 5, 13)], "each column as wide as its widest cell"
    assert re.split(r"\s{2,}", lines[2].strip()) == ["Order Completed", "9.5", "3", "false", '[{"sku":"x"}]']
    assert lines[3:] == ["(1 row)"]

    as_csv = up.cli("query", sql, "--format", "csv")
    assert as_csv.returncode == 0, as_csv.stderr
    assert list(csv.reader(io.StringIO(as_csv.stdout))) == [
        list(KNOWN_RECORD),
        ["Order Completed", "9.5", "3", "false", '[{"sku":"x"}]'],
    ]
    assert '"[{""sku"":""x""}]"' in as_csv.stdout, "a cell with quotes is quoted, its quotes doubled"

    as_json = up.cli("query", sql, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert orjson.loads(as_json.stdout) == [KNOWN_RECORD]


def test_query_cli_refuses_writes(up, python_calls):
    before = up.query("SELECT count(*) AS n FROM tracks")
    refused = up.cli("query", "DELETE FROM tracks")
    assert refused.returncode != 0
    assert refused.stdout == ""
    assert refused.stderr.startswith("headwater query: ") and "only reads are allowed" in refused.stderr, (
        refused.stderr
    )
    assert up.query("SELECT count(*) AS n FROM tracks") == before
    assert before[0]["n"] >= 2


def test_query_cli_after_up_stops(tmp_path):
    """With `up` stopped there is no warehouse process: `headwater query` opens the DuckDB file read-only."""
    with ExitStack() as stack:
        started = start_up(tmp_path / "stopped", "duckdb", stack)
        try:
            client = rudder_client.Client(
                write_key=started.running.write_key, host=started.running.url, sync_mode=True
            )
            ok, message = client.track(user_id="u-stop", event="Order Completed", properties={"revenue": 1.5})
            assert ok
            started.rows_by_id("order_completed", [message["messageId"]])
        finally:
            code = started.running.stop()
        assert code == 0, started.running.log_path.read_text()[-4000:]

    config = started.running.config_path
    assert not WarehouseClient(socket_path(started.running.data_dir)).available()
    answer = run_cli(config, "query", "SELECT event, revenue FROM order_completed", "--format", "json")
    assert answer.returncode == 0, answer.stderr
    assert orjson.loads(answer.stdout) == [{"event": "order_completed", "revenue": 1.5}]
    refused = run_cli(config, "query", "DELETE FROM tracks")
    assert refused.returncode != 0 and refused.stderr.startswith("headwater query: "), refused.stderr
    after = run_cli(config, "query", "SELECT count(*) AS n FROM tracks", "--format", "csv")
    assert after.stdout.split() == ["n", "1"], after.stderr


# --- 6. duplicates, 7. type conflicts ---------------------------------------------------------------------


def test_duplicate_message_id_loads_once(up):
    """The same messageId again in a later request (an SDK retry): the log holds two, the warehouse one."""
    client = rudder_client.Client(write_key=up.running.write_key, host=up.running.url, sync_mode=True)
    mid = str(uuid.uuid4())
    ok, _ = client.track(user_id="u-dup", event="Dedup Check", properties={"attempt": 1}, message_id=mid)
    assert ok
    first = up.rows_by_id("tracks", [mid])[mid]  # loaded before the resend arrives
    duplicates_before = up.status()["loader"]["duplicates"]
    time.sleep(1.0)
    ok, _ = client.track(user_id="u-dup", event="Dedup Check", properties={"attempt": 2}, message_id=mid)
    assert ok
    stored = up.running.events(where=lambda e: e.get("messageId") == mid, count=2)
    assert len(stored) == 2 and stored[0]["receivedAt"] != stored[1]["receivedAt"]

    status = up.wait_idle()
    assert status["loader"]["duplicates"] == duplicates_before + 1
    assert len(up.query(f"SELECT id FROM tracks WHERE id = '{mid}'")) == 1
    rows = up.query(f"SELECT attempt, received_at FROM dedup_check WHERE id = '{mid}'")
    assert [row["attempt"] for row in rows] == [1], "the first arrival is kept"
    assert parse_time(rows[0]["received_at"]) == parse_time(first["received_at"])


def test_type_conflict_goes_to_rudder_discards(up):
    """§3.4: an int column then given a non-numeric string: NULL in the row, one rudder_discards row."""
    client = rudder_client.Client(write_key=up.running.write_key, host=up.running.url, sync_mode=True)
    ok, number = client.track(user_id="u-clash", event="Type Clash", properties={"qty": 3, "note": "a"})
    assert ok
    up.rows_by_id("type_clash", [number["messageId"]])  # the first load fixes qty as int
    ok, text = client.track(user_id="u-clash", event="Type Clash", properties={"qty": "many", "note": "b"})
    assert ok
    mids = [number["messageId"], text["messageId"]]
    rows = up.rows_by_id("type_clash", mids)
    assert (rows[mids[0]]["qty"], rows[mids[0]]["note"]) == (3, "a")
    assert (rows[mids[1]]["qty"], rows[mids[1]]["note"]) == (None, "b"), "the row loads, the cell is NULL"
    assert column_types(up, "type_clash")["qty"] == COLUMN_TYPES[up.engine]["int"], "the first type stays"

    discards = up.wait_rows(f"SELECT * FROM rudder_discards WHERE row_id IN ({quoted(mids)})", 1)
    assert len(discards) == 1, discards
    discard = discards[0]
    loaded_at = parse_time(discard.pop("uuid_ts"))
    received = parse_time(discard.pop("received_at"))
    assert received == parse_time(rows[mids[1]]["received_at"]) <= loaded_at
    assert discard == {
        "table_name": "type_clash",
        "row_id": mids[1],
        "column_name": "qty",
        "column_value": "many",
        "reason": "incompatible schema conversion from int to string",
    }
    assert column_types(up, "rudder_discards") == engine_types(
        up,
        {
            "table_name": "string",
            "row_id": "string",
            "column_name": "string",
            "column_value": "string",
            "received_at": "datetime",
            "uuid_ts": "datetime",
            "reason": "string",
        },
    )


# --- 8. status and metrics ---------------------------------------------------------------------------------


def test_status_and_metrics(up, python_calls):
    up.wait_idle()
    answer = up.cli("status", "--json")
    assert answer.returncode == 0, answer.stderr
    report = orjson.loads(answer.stdout)
    warehouse = report["warehouse"]
    assert (warehouse["engine"], warehouse["namespace"]) == (up.engine, "events")
    assert warehouse["lag_total"] == 0 and set(warehouse["lag"].values()) == {0}
    loader = warehouse["loader"]
    assert loader["state"] == "running"
    sent = sum(len(calls.wire) for calls in python_calls.values())
    assert loader["events_loaded"] >= sent
    assert loader["events_loaded"] + loader["duplicates"] + loader["failed"] == report["events"]
    assert loader["failed"] == 0 and loader["last_error"] is None

    metrics = httpx.get(up.running.url + "/metrics", timeout=5.0)
    assert metrics.status_code == 200
    samples = re.findall(r"^headwater_warehouse_events_loaded_total(?:\{[^}]*\})? (\S+)$", metrics.text, re.M)
    assert samples, metrics.text[:2000]
    assert sum(float(value) for value in samples) == loader["events_loaded"]
