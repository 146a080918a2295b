"""Summary tables (daily_traffic, active_users, active_users_by_channel, daily_conversions) against
hand-computed values, and the incremental models against a full rebuild.

Day n is 2024-03-04 + n days (tests.models.raw.at). One build for the module's summary tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.models.harness import ModelWarehouse, model_warehouse
from tests.models.raw import RawEvent, at, page, track

pytestmark = pytest.mark.slow

DAY0 = date(2024, 3, 4)


def day(n: int) -> date:
    return DAY0 + timedelta(days=n)


def order(message_id: str, when: datetime, anonymous_id: str, revenue: float) -> RawEvent:
    return track(message_id, when, anonymous_id, "Order Completed", properties={"revenue": revenue})


EVENTS = [
    # A (models-contract S-1): day 0 sessions of 2399 s (3 views), 1800 s (2 views), 0 s (1 view, bounce)
    page("a1", at("09:00"), "A", "/"),
    page("a2", at("09:10"), "A", "/p/1"),
    page("a3", at("09:39:59"), "A", "/p/2"),
    page("a4", at("10:10"), "A", "/cart"),
    page("a5", at("10:40"), "A", "/checkout"),
    page("a6", at("12:00"), "A", "/"),
    page("a7", at("12:00", day=2), "A", "/"),
    page("a8", at("12:00", day=10), "A", "/"),
    # B: Paid Search (campaign spring) landing and an order 5 s later: engaged by the conversion
    page("b1", at("10:00"), "B", "/", query="utm_source=google&utm_medium=cpc&utm_campaign=spring"),
    order("b2", at("10:00:05"), "B", 25.0),
    # C: direct page + order 2 min later (120 s), then a lone order at 15:00 (0 s, no page view)
    page("c1", at("11:00"), "C", "/"),
    order("c2", at("11:02"), "C", 10.0),
    order("c3", at("15:00"), "C", 5.0),
    page("c4", at("12:00", day=6), "C", "/"),
    # D: active on day 7 only
    page("d1", at("12:00", day=7), "D", "/"),
    # E: server-side only (no anonymous_id): not traffic, but an active person
    track("e1", at("13:00"), None, "Subscription Renewed", user_id="E"),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelWarehouse]:
    with model_warehouse("duckdb", tmp_path_factory.mktemp("marts")) as warehouse:
        warehouse.load(EVENTS)
        warehouse.build()
        yield warehouse


def _traffic(warehouse: ModelWarehouse, on: date, channel: str) -> dict[str, Any]:
    rows = warehouse.query(
        "select sum(sessions) as sessions, sum(engaged_sessions) as engaged, "
        "sum(bounced_sessions) as bounced, "
        "sum(total_duration_s) as duration, sum(page_views) as page_views, count(*) as n_rows, "
        "max(bounce_rate) as bounce_rate, max(avg_session_duration_s) as avg_duration, max(users) as users "
        f"from analytics.daily_traffic where date = date '{on.isoformat()}' and channel = '{channel}'"
    )
    return rows[0]


def test_daily_traffic_direct_day0(built: ModelWarehouse) -> None:
    direct = _traffic(built, day(0), "Direct")
    assert direct["n_rows"] == 1  # same source/medium, no referrer, same device category
    # A: 2399 s, 1800 s, 0 s; C: 120 s and 0 s. Engaged: A1, A2 (≥ 2 views), C1, C2 (conversion);
    # bounced: A3 → bounce rate 1/5 = 0.2 (a float, not 0 by integer division)
    assert (direct["sessions"], direct["engaged"], direct["bounced"]) == (5, 4, 1)
    assert isinstance(direct["bounce_rate"], float)
    assert direct["bounce_rate"] == pytest.approx(0.2)
    assert direct["duration"] == pytest.approx(2399 + 1800 + 0 + 120 + 0)
    assert direct["avg_duration"] == pytest.approx(4319 / 5)  # 863.8 s
    assert direct["page_views"] == 3 + 2 + 1 + 1 + 0
    assert direct["users"] == 2  # A and C


def test_daily_traffic_paid_search_and_exclusions(built: ModelWarehouse) -> None:
    paid = _traffic(built, day(0), "Paid Search")
    assert (paid["sessions"], paid["engaged"], paid["bounced"], paid["page_views"], paid["users"]) == (
        1,
        1,
        0,
        1,
        1,
    )
    assert paid["bounce_rate"] == 0.0
    assert paid["avg_duration"] == pytest.approx(5.0)
    row = built.query("select source_medium from analytics.daily_traffic where channel = 'Paid Search'")
    assert row == [{"source_medium": "google / cpc"}]
    # E's server-side session is not traffic: day 0 has A's 3, B's 1 and C's 2 sessions only
    total = built.query(
        f"select sum(sessions) as n from analytics.daily_traffic where date = date '{day(0)}'"
    )
    assert total[0]["n"] == 6
    # a bounced single page on day 2 (A)
    assert _traffic(built, day(2), "Direct")["bounce_rate"] == pytest.approx(1.0)


def test_active_users(built: ModelWarehouse) -> None:
    rows = {row["date"]: row for row in built.rows("active_users", order_by="date")}
    assert sorted(rows) == [day(n) for n in range(11)]  # every day from the first to the last activity
    # active days: A 0, 2, 10; B 0; C 0, 6; D 7; E 0
    dau = [rows[day(n)]["dau"] for n in range(11)]
    assert dau == [4, 0, 1, 0, 0, 0, 1, 1, 0, 0, 1]
    # WAU = distinct persons active in days n-6..n: day 7 → days 1..7: A (2), C (6), D (7);
    # day 9 → days 3..9: C, D; day 10 → days 4..10: C, D, A
    wau = [rows[day(n)]["wau"] for n in range(11)]
    assert wau == [4, 4, 4, 4, 4, 4, 4, 3, 3, 2, 3]
    # MAU: everyone active on day 0 stays for 30 days; D joins on day 7
    mau = [rows[day(n)]["mau"] for n in range(11)]
    assert mau == [4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5]
    assert rows[day(10)]["dau_mau_ratio"] == pytest.approx(1 / 5)
    assert rows[day(1)]["dau_mau_ratio"] == 0.0


def test_active_users_by_first_touch_channel(built: ModelWarehouse) -> None:
    rows = built.rows(
        "active_users_by_channel", where=f"date = date '{day(0)}'", order_by="first_touch_channel"
    )
    # first sessions: A, C Direct; B Paid Search; E only a server-side session (Direct: no referrer)
    assert [(row["first_touch_channel"], row["dau"]) for row in rows] == [("Direct", 3), ("Paid Search", 1)]
    later = built.rows("active_users_by_channel", where=f"date = date '{day(7)}'")
    assert [(row["first_touch_channel"], row["dau"]) for row in later] == [("Direct", 1)]


def test_daily_conversions_by_channel_and_campaign(built: ModelWarehouse) -> None:
    rows = built.rows("daily_conversions", order_by="channel")
    got = [
        (
            row["date"],
            row["channel"],
            row["source"],
            row["medium"],
            row["campaign"],
            row["conversions"],
            float(row["revenue"]),
            row["converting_users"],
        )
        for row in rows
    ]
    assert got == [
        # C's two orders (10 + 5) are in two Direct sessions; one converting person
        (day(0), "Direct", "(direct)", "(none)", None, 2, 15.0, 1),
        (day(0), "Paid Search", "google", "cpc", "spring", 1, 25.0, 1),
    ]


# --- incremental models equal their full rebuild ---------------------------------------------------------

LATER = [
    page("a9", at("12:10", day=10), "A", "/more"),  # extends A's day-10 session
    page(
        "f1", at("09:00", day=11), "F", "/", query="utm_source=newsletter&utm_medium=email&utm_campaign=may"
    ),
    order("f2", at("09:05", day=11), "F", 12.0),
    # F logs in as u-f, and so does C's device: C and F stay two persons (user ids never merge) but
    # C's person changes from its anonymous id to u-c
    RawEvent("identify", "c-id", at("09:30", day=11), anonymous_id="C", user_id="u-c"),
    RawEvent("identify", "f-id", at("09:06", day=11), anonymous_id="F", user_id="u-f"),
    # a late event for day 1 (B returns the next day)
    page("b3", at("08:00", day=1), "B", "/"),
]

COMPARED = [
    ("device_days", "device_id, activity_date"),
    ("person_days", "person_id, activity_date"),
    ("daily_traffic", "date, channel, source_medium, referrer_host, device_category"),
    ("active_users", "date"),
    ("active_users_by_channel", "date, first_touch_channel"),
    ("daily_conversions", "date, channel, campaign"),
    ("conversions", "conversion_id"),
    ("attribution_credits", "conversion_id, model, touch_index"),
    ("attribution_paths", "person_id, path_end_ts"),
    ("user_profiles", "person_id"),
    ("user_features_daily", "person_id, as_of, feature_name"),
]


def _snapshot(warehouse: ModelWarehouse) -> dict[str, list[dict[str, Any]]]:
    snapshot = {}
    for table, order_by in COMPARED:
        rows = warehouse.rows(table, order_by=order_by)
        for row in rows:
            row.pop("processed_at", None)  # when a row was computed differs by design
        snapshot[table] = rows
    return snapshot


def test_incremental_run_equals_full_rebuild(tmp_path: Path) -> None:
    as_of = {"headwater_as_of": day(11).isoformat()}
    with model_warehouse("duckdb", tmp_path) as warehouse:
        warehouse.load(EVENTS)
        warehouse.build(variables=as_of)
        warehouse.load(LATER)
        warehouse.build(variables=as_of)
        incremental = _snapshot(warehouse)
        warehouse.build(full_refresh=True, variables=as_of)
        rebuilt = _snapshot(warehouse)
    assert incremental["device_days"], "nothing built"
    for table, _ in COMPARED:
        assert incremental[table] == rebuilt[table], table
    # the late day-1 page reached the summaries: B is active on day 1
    dau = {row["date"]: row["dau"] for row in incremental["active_users"]}
    assert dau[day(1)] == 1
