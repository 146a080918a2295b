"""Attribution credits and paths against hand-computed values (models-contract §2.5, worked example A1).

One dbt build per engine for the whole module; each test reads a different slice of its tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.models.harness import ModelWarehouse, model_warehouse
from tests.models.raw import RawEvent, at, page, track

pytestmark = pytest.mark.slow

GOOGLE_CPC = "utm_source=google&utm_medium=cpc"
NEWSLETTER = "utm_source=newsletter&utm_medium=email&utm_campaign=spring"
FACEBOOK_CPC = "utm_source=facebook&utm_medium=cpc"


def _order(message_id: str, when: Any, anonymous_id: str, revenue: float) -> RawEvent:
    return track(
        message_id,
        when,
        anonymous_id,
        "Order Completed",
        properties={"revenue": revenue, "order_id": message_id},
    )


EVENTS = [
    # A1: Paid Search day 0, Email day 3 and day 4 (same campaign), Organic Search day 9, Direct day 10 11:00,
    # conversion of 100 at day 10 12:00 (its own session, Direct too: a gap of 1 h > 30 min).
    page("a0", at("12:00"), "PA", "/", query=GOOGLE_CPC),
    page("a1", at("12:00", day=3), "PA", "/", query=NEWSLETTER),
    page("a2", at("12:00", day=4), "PA", "/", query=NEWSLETTER),
    page("a3", at("12:00", day=9), "PA", "/", referrer="https://www.google.com/"),
    page("a4", at("11:00", day=10), "PA", "/"),
    _order("a-order", at("12:00", day=10), "PA", 100.0),
    # One Direct touch only: every model gives it everything (last non-direct falls back to Direct).
    page("b0", at("10:00", day=1), "PB", "/"),
    _order("b-order", at("10:05", day=1), "PB", 40.0),
    # Two touches: Paid Social day 0 09:00, Direct day 1 09:00, conversion of 20 at day 1 09:10.
    page("c0", at("09:00"), "PC", "/", query=FACEBOOK_CPC),
    page("c1", at("09:00", day=1), "PC", "/"),
    _order("c-order", at("09:10", day=1), "PC", 20.0),
    # Lookback: Paid Search day 0 08:00 is 31 days before the conversion at day 31 07:10: left out.
    page("d0", at("08:00"), "PD", "/", query=GOOGLE_CPC),
    page("d1", at("07:00", day=31), "PD", "/", referrer="https://www.google.com/"),
    _order("d-order", at("07:10", day=31), "PD", 10.0),
    # Never converts: Referral day 2, Direct day 3, Direct day 5 → non-converting path Referral > Direct.
    page("e0", at("10:00", day=2), "PE", "/", referrer="https://news.ycombinator.com/item"),
    page("e1", at("10:00", day=3), "PE", "/"),
    page("e2", at("10:00", day=5), "PE", "/"),
]


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def built(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModelWarehouse]:
    with model_warehouse(request.param, tmp_path_factory.mktemp(f"attr-{request.param}")) as warehouse:
        warehouse.load(EVENTS)
        warehouse.build()
        yield warehouse


def _credits(warehouse: ModelWarehouse, conversion_id: str) -> dict[str, list[tuple[str, float, float]]]:
    """model → [(channel, credit, revenue_credit)] in touch order."""
    rows = warehouse.rows(
        "attribution_credits", where=f"conversion_id = '{conversion_id}'", order_by="model, touch_index"
    )
    result: dict[str, list[tuple[str, float, float]]] = {}
    for row in rows:
        result.setdefault(row["model"], []).append(
            (row["channel"], float(row["credit"]), float(row["revenue_credit"]))
        )
    return result


def _revenue(credits: dict[str, list[tuple[str, float, float]]], model: str) -> list[tuple[str, float]]:
    return [(channel, round(revenue, 2)) for channel, _, revenue in credits[model]]


def test_worked_example_a1_all_rule_models(built: ModelWarehouse) -> None:
    credits = _credits(built, "a-order")
    # exposure path: Paid Search, Email (day 3, day 4 collapsed), Organic Search,
    # Direct (11:00 and 12:00 collapsed)
    assert _revenue(credits, "first_touch") == [("Paid Search", 100.0)]
    assert _revenue(credits, "last_touch") == [("Direct", 100.0)]
    assert _revenue(credits, "last_non_direct") == [("Organic Search", 100.0)]
    assert _revenue(credits, "linear") == [
        ("Paid Search", 25.0),
        ("Email", 25.0),
        ("Organic Search", 25.0),
        ("Direct", 25.0),
    ]
    # n = 4: 0.4 to the ends, 0.2 / 2 to each middle touch
    assert _revenue(credits, "position_based") == [
        ("Paid Search", 40.0),
        ("Email", 10.0),
        ("Organic Search", 10.0),
        ("Direct", 40.0),
    ]
    # H = 7 d; Δ = 10, 7, 1, 1/24 days → w = 0.3715, 0.5, 0.9057, 0.9959; Σ = 2.7731
    # → 13.40, 18.03, 32.66, 35.91 (models-contract A1)
    decay = credits["time_decay"]
    assert [channel for channel, _, _ in decay] == ["Paid Search", "Email", "Organic Search", "Direct"]
    for (_, _, revenue), expected in zip(decay, [13.40, 18.03, 32.66, 35.91], strict=True):
        assert revenue == pytest.approx(expected, abs=0.01)


def test_collapsed_run_keeps_its_earliest_touch(built: ModelWarehouse) -> None:
    rows = built.query(
        "select touch_ts, n_touches, campaign from analytics.attribution_credits "
        "where conversion_id = 'a-order' and model = 'linear' and channel = 'Email'"
    )
    assert len(rows) == 1
    assert rows[0]["touch_ts"] == at("12:00", day=3)
    assert rows[0]["n_touches"] == 4
    assert rows[0]["campaign"] == "spring"
    direct = built.query(
        "select touch_ts from analytics.attribution_credits "
        "where conversion_id = 'a-order' and model = 'last_touch'"
    )
    assert direct[0]["touch_ts"] == at("11:00", day=10)


def test_single_direct_touch_gets_everything_in_every_model(built: ModelWarehouse) -> None:
    credits = _credits(built, "b-order")
    assert sorted(credits) == [
        "first_touch",
        "last_non_direct",
        "last_touch",
        "linear",
        "position_based",
        "time_decay",
    ]
    for model, touches in credits.items():
        assert touches == [("Direct", 1.0, 40.0)], model


def test_two_touches(built: ModelWarehouse) -> None:
    credits = _credits(built, "c-order")
    assert _revenue(credits, "first_touch") == [("Paid Social", 20.0)]
    assert _revenue(credits, "last_touch") == [("Direct", 20.0)]
    assert _revenue(credits, "last_non_direct") == [("Paid Social", 20.0)]
    assert _revenue(credits, "linear") == [("Paid Social", 10.0), ("Direct", 10.0)]
    assert _revenue(credits, "position_based") == [("Paid Social", 10.0), ("Direct", 10.0)]
    # Δ = 1 d 10 min and 10 min: the weights differ by a factor 2^(-1/7) = 0.905724, so
    # Direct gets 1 / (1 + 0.905724) = 0.524734, Paid Social 0.475266
    decay = credits["time_decay"]
    assert decay[0][0] == "Paid Social" and decay[0][1] == pytest.approx(0.475266, abs=1e-5)
    assert decay[1][0] == "Direct" and decay[1][1] == pytest.approx(0.524734, abs=1e-5)
    assert decay[1][2] == pytest.approx(20 * 0.524734, abs=1e-4)


def test_lookback_leaves_out_older_touches(built: ModelWarehouse) -> None:
    credits = _credits(built, "d-order")
    # the Paid Search touch at day 0 08:00 is before day 31 07:10 - 30 days = day 1 07:10
    assert credits["first_touch"] == [("Organic Search", 1.0, 10.0)]
    assert credits["linear"] == [("Organic Search", 1.0, 10.0)]


def test_credits_sum_to_one_per_conversion_and_model(built: ModelWarehouse) -> None:
    rows = built.query(
        "select conversion_id, model, sum(credit) as total, count(*) as n "
        "from analytics.attribution_credits group by conversion_id, model"
    )
    assert len(rows) == 4 * 6  # four conversions, six models each
    for row in rows:
        assert float(row["total"]) == pytest.approx(1.0, abs=1e-9), row


def test_paths_for_markov(built: ModelWarehouse) -> None:
    rows = built.rows("attribution_paths", order_by="person_id, path_end_ts")
    paths = {(row["person_id"], row["conversion_id"]): row for row in rows}
    assert set(paths) == {
        ("PA", "a-order"),
        ("PB", "b-order"),
        ("PC", "c-order"),
        ("PD", "d-order"),
        ("PE", None),
    }
    a = paths[("PA", "a-order")]
    assert (a["path"], a["n_touches"], a["converted"], float(a["revenue"])) == (
        "Paid Search > Email > Organic Search > Direct",
        4,
        True,
        100.0,
    )
    assert a["path_end_ts"] == at("12:00", day=10)
    assert paths[("PC", "c-order")]["path"] == "Paid Social > Direct"
    assert paths[("PD", "d-order")]["path"] == "Organic Search"
    # PE never converted: Referral, Direct, Direct → Referral > Direct, ending at its last touch
    e = paths[("PE", None)]
    assert (e["path"], e["n_touches"], e["converted"], float(e["revenue"])) == (
        "Referral > Direct",
        2,
        False,
        0.0,
    )
    assert e["path_end_ts"] == at("10:00", day=5)


def test_conversions_table(built: ModelWarehouse) -> None:
    rows = built.rows("conversions", order_by="conversion_id")
    assert [(row["conversion_id"], row["person_id"], float(row["revenue"])) for row in rows] == [
        ("a-order", "PA", 100.0),
        ("b-order", "PB", 40.0),
        ("c-order", "PC", 20.0),
        ("d-order", "PD", 10.0),
    ]
    assert all(row["event_name"] == "Order Completed" and row["session_id"] for row in rows)
