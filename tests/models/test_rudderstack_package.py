"""The Headwater dbt project as a package of a user's own dbt project, on a RudderStack warehouse that
Headwater never touched.

The raw tables are created here with the DDL rudder-server's PostgreSQL destination issues
(warehouse-contract §1-§3: `text`, `bigint`, `numeric`, `boolean`, `timestamp with time zone`;
`uuid_ts` on every table; `event`/`event_text` on tracks; `context_*` columns; `users` keyed by
`id`; `rudder_discards`) in a schema named like a source namespace, `rudder_web`. Only the tables
a web source with these events would have exist: no `screens`, `aliases`, `groups`, no
`product_added`, no `_headwater` schema. The user's project installs the package with `local:`,
sets the documented vars, and adds a model of its own that `ref()`s a Headwater model. The steps
are the ones docs/models-running.md gives ("Using the project from your own dbt project").

The events, all on 2024-03-04 (day 0) and 2024-03-05 (day 1), UTC:

    a1 (Desktop)  day 0 09:00:00 page /            utm google / cpc / spring, referrer www.google.com
                  day 0 09:01:00 Product Viewed    sku-1, price 40
                  day 0 09:02:00 page /products/sku-1
                  day 0 09:03:00 identify u1       context.traits email + name (JS SDK style)
                  day 0 09:05:00 Order Completed   o-1, revenue 45.5 (user u1)
                  day 1 10:00:00 page /            no utm, no referrer (user u1)
                  day 1 10:00:30 Order Completed   o-2, revenue 20 (user u1)
    b1 (Mobile)   day 0 09:10:00 page /            utm newsletter / email / march
                  day 0 11:00:00 page /blog        referrer news.ycombinator.com
                  day 0 11:00:20 page /pricing
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import sql
from psycopg.rows import dict_row

from headwater.models.dbt import PROJECT_DIR, DbtOutcome, invoke_dbt
from tests.warehouse.engines_fixtures import fresh_postgres_dsn

pytestmark = pytest.mark.slow

NAMESPACE = "rudder_web"
USER_SCHEMA = "dbt_shop"
# `models: headwater: +schema: headwater` (the documented option) with dbt's default schema naming.
MODELS_SCHEMA = f"{USER_SCHEMA}_headwater"
DAY0 = datetime(2024, 3, 4, tzinfo=UTC)
LOADED = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)  # uuid_ts: when rudder-server's upload ran
MAC_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Safari/605.1"
)
IPHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"

# Columns rudder-server's Postgres destination gives each table (abstract type → Postgres type,
# warehouse-contract §3.2: string → text, int → bigint, float → numeric, datetime → timestamptz).
_RULES = {
    "id": "text",
    "anonymous_id": "text",
    "user_id": "text",
    "channel": "text",
    "sent_at": "timestamp with time zone",
    "timestamp": "timestamp with time zone",
    "original_timestamp": "timestamp with time zone",
    "received_at": "timestamp with time zone",
    "context_ip": "text",
    "context_request_ip": "text",
}
_CONTEXT = {
    "context_library_name": "text",
    "context_library_version": "text",
    "context_locale": "text",
    "context_user_agent": "text",
    "context_os_name": "text",
    "context_screen_width": "bigint",
    "context_screen_height": "bigint",
    "context_screen_density": "bigint",
    "context_session_id": "bigint",
    "context_session_start": "boolean",
    "context_page_path": "text",
    "context_page_referrer": "text",
    "context_page_referring_domain": "text",
    "context_page_search": "text",
    "context_page_tab_url": "text",
    "context_page_title": "text",
    "context_page_url": "text",
    "context_campaign_source": "text",
    "context_campaign_medium": "text",
    "context_campaign_name": "text",
    "context_source_id": "text",
    "context_source_type": "text",
    "context_destination_id": "text",
    "context_destination_type": "text",
}
_UUID_TS = {"uuid_ts": "timestamp with time zone"}
_TRACK = {**_RULES, **_CONTEXT, "event": "text", "event_text": "text", **_UUID_TS}
TABLES: dict[str, dict[str, str]] = {
    "pages": {
        **_RULES,
        **_CONTEXT,
        "name": "text",
        "path": "text",
        "referrer": "text",
        "referring_domain": "text",
        "search": "text",
        "tab_url": "text",
        "title": "text",
        "url": "text",
        "initial_referrer": "text",
        "initial_referring_domain": "text",
        **_UUID_TS,
    },
    "tracks": _TRACK,
    "product_viewed": {**_TRACK, "product_id": "text", "sku": "text", "price": "numeric"},
    "order_completed": {
        **_TRACK,
        "order_id": "text",
        "revenue": "numeric",
        "currency": "text",
        "products": "text",  # an array property: one column holding the JSON text
    },
    "identifies": {
        **_RULES,
        **_CONTEXT,
        "context_traits_email": "text",
        "context_traits_name": "text",
        **_UUID_TS,
    },
    # users: the identifies columns without user_id, `id` = the user id (contract §1.5).
    "users": {
        **{k: v for k, v in _RULES.items() if k != "user_id"},
        **_CONTEXT,
        "context_traits_email": "text",
        "context_traits_name": "text",
        **_UUID_TS,
    },
    "rudder_discards": {
        "table_name": "text",
        "row_id": "text",
        "column_name": "text",
        "column_value": "text",
        "received_at": "timestamp with time zone",
        "uuid_ts": "timestamp with time zone",
        "reason": "text",
    },
}


def t(clock: str, day: int = 0) -> datetime:
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    return DAY0 + timedelta(days=day, hours=hours, minutes=minutes, seconds=seconds)


@dataclass(frozen=True)
class Visit:
    """What the JS SDK puts in every event's context during one page load."""

    anonymous_id: str
    user_agent: str
    session_id: int
    url: str
    path: str
    referrer: str
    campaign: tuple[str, str, str] | None = None  # source, medium, name


