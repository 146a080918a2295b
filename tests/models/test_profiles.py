"""user_profiles and user_features_daily against hand-computed values (models-contract §2.6, example U1).

As of 2024-03-31 (var headwater_as_of). One build per engine for the U1 module fixture; the feature
history test has its own DuckDB warehouse because it runs dbt several times.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.models.harness import ModelWarehouse, model_warehouse
from tests.models.raw import RawEvent, page, track

pytestmark = pytest.mark.slow

AS_OF = {"headwater_as_of": "2024-03-31"}


def t(month: int, day: int, clock: str) -> datetime:
    hours, minutes = (int(part) for part in clock.split(":"))
    return datetime(2024, month, day, hours, minutes, tzinfo=UTC)


def order(
    message_id: str, when: datetime, anonymous_id: str, total: float, user_id: str | None = None
) -> RawEvent:
    return track(
        message_id, when, anonymous_id, "Order Completed", user_id=user_id, properties={"total": total}
    )


U1_EVENTS = [
    # P1 (anonymous A1, logs in as u1 right after landing from a Google Ads click)
    page("p1-1", t(1, 5, "10:00"), "A1", "/", query="utm_source=google&utm_medium=cpc"),
    RawEvent(
        "identify",
        "p1-id",
        t(1, 5, "10:01"),
        anonymous_id="A1",
        user_id="u1",
        traits={"email": "pat@example.com", "name": "Pat One"},
    ),
    order("p1-o1", t(1, 5, "10:20"), "A1", 50.0, "u1"),
    order("p1-o2", t(2, 10, "12:00"), "A1", 30.0, "u1"),
    page("p1-2", t(3, 30, "18:00"), "A1", "/shoes", user_id="u1"),
    track("p1-cart", t(3, 30, "18:05"), "A1", "Product Added", user_id="u1", properties={"cart_id": "c9"}),
    page("p1-3", t(3, 31, "09:00"), "A1", "/", user_id="u1"),
    # after the as-of date: must not count
    page("p1-4", t(4, 2, "10:00"), "A1", "/later", user_id="u1"),
    # four more customers, so that ntile(5) gives each of the five a different tile
    order("q1-o", t(3, 20, "10:00"), "q1", 200.0),
    order("q2-o", t(1, 1, "10:00"), "q2", 10.0),
    order("q3-o1", t(3, 28, "10:00"), "q3", 100.0),
    order("q3-o2", t(3, 28, "10:01"), "q3", 100.0),
    order("q3-o3", t(3, 28, "10:02"), "q3", 100.0),
    order("q4-o", t(3, 1, "10:00"), "q4", 5.0),
    # a visitor without orders
    page("v1-1", t(3, 31, "08:00"), "v1", "/"),
]


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def built(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModelWarehouse]:
    with model_warehouse(request.param, tmp_path_factory.mktemp(f"prof-{request.param}")) as warehouse:
        warehouse.load(U1_EVENTS)
        warehouse.build(variables=AS_OF)
        yield warehouse


def _profiles(warehouse: ModelWarehouse) -> dict[str, dict[str, object]]:
    return {str(row["person_id"]): row for row in warehouse.rows("user_profiles")}


def test_worked_example_u1(built: ModelWarehouse) -> None:
    p1 = _profiles(built)["u1"]
    expected = {
        "user_id": "u1",
        "n_anonymous_ids": 1,
        "email": "pat@example.com",
        "name": "Pat One",
        "first_seen_at": t(1, 5, "10:00"),
        "last_seen_at": t(3, 31, "09:00"),  # the Apr 2 page is after the as-of date
        "days_since_first_seen": 86,  # Jan 5 → Mar 31: 26 + 29 + 31
        "days_since_last_seen": 0,
        "sessions": 4,  # Jan 5 (page, identify, order 20 min later), Feb 10, Mar 30, Mar 31
        "events": 6,  # 3 pages, 2 orders, 1 Product Added (the identify is not activity)
        "page_views": 3,
        "active_days": 4,  # Jan 5, Feb 10, Mar 30, Mar 31
        "active_days_7": 2,  # Mar 25-31: Mar 30, Mar 31
        "active_days_30": 2,  # Mar 2-31
        "orders": 2,
        "revenue": 80.0,
        "avg_order_value": 40.0,
        "median_order_value": 40.0,
        "max_order_value": 50.0,
        "last_order_value": 30.0,
        "last_order_at": t(2, 10, "12:00"),
        "days_since_last_order": 50,  # Feb 10 → Mar 31: 19 + 31
        "carts": 1,
        "abandoned_carts": 1,  # c9 added Mar 30, no order after it
        "first_channel": "Paid Search",
        "first_source": "google",
        "first_medium": "cpc",
        "first_landing_path": "/",
        "last_channel": "Direct",
        "as_of_date": date(2024, 3, 31),
        "lifecycle_state": "active",
        "is_churned_30": 0,
    }
    actual = {key: p1[key] for key in expected}
    for key in ("revenue", "avg_order_value", "median_order_value", "max_order_value", "last_order_value"):
        actual[key] = float(actual[key])  # type: ignore[arg-type]
    assert actual == expected


def test_rfm_scores_and_segments(built: ModelWarehouse) -> None:
    profiles = _profiles(built)
    # (R, F, M): u1 (50, 2, 80), q1 (11, 1, 200), q2 (90, 1, 10), q3 (3, 3, 300), q4 (30, 1, 5)
    # R by days descending: q2 1, u1 2, q4 3, q1 4, q3 5
    # F by (orders, person_id): q1 1, q2 2, q4 3, u1 4, q3 5
    # M ascending: q4 1, q2 2, u1 3, q1 4, q3 5
    scores = {
        person: (row["r_score"], row["f_score"], row["m_score"], row["rfm_code"], row["rfm_segment"])
        for person, row in profiles.items()
    }
    assert scores == {
        "u1": (2, 4, 3, "243", "At Risk"),
        "q1": (4, 1, 4, "414", "Promising"),
        "q2": (1, 2, 2, "122", "Hibernating"),
        "q3": (5, 5, 5, "555", "Champions"),
        "q4": (3, 3, 1, "331", "Loyal"),
        "v1": (None, None, None, None, None),
    }


def test_lifecycle_and_churn(built: ModelWarehouse) -> None:
    profiles = _profiles(built)
    states = {
        person: (row["days_since_last_seen"], row["lifecycle_state"], row["is_churned_30"])
        for person, row in profiles.items()
    }
    assert states == {
        "u1": (0, "active", 0),
        "q1": (11, "dormant", 0),  # Mar 20
        "q2": (90, "churned", 1),  # Jan 1: 30 + 29 + 31 days
        "q3": (3, "new", 0),  # first seen Mar 28, less than 7 days ago
        "q4": (30, "dormant", 0),  # Mar 1: exactly 30 days is not churned (> 30)
        "v1": (0, "new", 0),
    }
    v1 = profiles["v1"]
    assert (v1["orders"], float(v1["revenue"]), v1["avg_order_value"], v1["user_id"]) == (0, 0.0, None, None)  # type: ignore[arg-type]
    assert (v1["n_anonymous_ids"], v1["first_channel"], v1["sessions"]) == (1, "Direct", 1)


def test_features_long_form(built: ModelWarehouse) -> None:
    rows = built.rows("user_features_daily", where="person_id = 'u1'")
    features = {
        row["feature_name"]: (row["feature_type"], row["value_numeric"], row["value_string"]) for row in rows
    }
    assert {row["as_of"] for row in rows} == {date(2024, 3, 31)}
    assert features["orders"] == ("numeric", 2.0, None)
    assert features["days_since_last_order"] == ("numeric", 50.0, None)
    assert features["first_channel"] == ("string", None, "Paid Search")
    assert features["rfm_segment"] == ("string", None, "At Risk")
    assert features["lifecycle_state"] == ("string", None, "active")
    # NULL features are left out: u1 has every feature but first_campaign (no utm_campaign)
    assert "first_campaign" not in features
    assert len(features) == 31


def test_feature_history_is_kept_and_replaced_per_date(tmp_path: Path) -> None:
    with model_warehouse("duckdb", tmp_path) as warehouse:
        warehouse.load(U1_EVENTS)
        warehouse.build(variables=AS_OF)
        warehouse.build(variables={"headwater_as_of": "2024-04-02"})
        warehouse.build(variables=AS_OF)  # re-running a date replaces its rows
        warehouse.build(full_refresh=True, variables={"headwater_as_of": "2024-04-02"})  # keeps history
        counts = warehouse.query(
            "select as_of, count(*) as n, "
            "max(case when feature_name = 'sessions' and person_id = 'u1' then value_numeric end) "
            "as u1_sessions "
            "from analytics.user_features_daily group by as_of order by as_of"
        )
    # u1 has 5 sessions as of Apr 2 (the Apr 2 page is a fifth), 4 as of Mar 31
    assert [(row["as_of"], float(row["u1_sessions"])) for row in counts] == [
        (date(2024, 3, 31), 4.0),
        (date(2024, 4, 2), 5.0),
    ]
    assert counts[0]["n"] == counts[1]["n"] > 0  # same features each date, once each
