"""The loader in-process against both real engines: exactly-once resume, dedup, schema evolution,
type conflicts, failed events, bisection of refused batches, replay and the users merge."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from headwater.log import open_log
from headwater.log.base import EventLog
from headwater.log.settings import LogSettings
from headwater.warehouse.command import format_result
from headwater.warehouse.engines.base import Engine, QueryResult
from headwater.warehouse.engines.open import open_engine
from headwater.warehouse.loader import Loader
from headwater.warehouse.settings import WarehouseSettings
from headwater.warehouse.staging import open_stage
from tests.warehouse.engines_fixtures import fresh_postgres_dsn

T0 = "2026-11-24T10:00:00.000Z"


def event(message_id: str, kind: str = "track", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": kind,
        "messageId": message_id,
        "anonymousId": "anon-1",
        "receivedAt": fields.pop("receivedAt", T0),
        "sentAt": T0,
        "originalTimestamp": T0,
        "timestamp": T0,
        "request_ip": "10.0.0.1",
        "context": {"library": {"name": "test-lib"}},
    }
    if kind == "track":
        base["event"] = "Order Completed"
    base.update(fields)
    return base


class Harness:
    """A log, an engine and a loader over them; `restart()` builds a fresh loader as a new process would."""

    def __init__(self, root: Path, settings: WarehouseSettings) -> None:
        self.root = root
        self.settings = settings
        self.log: EventLog = open_log(LogSettings(directory=root / "log"))
        self.engine: Engine = open_engine(settings)
        self.loader = self._loader()
        self.loader.start()

    def _loader(self) -> Loader:
        return Loader(self.settings, self.engine, open_stage(self.settings), self.log)

    def append(self, *events: dict[str, Any], source: str = "web") -> None:
        async def write() -> None:
            writer = self.log.open_writer()
            await writer.append([(source, orjson.dumps(e)) for e in events])
            await writer.aclose()

        asyncio.run(write())

    def drain(self) -> int:
        loaded = 0
        while True:
            items = self._poll()
            if not items:
                return loaded
            loaded += sum(o.loaded for o in self.loader.load_items(items))

    def _poll(self) -> list[Any]:
        from headwater.warehouse.loader import Item

        records = self.loader.consumer.poll(self.settings.batch_max_events)
        return [Item(r.payload, r.source_id, r.partition, r.offset) for r in records]

    def restart(self, settings: WarehouseSettings | None = None) -> None:
        self.engine.close()
        if settings is not None:
            self.settings = settings
        self.engine = open_engine(self.settings)
        self.loader = self._loader()
        self.loader.start()

    def query(self, sql: str) -> QueryResult:
        return self.engine.query(sql)

    def scalar(self, sql: str) -> Any:
        return self.query(sql).rows[0][0]

    def close(self) -> None:
        self.engine.close()
        self.log.close()


@pytest.fixture(params=["duckdb", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WarehouseSettings]:
    base = WarehouseSettings(
        duckdb_path=tmp_path / "wh.duckdb",
        staging_dir=tmp_path / "staging",
        batch_max_events=1000,
        batch_interval_seconds=0.05,
    )
    if request.param == "duckdb":
        yield base
        return
    with fresh_postgres_dsn() as dsn:
        yield dataclasses.replace(base, engine="postgres", postgres_dsn=dsn)


@pytest.fixture
def harness(settings: WarehouseSettings, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path, settings)
    yield h
    h.close()


def test_loads_tracks_and_per_event_rows_and_records_offsets(harness: Harness) -> None:
    harness.append(*(event(f"m{i}", properties={"revenue": 9.5, "n": i}) for i in range(10)))
    assert harness.drain() == 10
    assert harness.scalar("select count(*) from events.tracks") == 10
    assert harness.scalar("select count(*) from events.order_completed") == 10
    assert harness.scalar("select sum(n) from events.order_completed") == sum(range(10))
    offsets = dict(harness.query("select log_partition, next_offset from _headwater.offsets").rows)
    assert offsets == {0: 10}
    loads = harness.query("select events, kind from _headwater.loads").rows
    assert sum(row[0] for row in loads) == 10 and {row[1] for row in loads} == {"log"}
    # Staged files are removed once their load has committed.
    assert not list((harness.root / "staging").glob("*/*.parquet"))


def test_restart_resumes_from_the_warehouse_offsets_not_the_consumer(harness: Harness) -> None:
    harness.append(*(event(f"a{i}") for i in range(5)))
    harness.drain()
    # The consumer's own commit is lost (as after a crash between the warehouse commit and it).
    for path in (harness.root / "log" / "consumers").glob("*.json"):
        path.unlink()
    harness.restart()
    harness.append(*(event(f"b{i}") for i in range(3)))
    harness.drain()
    assert harness.scalar("select count(*) from events.tracks") == 8
    assert harness.scalar("select count(distinct id) from events.tracks") == 8


def test_items_already_covered_by_the_warehouse_are_skipped(harness: Harness) -> None:
    """A commit whose answer was lost may have landed; loading the same records again adds nothing."""
    harness.append(*(event(f"c{i}") for i in range(4)))
    items = harness._poll()
    harness.loader.load_items(items)
    outcomes = harness.loader.load_items(items)
    assert sum(o.events for o in outcomes) == 0
    assert harness.scalar("select count(*) from events.tracks") == 4


def test_duplicate_message_ids_are_dropped_within_the_window(harness: Harness) -> None:
    harness.append(event("dup-1"), event("dup-1"), event("dup-2"))
    harness.drain()
    harness.append(event("dup-1"), event("dup-3"))
    harness.drain()
    rows = harness.query("select id, count(*) from events.tracks group by id order by id").rows
    assert rows == [("dup-1", 1), ("dup-2", 1), ("dup-3", 1)]
    assert harness.loader.stats.duplicates == 2


def test_dedup_window_zero_keeps_resends(settings: WarehouseSettings, tmp_path: Path) -> None:
    h = Harness(tmp_path, dataclasses.replace(settings, dedup_window_hours=0))
    try:
        h.append(event("same"), event("same"))
        h.drain()
        assert h.scalar("select count(*) from events.tracks where id = 'same'") == 2
    finally:
        h.close()


def test_resend_outside_the_window_is_loaded_again(harness: Harness) -> None:
    harness.append(event("old", receivedAt="2026-11-20T10:00:00.000Z"))
    harness.drain()
    harness.append(event("old", receivedAt="2026-11-24T10:00:00.000Z"))
    harness.drain()
    assert harness.scalar("select count(*) from events.tracks where id = 'old'") == 2


def test_new_properties_add_columns_and_conflicts_go_to_discards(harness: Harness) -> None:
    harness.append(event("s1", properties={"size": 3}))
    harness.drain()
    harness.append(event("s2", properties={"size": "large", "colour": "red"}))
    harness.append(event("s3", properties={"size": 4.75}))
    harness.drain()
    rows = harness.query("select id, size, colour from events.order_completed order by id").rows
    # int column: a string cannot be converted (NULL + discard); a float is truncated (RudderStack).
    assert rows == [("s1", 3, None), ("s2", None, "red"), ("s3", 4, None)]
    discards = harness.query(
        "select table_name, row_id, column_name, column_value, reason from events.rudder_discards order by 1"
    ).rows
    # Properties are not columns of `tracks`, so only the per-event table has the conflict.
    assert discards == [
        ("order_completed", "s2", "size", "large", "incompatible schema conversion from int to string")
    ]


def test_unknown_type_goes_to_failed_events_and_the_rest_loads(harness: Harness) -> None:
    harness.append(event("ok-1"), {"type": "bogus", "messageId": "bad-1", "receivedAt": T0}, event("ok-2"))
    harness.drain()
    assert harness.scalar("select count(*) from events.tracks") == 2
    failed = harness.query(
        "select message_id, source_id, log_offset, reason from _headwater.failed_events"
    ).rows
    assert failed == [("bad-1", "web", 1, 'unknown event type "bogus"')]
    assert dict(harness.query("select log_partition, next_offset from _headwater.offsets").rows) == {0: 3}


def test_refused_batch_is_bisected_to_the_events_at_fault(harness: Harness) -> None:
    """Each event adds 500 new columns to one table; the engine caps a table at 1600 columns, so the
    batch is refused, split, and only the events that would cross the cap fail, in log order."""
    events = [event(f"wide-{i}", properties={f"p{i}_{k}": k for k in range(500)}) for i in range(5)]
    harness.append(*events)
    harness.drain()
    loaded = {row[0] for row in harness.query("select id from events.order_completed").rows}
    failed = dict(harness.query("select message_id, reason from _headwater.failed_events").rows)
    assert loaded | set(failed) == {f"wide-{i}" for i in range(5)}
    assert not loaded & set(failed)
    # About 20 common columns + 3 x 500 properties fit under 1600; a fourth 500 does not.
    assert loaded == {"wide-0", "wide-1", "wide-2"}
    assert all("columns" in reason for reason in failed.values())
    assert dict(harness.query("select log_partition, next_offset from _headwater.offsets").rows) == {0: 5}


def test_replay_loads_failed_events_after_the_cause_is_fixed(
    settings: WarehouseSettings, tmp_path: Path
) -> None:
    h = Harness(tmp_path, dataclasses.replace(settings, max_columns_per_event=30))
    try:
        h.append(event("wide", properties={f"k{k}": k for k in range(40)}), event("narrow"))
        h.drain()
        assert h.scalar("select count(*) from events.tracks") == 1
        (reason,) = h.query("select reason from _headwater.failed_events").rows[0]
        assert reason.startswith("too many columns")
        dry = h.loader.replay(dry_run=True)
        assert dry.selected == 1 and dry.loaded == 0
        still = h.loader.replay()
        assert still.loaded == 0 and len(still.still_failing) == 1
        h.restart(dataclasses.replace(h.settings, max_columns_per_event=1600))
        report = h.loader.replay(reason="too many columns")
        assert (report.selected, report.loaded, report.still_failing) == (1, 1, [])
        assert h.scalar("select k39 from events.order_completed where id = 'wide'") == 39
        assert h.scalar("select count(*) from _headwater.failed_events where replayed_at is null") == 0
        assert h.loader.replay().selected == 0
    finally:
        h.close()


def test_users_keep_the_latest_non_null_trait_per_user(harness: Harness) -> None:
    harness.append(
        event("i1", "identify", userId="u1", traits={"email": "a@x.io", "plan": "free"}, receivedAt=T0)
    )
    harness.drain()
    harness.append(
        event("i2", "identify", userId="u1", traits={"plan": "pro"}, receivedAt="2026-11-24T10:05:00.000Z"),
        event(
            "i3", "identify", userId="u2", traits={"email": "b@x.io"}, receivedAt="2026-11-24T10:06:00.000Z"
        ),
    )
    harness.drain()
    rows = harness.query("select id, email, plan from events.users order by id").rows
    assert rows == [("u1", "a@x.io", "pro"), ("u2", "b@x.io", None)]
    assert harness.scalar("select count(*) from events.identifies") == 3


def test_every_event_type_lands_in_its_table(harness: Harness) -> None:
    harness.append(
        event("p1", "page", name="Home", properties={"path": "/"}),
        event("sc1", "screen", name="Main"),
        event("g1", "group", groupId="acme", traits={"employees": 12}),
        event("al1", "alias", userId="new", previousId="old"),
    )
    harness.drain()
    assert harness.query("select name, path from events.pages").rows == [("Home", "/")]
    assert harness.query("select name from events.screens").rows == [("Main",)]
    assert harness.query("select group_id, employees from events.groups").rows == [("acme", 12)]
    assert harness.query("select user_id, previous_id from events.aliases").rows == [("new", "old")]


def test_thousand_properties_across_events_evolve_one_table(harness: Harness) -> None:
    harness.append(*(event(f"e{i}", properties={f"prop_{i}_{k}": k for k in range(100)}) for i in range(11)))
    harness.drain()
    columns = harness.query(
        "select count(*) from information_schema.columns "
        "where table_schema = 'events' and table_name = 'order_completed' and column_name like 'prop_%'"
    ).rows[0][0]
    assert columns == 1100
    assert harness.scalar("select prop_10_99 from events.order_completed where id = 'e10'") == 99


def test_query_output_formats() -> None:
    result = QueryResult(["id", "n", "note"], [("a", 1, None), ("b, c", 2, 'say "hi"')])
    assert (
        format_result(result, "json")
        == '[{"id":"a","n":1,"note":null},{"id":"b, c","n":2,"note":"say \\"hi\\""}]'
    )
    assert format_result(result, "csv") == 'id,n,note\na,1,\n"b, c",2,"say ""hi"""'
    table = format_result(result, "table").splitlines()
    assert table[0].split() == ["id", "n", "note"]
    assert table[2].split() == ["a", "1", "NULL"]
    assert table[-1] == "(2 rows)"


def test_restart_clears_staged_files_left_by_killed_loads(harness: Harness) -> None:
    import pyarrow as pa

    harness.append(event("z1"))
    harness.drain()
    stage = open_stage(harness.settings)
    stage.put("20260101T000000000Z-1-000001", "tracks", pa.table({"id": ["orphan"]}))
    assert stage.loads()
    harness.restart()
    assert stage.loads() == {}
    # The consumer is committed to the warehouse's offsets at start.
    assert harness.loader.consumer.committed() == {0: 1}