def _context(visit: Visit) -> dict[str, Any]:
    row: dict[str, Any] = {
        "anonymous_id": visit.anonymous_id,
        "channel": "web",
        "context_ip": "203.0.113.7",
        "context_request_ip": "203.0.113.7",
        "context_library_name": "RudderLabs JavaScript SDK",
        "context_library_version": "3.7.0",
        "context_locale": "en-GB",
        "context_user_agent": visit.user_agent,
        "context_screen_width": 1440 if visit.user_agent == MAC_UA else 390,
        "context_screen_height": 900 if visit.user_agent == MAC_UA else 844,
        "context_screen_density": 2,
        "context_session_id": visit.session_id,
        "context_page_path": visit.path,
        "context_page_referrer": visit.referrer,
        "context_page_title": visit.path,
        "context_page_url": visit.url,
        "context_source_id": "2aSrcWeb",
        "context_source_type": "Javascript",
        "context_destination_id": "2aDestPg",
        "context_destination_type": "POSTGRES",
    }
    if visit.campaign:
        source, medium, name = visit.campaign
        row.update(context_campaign_source=source, context_campaign_medium=medium, context_campaign_name=name)
    return row


def _times(at: datetime) -> dict[str, Any]:
    return {"timestamp": at, "original_timestamp": at, "sent_at": at, "received_at": at, "uuid_ts": LOADED}


def page_row(message_id: str, at: datetime, visit: Visit, user_id: str | None = None) -> dict[str, Any]:
    return {
        **_context(visit),
        **_times(at),
        "id": message_id,
        "user_id": user_id,
        "path": visit.path,
        "url": visit.url,
        "title": visit.path,
        "referrer": visit.referrer,
        "tab_url": visit.url,
        "initial_referrer": visit.referrer,
    }


def track_rows(
    message_id: str,
    at: datetime,
    visit: Visit,
    event_text: str,
    properties: dict[str, Any],
    user_id: str | None,
) -> dict[str, dict[str, Any]]:
    """The `tracks` row and the per-event table row of one track call."""
    event = event_text.lower().replace(" ", "_")
    common = {**_context(visit), **_times(at), "id": message_id, "user_id": user_id}
    common.update(event=event, event_text=event_text)
    return {"tracks": common, event: {**common, **properties}}


