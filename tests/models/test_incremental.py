"""Incremental runs give the same tables as a full rebuild, every layer (random event streams, DuckDB).

Hypothesis draws a stream of events over a few devices and users, spreads it over 2-3 loads
(later loads hold late events with old timestamps, resent duplicates, new identifies and alias
calls that re-stitch earlier rows, and events continuing sessions begun in an earlier load), and
runs `dbt build` after each load. The tables are then snapshotted, rebuilt with --full-refresh,
and compared row by row (bookkeeping columns aside).
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.models.harness import ModelWarehouse, model_warehouse
from tests.models.raw import RawEvent, at, page, track

pytestmark = pytest.mark.slow

CORE = "path:seeds path:models/staging path:models/identity path:models/sessions"
TABLES = ["stg_events", "identity_map", "events_sessionized", "sessions", "page_views", "session_paths"]
# The summary, attribution and profile layers, compared by the random-stream test too.
MARTS = [
    "device_days",
    "person_days",
    "daily_traffic",
    "active_users",
    "active_users_by_channel",
    "daily_conversions",
    "conversions",
    "touchpoints",
    "attribution_touches",
    "attribution_credits",
    "attribution_paths",
    "user_profiles",
    "user_features_daily",
]
# Profiles are as of a date; pinned, an incremental run and a rebuild describe the same day.
AS_OF = {"headwater_as_of": "2030-01-02"}
BOOKKEEPING = {"processed_at", "updated_at"}
DEVICES = ["A0", "A1", "A2", "A3"]
USERS = ["U0", "U1", "U2"]
FIRST_LOAD = datetime(2030, 1, 1, tzinfo=UTC)


@st.composite
def event_streams(draw: st.DrawFn) -> list[tuple[int, RawEvent]]:
    """(load round, event) pairs; times in minutes on one day, so gaps straddle the 30-minute rule."""
    count = draw(st.integers(min_value=3, max_value=25))
    rounds = draw(st.integers(min_value=2, max_value=3))
    stream: list[tuple[int, RawEvent]] = []
    for number in range(count):
        kind = draw(
            st.sampled_from(["page", "page", "track", "identify", "alias", "order", "screen", "server"])
        )
        device = draw(st.sampled_from(DEVICES))
        user = draw(st.one_of(st.none(), st.sampled_from(USERS)))
        minute = draw(st.integers(min_value=0, max_value=240))
        second = draw(st.sampled_from([0, 0, 1, 59]))
        when = at("08:00") + timedelta(minutes=minute, seconds=second)
        load = draw(st.integers(min_value=0, max_value=rounds - 1))
        mid = f"e{number}"
        event: RawEvent
        if kind == "page":
            source = draw(st.sampled_from([None, ("google", "cpc"), ("newsletter", "email")]))
            context: dict[str, Any] = (
                {"campaign": {"source": source[0], "medium": source[1]}} if source else {}
            )
            session = draw(st.one_of(st.none(), st.sampled_from([1, 2])))
            event = page(
                mid,
                when,
                device,
                draw(st.sampled_from(["/", "/a", "/b"])),
                user_id=user,
                referrer=draw(
                    st.sampled_from([None, "https://www.bing.com/", "https://news.ycombinator.com/"])
                ),
                session_id=session,
                context=context,
            )
        elif kind == "screen":
            event = RawEvent("screen", mid, when, anonymous_id=device, user_id=user, name="Home")
        elif kind == "track":
            event = track(mid, when, device, "Clicked", user_id=user)
        elif kind == "order":
            event = track(mid, when, device, "Order Completed", user_id=user, properties={"revenue": 10.0})
        elif kind == "server":
            event = track(mid, when, None, "Server Side", user_id=user or "U0")
        elif kind == "identify":
            event = RawEvent("identify", mid, when, anonymous_id=device, user_id=user or "U1")
        else:
            previous = draw(st.sampled_from(USERS))
            event = RawEvent(
                "alias", mid, when, anonymous_id=device, user_id=user or "U2", previous_id=previous
            )
        stream.append((load, event))
        if draw(st.integers(min_value=0, max_value=9)) == 0 and load < rounds - 1:
            # the same message resent later: loaded in a later round, received later; must be dropped
            resent = RawEvent(
                event.type,
                event.message_id,
                event.timestamp,
                anonymous_id=event.anonymous_id,
                user_id=event.user_id,
                event=event.event,
                properties=event.properties,
                context=event.context,
                previous_id=event.previous_id,
                received_at=event.timestamp + timedelta(hours=1),
            )
            stream.append((rounds - 1, resent))
    return stream


def snapshot(warehouse: ModelWarehouse, tables_: list[str] = TABLES) -> dict[str, list[tuple[Any, ...]]]:
    tables = {}
    for table in tables_:
        rows = warehouse.rows(table)
        tables[table] = sorted(
            (tuple((key, row[key]) for key in sorted(row) if key not in BOOKKEEPING) for row in rows),
            key=repr,
        )
    return tables


def load_rounds(warehouse: ModelWarehouse, stream: list[tuple[int, RawEvent]], select: str = CORE) -> None:
    """Each round is one load (uuid_ts 10 minutes apart), then an incremental build without data tests.

    The data tests are exercised by the full rebuild that follows and by the
    hand-computed tests, and skipping them here halves the cost of an example.
    """
    for load in sorted({load for load, _event in stream}):
        events = [event for round_, event in stream if round_ == load]
        warehouse.load(events, loaded_at=FIRST_LOAD + timedelta(minutes=10 * load))
        command = ["build", "--exclude-resource-type", "test"] + (["--select", select] if select else [])
        outcome = warehouse.dbt(command, AS_OF)
        assert outcome.success, outcome.error


def assert_same(incremental: dict[str, list[Any]], rebuilt: dict[str, list[Any]]) -> None:
    for table in incremental:
        assert incremental[table] == rebuilt[table], table


# No shrinking: each example costs seconds of dbt, and a failing stream is printed whole anyway.
@settings(
    max_examples=5,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(stream=event_streams())
def test_incremental_runs_equal_a_full_rebuild(stream: list[tuple[int, RawEvent]]) -> None:
    incremental_equals_rebuild("duckdb", stream)


# PostgreSQL runs the same SQL through other macros (delete+insert, watermarks, timestamps); fewer
# examples, since each costs a fresh database as well.
@settings(
    max_examples=2,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(stream=event_streams())
def test_incremental_runs_equal_a_full_rebuild_on_postgres(stream: list[tuple[int, RawEvent]]) -> None:
    incremental_equals_rebuild("postgres", stream)


def incremental_equals_rebuild(kind: str, stream: list[tuple[int, RawEvent]]) -> None:
    everything = TABLES + MARTS
    with tempfile.TemporaryDirectory() as folder, model_warehouse(kind, Path(folder)) as warehouse:
        load_rounds(warehouse, stream, select="")
        incremental = snapshot(warehouse, everything)
        warehouse.build(full_refresh=True, variables=AS_OF)
        assert_same(incremental, snapshot(warehouse, everything))


@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_late_events_identity_changes_and_backfill(kind: str, tmp_path: Path) -> None:
    """A fixed stream with each case once, then a backfill run that changes nothing but bookkeeping.

    On both engines: the incremental models' SQL (delete+insert, watermarks, backfill ranges)
    differs between them."""
    first = [
        page("x1", at("09:00"), "A1", "/"),
        page("x2", at("09:40"), "A1", "/b"),  # 40 min after x1: its own session
        page("x3", at("09:00"), "A2", "/"),
        track("x4", at("09:05"), "A3", "Clicked", user_id="UB"),
    ]
    second = [
        page("y1", at("09:20"), "A1", "/late"),  # late: joins x1 and x2 into one session (gaps 20, 20 min)
        track("y2", at("10:00"), "A2", "Signed In", user_id="UA"),  # A2 now belongs to UA
        RawEvent("alias", "y3", at("10:01"), anonymous_id="A2", user_id="UA", previous_id="UB"),  # UB -> UA
        page("y4", at("09:50"), "A2", "/x"),  # continues A2's session? 50 min after 09:00: new session
    ]
    with model_warehouse(kind, tmp_path) as warehouse:
        warehouse.load(first, loaded_at=FIRST_LOAD)
        warehouse.build(select=CORE)
        before = warehouse.rows("sessions", where="device_id = 'A1'", order_by="session_start")
        assert [s["n_events"] for s in before] == [1, 1]  # 09:00 and 09:40: 40 min apart, two sessions
        warehouse.load(second, loaded_at=FIRST_LOAD + timedelta(minutes=10))
        warehouse.build(select=CORE)

        sessions = warehouse.rows("sessions", order_by="device_id, session_start")
        a1 = [s for s in sessions if s["device_id"] == "A1"]
        assert [(s["n_events"], s["duration_s"]) for s in a1] == [(3, 2400.0)]  # 09:00 -> 09:40
        persons = {s["device_id"]: s["person_id"] for s in sessions}
        # UB was first seen 09:05 and UA at 10:00, so the merged person is UB; A2 and A3 follow it
        assert persons == {"A1": "A1", "A2": "UB", "A3": "UB"}
        # UB's sessions by start: A2 09:00, A3 09:05, A2 09:50 (y4 with y2 and y3; 50 min after 09:00)
        ub = sorted(
            (s["session_start"], s["device_id"], s["session_number"])
            for s in sessions
            if s["person_id"] == "UB"
        )
        assert [(device, number) for _start, device, number in ub] == [("A2", 1), ("A3", 2), ("A2", 3)]
        incremental = snapshot(warehouse)

        stamp_before = warehouse.query("select max(processed_at) as stamp from analytics.stg_events")[0][
            "stamp"
        ]
        warehouse.build(
            select=CORE,
            variables={"headwater_backfill_start": "2024-03-04", "headwater_backfill_end": "2024-03-05"},
        )
        restaged = warehouse.query(
            "select count(*) as n from analytics.stg_events"
            f" where processed_at > '{stamp_before.isoformat()}'"
        )[0]["n"]
        assert restaged == 8  # every raw row has a timestamp on 2024-03-04
        assert_same(incremental, snapshot(warehouse))

        warehouse.build(select=CORE, full_refresh=True)
        assert_same(incremental, snapshot(warehouse))


def test_a_person_left_without_devices_loses_its_attribution_rows(tmp_path: Path) -> None:
    """An incremental run deletes the attribution rows of a person whose only device moved away.

    A1 orders as U1, then signs in as U2: A1 now belongs to U2 (latest user id wins for a shared
    device), so U1 has no device, no session and no conversion left; the order is U2's.
    """
    first = [
        page("p1", at("09:00"), "A1", "/"),
        track("o1", at("09:05"), "A1", "Order Completed", user_id="U1", properties={"revenue": 10.0}),
        page("p2", at("11:00"), "A1", "/again"),
        page("p3", at("09:00"), "A3", "/"),
    ]
    second = [
        track("s1", at("12:00"), "A1", "Signed In", user_id="U2"),
        track("s2", at("12:00"), "A3", "Signed In", user_id="U3"),
    ]
    tables = ["conversions", "attribution_touches", "attribution_credits", "attribution_paths"]
    tables.append("user_profiles")
    with model_warehouse("duckdb", tmp_path) as warehouse:
        warehouse.load(first, loaded_at=FIRST_LOAD)
        warehouse.build(variables=AS_OF)
        assert {row["person_id"] for row in warehouse.rows("attribution_credits")} == {"U1"}
        warehouse.load(second, loaded_at=FIRST_LOAD + timedelta(minutes=10))
        warehouse.build(variables=AS_OF)
        incremental = snapshot(warehouse, tables)
        assert {row["person_id"] for row in warehouse.rows("conversions")} == {"U2"}
        assert {row["person_id"] for row in warehouse.rows("attribution_credits")} == {"U2"}
        assert {row["person_id"] for row in warehouse.rows("attribution_paths")} == {"U2", "U3"}
        warehouse.build(full_refresh=True, variables=AS_OF)
        assert_same(incremental, snapshot(warehouse, tables))


@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_a_person_left_with_server_sessions_only_loses_its_open_path(kind: str, tmp_path: Path) -> None:
    """A person whose recomputed attribution is empty, though they still have sessions, keeps no rows.

    U1 browses on A1 (a touch, so a non-converting path) and also has a server-side event. A1 then
    signs in as U2 and moves to U2; U1 keeps only the server-side session, which is no touchpoint,
    so U1 has no path any more. Replacing only the persons with new rows would leave U1's old one.
    """
    first = [
        page("p1", at("09:00"), "A1", "/", user_id="U1"),
        track("t1", at("09:30"), None, "Server Side", user_id="U1"),
    ]
    second = [track("s1", at("12:00"), "A1", "Signed In", user_id="U2")]
    tables = ["attribution_touches", "attribution_credits", "attribution_paths"]
    with model_warehouse(kind, tmp_path) as warehouse:
        warehouse.load(first, loaded_at=FIRST_LOAD)
        warehouse.build(variables=AS_OF)
        assert {row["person_id"] for row in warehouse.rows("attribution_paths")} == {"U1"}
        warehouse.load(second, loaded_at=FIRST_LOAD + timedelta(minutes=10))
        warehouse.build(variables=AS_OF)
        incremental = snapshot(warehouse, tables)
        assert {row["person_id"] for row in warehouse.rows("sessions")} == {"U1", "U2"}
        assert {row["person_id"] for row in warehouse.rows("attribution_paths")} == {"U2"}
        warehouse.build(full_refresh=True, variables=AS_OF)
        assert_same(incremental, snapshot(warehouse, tables))