GOOGLE = Visit(
    "a1",
    MAC_UA,
    1709542800000,
    "https://shop.example.com/?utm_source=google&utm_medium=cpc&utm_campaign=spring",
    "/",
    "https://www.google.com/",
    ("google", "cpc", "spring"),
)
GOOGLE_PRODUCT = Visit(
    "a1", MAC_UA, 1709542800000, "https://shop.example.com/products/sku-1", "/products/sku-1",
    GOOGLE.url, ("google", "cpc", "spring"),
)  # fmt: skip
RETURN = Visit("a1", MAC_UA, 1709629200000, "https://shop.example.com/", "/", "$direct")
NEWSLETTER = Visit(
    "b1",
    IPHONE_UA,
    1709543400000,
    "https://shop.example.com/?utm_source=newsletter&utm_medium=email&utm_campaign=march",
    "/",
    "$direct",
    ("newsletter", "email", "march"),
)
HN_BLOG = Visit(
    "b1", IPHONE_UA, 1709550000000, "https://shop.example.com/blog", "/blog",
    "https://news.ycombinator.com/item?id=1",
)  # fmt: skip
HN_PRICING = Visit(
    "b1", IPHONE_UA, 1709550000000, "https://shop.example.com/pricing", "/pricing",
    "https://shop.example.com/blog",
)  # fmt: skip


def raw_rows() -> list[tuple[str, dict[str, Any]]]:
    rows: list[tuple[str, dict[str, Any]]] = [("pages", page_row("p1", t("09:00:00"), GOOGLE))]
    viewed = track_rows(
        "t1",
        t("09:01:00"),
        GOOGLE,
        "Product Viewed",
        {"product_id": "sku-1", "sku": "sku-1", "price": 40},
        None,
    )
    rows += viewed.items()
    rows.append(("pages", page_row("p2", t("09:02:00"), GOOGLE_PRODUCT)))
    identify = {**_context(GOOGLE_PRODUCT), **_times(t("09:03:00")), "id": "i1", "user_id": "u1"}
    identify.update(context_traits_email="alice@example.com", context_traits_name="Alice")
    rows.append(("identifies", identify))
    rows.append(("users", {**{k: v for k, v in identify.items() if k != "user_id"}, "id": "u1"}))
    order = {"order_id": "o-1", "revenue": 45.5, "currency": "EUR", "products": '[{"sku": "sku-1"}]'}
    rows += track_rows("t2", t("09:05:00"), GOOGLE_PRODUCT, "Order Completed", order, "u1").items()
    rows.append(("pages", page_row("p3", t("10:00:00", day=1), RETURN, user_id="u1")))
    order = {"order_id": "o-2", "revenue": 20, "currency": "EUR", "products": '[{"sku": "sku-2"}]'}
    rows += track_rows("t3", t("10:00:30", day=1), RETURN, "Order Completed", order, "u1").items()
    rows.append(("pages", page_row("p4", t("09:10:00"), NEWSLETTER)))
    rows.append(("pages", page_row("p5", t("11:00:00"), HN_BLOG)))
    rows.append(("pages", page_row("p6", t("11:00:20"), HN_PRICING)))
    return rows


def create_rudderstack_warehouse(dsn: str) -> None:
    """The namespace and tables as rudder-server's Postgres destination creates and loads them."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(NAMESPACE)))
        for table, columns in TABLES.items():
            conn.execute(
                sql.SQL("CREATE TABLE IF NOT EXISTS {}.{} ({})").format(
                    sql.Identifier(NAMESPACE),
                    sql.Identifier(table),
                    sql.SQL(", ").join(
                        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind))
                        for name, kind in columns.items()
                    ),
                )
            )
        for table, row in raw_rows():
            unknown = set(row) - set(TABLES[table])
            assert not unknown, f"{table} has no columns {unknown}"
            present = {name: value for name, value in row.items() if value is not None}
            conn.execute(
                sql.SQL("INSERT INTO {}.{} ({}) VALUES ({})").format(
                    sql.Identifier(NAMESPACE),
                    sql.Identifier(table),
                    sql.SQL(", ").join(map(sql.Identifier, present)),
                    sql.SQL(", ").join(sql.Placeholder() * len(present)),
                ),
                list(present.values()),
            )


def write_user_project(root: Path, dsn: str) -> None:
    """A user's dbt project: the package, the documented vars and schema option, and a model of its own."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text(
        yaml.safe_dump(
            {
                "name": "shop_analytics",
                "version": "1.0.0",
                "config-version": 2,
                "profile": "shop",
                "model-paths": ["models"],
                "vars": {
                    "headwater": {
                        "headwater_source_schema": NAMESPACE,
                        "headwater_conversion_events": ["Order Completed"],
                        "headwater_as_of": "2024-03-05",  # profiles as of day 1 (the test's fixed "today")
                    }
                },
                "models": {"headwater": {"+schema": "headwater"}},
            }
        )
    )
    (root / "packages.yml").write_text(yaml.safe_dump({"packages": [{"local": str(PROJECT_DIR)}]}))
    (root / "models" / "sessions_per_channel.sql").write_text(
        "select channel, count(*) as sessions, coalesce(sum(revenue), 0) as revenue\n"
        "from {{ ref('headwater', 'sessions') }}\n"
        "group by channel\n"
    )
    profiles = {
        "shop": {
            "target": "dev",
            "outputs": {
                "dev": {
                    "type": "postgres",
                    "host": str(info.get("host", "127.0.0.1")),
                    "port": int(str(info.get("port", 5432))),
                    "user": str(info.get("user", "postgres")),
                    "pass": str(info.get("password", "")),
                    "dbname": str(info["dbname"]),
                    "schema": USER_SCHEMA,
                    "threads": 1,
                }
            },
        }
    }
    (root / "profiles.yml").write_text(yaml.safe_dump(profiles))


def install_packages(project: Path) -> None:
    """`dbt deps` for the user's project: copies the local package into dbt_packages/."""
    outcome = invoke_dbt(["deps"], profiles_dir=project, work_dir=project, project_dir=project)
    assert outcome.success, f"dbt deps failed: {outcome.error}"
    assert (project / "dbt_packages" / "headwater" / "dbt_project.yml").exists()


@dataclass
class Built:
    dsn: str
    outcomes: dict[str, DbtOutcome]

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with psycopg.connect(self.dsn, row_factory=dict_row) as conn:
            return conn.execute(statement, params).fetchall()  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    root = tmp_path_factory.mktemp("user-dbt-project")
    project = root / "shop_analytics"
    with fresh_postgres_dsn() as dsn:
        create_rudderstack_warehouse(dsn)
        write_user_project(project, dsn)
        install_packages(project)
        outcomes: dict[str, DbtOutcome] = {}
        for name, command in (
            ("seed", ["seed", "--select", "package:headwater"]),
            ("build", ["build"]),
        ):
            outcome = invoke_dbt(command, profiles_dir=project, work_dir=root / "work", project_dir=project)
            assert outcome.success, f"dbt {name} failed: {outcome.error}"
            outcomes[name] = outcome
        yield Built(dsn, outcomes)


def test_build_ran_every_headwater_model_and_the_users_own(built: Built) -> None:
    nodes = built.outcomes["build"].nodes
    models = {node.name for node in nodes if node.resource_type == "model"}
    assert {"stg_events", "identity_map", "sessions", "daily_traffic", "attribution_credits"} <= models
    assert {"user_profiles", "sessions_per_channel"} <= models
    assert all(node.status in {"success", "pass"} for node in nodes), [
        (node.name, node.status, node.message) for node in nodes if node.status not in {"success", "pass"}
    ]
    assert any(node.resource_type == "test" for node in nodes)
    # The models went where the documented +schema option puts them; nothing was written to the
    # raw namespace, and no Headwater bookkeeping schema appeared.
    schemas = {
        row["table_schema"]: row["n"]
        for row in built.rows(
            "select table_schema, count(*) as n from information_schema.tables "
            "where table_schema not in ('pg_catalog', 'information_schema') group by table_schema"
        )
    }
    assert schemas[NAMESPACE] == len(TABLES)
    assert "_headwater" not in schemas and MODELS_SCHEMA in schemas


def test_stg_events_reads_the_rudderstack_tables(built: Built) -> None:
    rows = built.rows(f"select * from {MODELS_SCHEMA}.stg_events order by ts")
    # 6 pages + 3 tracks + 1 identify; the per-event tables only add revenue to the tracks.
    assert [r["message_id"] for r in rows] == ["p1", "t1", "p2", "i1", "t2", "p4", "p5", "p6", "p3", "t3"]
    by_id = {r["message_id"]: r for r in rows}
    assert by_id["t1"]["event_name"] == "Product Viewed" and by_id["t1"]["event_table"] == "product_viewed"
    assert (
        by_id["t2"]["is_conversion"] and by_id["t2"]["revenue"] == 45.5 and by_id["t2"]["order_id"] == "o-1"
    )
    assert by_id["t3"]["revenue"] == 20.0 and by_id["t3"]["currency"] == "EUR"
    assert by_id["p1"]["client_session_id"] == "1709542800000"  # bigint column read as text
    assert by_id["p1"]["loaded_at"] == LOADED
    assert (by_id["p1"]["utm_source"], by_id["p1"]["utm_medium"], by_id["p1"]["utm_campaign"]) == (
        "google",
        "cpc",
        "spring",
    )
    assert by_id["p3"]["referrer"] is None  # `$direct` is no referrer
    assert by_id["p5"]["referrer_host"] == "news.ycombinator.com"
    assert (by_id["p1"]["device_category"], by_id["p4"]["device_category"]) == ("Desktop", "Mobile")
    assert by_id["i1"]["event_type"] == "identify" and by_id["i1"]["user_id"] == "u1"


def test_identity_map(built: Built) -> None:
    rows = built.rows(f"select * from {MODELS_SCHEMA}.identity_map order by alias_type, alias")
    # a1 was seen with u1 (identify, orders, day-1 page): person u1. b1 never logged in: its own person.
    # u1 first appears on the identify (day 0 09:03) and last on the day-1 order (10:00:30).
    assert [(r["alias"], r["alias_type"], r["person_id"]) for r in rows] == [
        ("a1", "anonymous_id", "u1"),
        ("b1", "anonymous_id", "b1"),
        ("u1", "user_id", "u1"),
    ]
    u1 = rows[2]
    assert (u1["first_seen_at"], u1["last_seen_at"]) == (t("09:03:00"), t("10:00:30", day=1))
    assert (rows[0]["first_seen_at"], rows[0]["last_seen_at"]) == (t("09:00:00"), t("10:00:30", day=1))


def test_sessions(built: Built) -> None:
    rows = built.rows(f"select * from {MODELS_SCHEMA}.sessions order by session_start")
    summary = [
        (
            r["person_id"],
            r["session_start"],
            r["duration_s"],
            r["n_events"],
            r["n_page_views"],
            r["source"],
            r["medium"],
            r["channel"],
            r["session_number"],
            r["is_bounce"],
            r["n_conversions"],
            r["revenue"],
        )
        for r in rows
    ]
    assert summary == [
        # a1 day 0: p1 09:00 .. t2 09:05 = 300 s, 5 events (p1, t1, p2, i1, t2), 2 page views; google/cpc.
        ("u1", t("09:00:00"), 300.0, 5, 2, "google", "cpc", "Paid Search", 1, False, 1, 45.5),
        # b1: one page at 09:10, 0 s, not engaged → bounce; newsletter/email → Email. No conversion:
        # revenue is NULL (a sum over no conversions).
        ("b1", t("09:10:00"), 0.0, 1, 1, "newsletter", "email", "Email", 1, True, 0, None),
        # b1 again 110 min later (> 30 min gap): /blog then /pricing, 20 s, from news.ycombinator.com.
        ("b1", t("11:00:00"), 20.0, 2, 2, "news.ycombinator.com", "referral", "Referral", 2, False, 0, None),
        # a1 day 1: p3 10:00:00 .. t3 10:00:30 = 30 s; no utm, `$direct` referrer → Direct.
        ("u1", t("10:00:00", day=1), 30.0, 2, 1, "(direct)", "(none)", "Direct", 2, False, 1, 20.0),
    ]
    assert [r["landing_path"] for r in rows] == ["/", "/", "/blog", "/"]
    assert [r["exit_path"] for r in rows] == ["/products/sku-1", "/", "/pricing", "/"]
    assert [r["device_category"] for r in rows] == ["Desktop", "Mobile", "Mobile", "Desktop"]
    assert not any(r["is_server_only"] for r in rows)


def test_daily_traffic(built: Built) -> None:
    rows = built.rows(f"select * from {MODELS_SCHEMA}.daily_traffic order by date, channel")
    got = [
        (
            r["date"],
            r["channel"],
            r["source_medium"],
            r["referrer_host"],
            r["device_category"],
            r["sessions"],
            r["bounced_sessions"],
            r["bounce_rate"],
            r["total_duration_s"],
            r["page_views"],
            r["users"],
        )
        for r in rows
    ]
    day0, day1 = date(2024, 3, 4), date(2024, 3, 5)
    assert got == [
        (day0, "Email", "newsletter / email", None, "Mobile", 1, 1, 1.0, 0.0, 1, 1),
        (day0, "Paid Search", "google / cpc", "google.com", "Desktop", 1, 0, 0.0, 300.0, 2, 1),
        (
            day0,
            "Referral",
            "news.ycombinator.com / referral",
            "news.ycombinator.com",
            "Mobile",
            1,
            0,
            0.0,
            20.0,
            2,
            1,
        ),
        (day1, "Direct", "(direct) / (none)", None, "Desktop", 1, 0, 0.0, 30.0, 1, 1),
    ]
    # Day 0 over all rows: 3 sessions, 1 bounced → 1/3.
    day0_rows = [r for r in rows if r["date"] == day0]
    assert sum(r["bounced_sessions"] for r in day0_rows) / sum(r["sessions"] for r in day0_rows) == 1 / 3


def test_conversions(built: Built) -> None:
    rows = built.rows(f"select * from {MODELS_SCHEMA}.conversions order by ts")
    sessions = {
        r["session_start"]: r["session_id"]
        for r in built.rows(f"select session_id, session_start from {MODELS_SCHEMA}.sessions")
    }
    assert [(r["conversion_id"], r["person_id"], r["ts"], r["revenue"], r["order_id"]) for r in rows] == [
        ("t2", "u1", t("09:05:00"), 45.5, "o-1"),
        ("t3", "u1", t("10:00:30", day=1), 20.0, "o-2"),
    ]
    assert [r["session_id"] for r in rows] == [sessions[t("09:00:00")], sessions[t("10:00:00", day=1)]]
    assert all(r["event_name"] == "Order Completed" for r in rows)


def test_attribution_credits(built: Built) -> None:
    rows = built.rows(
        f"select * from {MODELS_SCHEMA}.attribution_credits order by conversion_id, model, touch_ts"
    )
    credits: dict[tuple[str, str], list[tuple[str, float, float]]] = {}
    for r in rows:
        credits.setdefault((r["conversion_id"], r["model"]), []).append(
            (r["channel"], r["credit"], r["revenue_credit"])
        )
    models = ["first_touch", "last_touch", "last_non_direct", "linear", "position_based", "time_decay"]
    # o-1 (t2): the only touch in the 30 days before it is its own Paid Search session: 1 in every model.
    for model in models:
        assert credits[("t2", model)] == [("Paid Search", 1.0, 45.5)], model
    # o-2 (t3, revenue 20): touches Paid Search (day 0 09:00) then Direct (day 1 10:00), n = 2.
    assert credits[("t3", "first_touch")] == [("Paid Search", 1.0, 20.0)]
    assert credits[("t3", "last_touch")] == [("Direct", 1.0, 20.0)]
    assert credits[("t3", "last_non_direct")] == [("Paid Search", 1.0, 20.0)]
    assert credits[("t3", "linear")] == [("Paid Search", 0.5, 10.0), ("Direct", 0.5, 10.0)]
    assert credits[("t3", "position_based")] == [("Paid Search", 0.5, 10.0), ("Direct", 0.5, 10.0)]
    # Time decay, half-life 7 days: Δ = 25 h 0 min 30 s = 90030 s and 30 s before the conversion.
    w_paid, w_direct = 2 ** (-90030 / 86400 / 7), 2 ** (-30 / 86400 / 7)
    decay = credits[("t3", "time_decay")]
    assert [channel for channel, _, _ in decay] == ["Paid Search", "Direct"]
    assert math.isclose(decay[0][1], w_paid / (w_paid + w_direct), rel_tol=1e-9)  # ≈ 0.4745
    assert math.isclose(decay[1][2], 20 * w_direct / (w_paid + w_direct), rel_tol=1e-9)  # ≈ 10.51
    assert {r["campaign"] for r in rows if r["channel"] == "Paid Search"} == {"spring"}


def test_user_profiles(built: Built) -> None:
    rows = {r["person_id"]: r for r in built.rows(f"select * from {MODELS_SCHEMA}.user_profiles")}
    assert set(rows) == {"u1", "b1"}
    u1, b1 = rows["u1"], rows["b1"]
    # u1 as of 2024-03-05: 2 sessions; events p1 t1 p2 t2 p3 t3 = 6 (the identify is not activity);
    # 3 page views; 2 active days; orders 45.5 + 20 = 65.5, AOV 32.75; acquired by google / cpc.
    assert (u1["user_id"], u1["email"], u1["name"], u1["n_anonymous_ids"]) == (
        "u1",
        "alice@example.com",
        "Alice",
        1,
    )
    assert (u1["sessions"], u1["events"], u1["page_views"], u1["active_days"]) == (2, 6, 3, 2)
    assert (u1["orders"], u1["revenue"], u1["avg_order_value"]) == (2, 65.5, 32.75)
    assert (u1["first_seen_at"], u1["last_seen_at"]) == (t("09:00:00"), t("10:00:30", day=1))
    assert (u1["days_since_first_seen"], u1["days_since_last_seen"], u1["days_since_last_order"]) == (1, 0, 0)
    assert (u1["first_channel"], u1["first_source"], u1["first_medium"], u1["first_campaign"]) == (
        "Paid Search",
        "google",
        "cpc",
        "spring",
    )
    assert (u1["first_landing_path"], u1["last_channel"], u1["lifecycle_state"]) == ("/", "Direct", "new")
    # One customer: ntile(5) puts it in tile 1 for R, F and M.
    assert (u1["r_score"], u1["f_score"], u1["m_score"]) == (1, 1, 1)
    # b1: anonymous, 2 sessions, 3 page views on one day, no orders; first Email, last Referral.
    assert (b1["user_id"], b1["email"], b1["n_anonymous_ids"]) == (None, None, 1)
    assert (b1["sessions"], b1["events"], b1["page_views"], b1["active_days"]) == (2, 3, 3, 1)
    assert (b1["orders"], b1["revenue"], b1["avg_order_value"], b1["r_score"]) == (0, 0.0, None, None)
    assert (b1["first_channel"], b1["last_channel"], b1["days_since_last_seen"]) == ("Email", "Referral", 1)


def test_the_users_own_model_extends_the_package(built: Built) -> None:
    rows = built.rows(f"select * from {USER_SCHEMA}.sessions_per_channel order by channel")
    assert [(r["channel"], r["sessions"], float(r["revenue"])) for r in rows] == [
        ("Direct", 1, 20.0),
        ("Email", 1, 0.0),
        ("Paid Search", 1, 45.5),
        ("Referral", 1, 0.0),
    ]
