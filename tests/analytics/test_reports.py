"""Retention (R1), paths (P1), attribution (A3 and rule models) and the overview, on DuckDB."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import headwater.analytics.paths as paths_module
from tests.analytics.conftest import post

R1 = {"from": "2024-01-01", "to": "2024-01-04", "period": "day"}


def matrix(result: dict[str, Any]) -> dict[str, list[int]]:
    return {cohort["cohort"]: [value["count"] for value in cohort["values"]] for cohort in result["cohorts"]}


def test_retention_recurring_r1(api: httpx.Client) -> None:
    result = post(api, "retention", R1)
    assert matrix(result) == {
        "2024-01-01": [2, 1, 1, 1],  # {P1, P2}: Tue P1, Wed P2, Thu P1
        "2024-01-02": [2, 1, 1],  # {P1, P3}: Wed P3, Thu P1
        "2024-01-03": [2, 0],  # {P2, P3}: nobody Thu
        "2024-01-04": [1],  # {P1}
    }
    monday = result["cohorts"][0]
    assert [value["rate"] for value in monday["values"]] == [1.0, 0.5, 0.5, 0.5]


def test_retention_first_time_r1(api: httpx.Client) -> None:
    result = post(api, "retention", {**R1, "mode": "first_time"})
    # Mon {P1, P2}, Tue {P3} (P3's Wed return), Wed and Thu empty.
    assert matrix(result) == {
        "2024-01-01": [2, 1, 1, 1],
        "2024-01-02": [1, 1, 0],
        "2024-01-03": [0, 0],
        "2024-01-04": [0],
    }
    assert result["cohorts"][2]["values"][0]["rate"] is None


def test_retention_cumulative_r1(api: httpx.Client) -> None:
    result = post(api, "retention", {**R1, "cumulative": True})
    # Monday: day1 = P1 (Tue) and P2 (Wed) = 2; day2 = P2 (Wed), P1 (Thu) = 2; day3 = P1 = 1.
    assert matrix(result)["2024-01-01"] == [2, 2, 2, 1]
    assert matrix(result)["2024-01-02"] == [2, 2, 1]


def test_retention_weekly_and_periods(api: httpx.Client) -> None:
    weekly = post(api, "retention", {**R1, "period": "week"})
    assert matrix(weekly) == {"2024-01-01": [3]}  # one ISO week starting Monday 2024-01-01
    capped = post(api, "retention", {**R1, "periods": 2})
    assert matrix(capped)["2024-01-01"] == [2, 1]
    # A return event that nobody did: only period 0 is non-zero.
    none = post(api, "retention", {**R1, "return_event": {"kind": "page", "name": "/nowhere"}})
    assert matrix(none)["2024-01-01"] == [2, 0, 0, 0]


P1 = {"from": "2024-02-01", "to": "2024-02-01", "item_type": "pages"}


def links(result: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {(link["source"], link["target"]): link["value"] for link in result["links"]}


@pytest.fixture(params=["dense", "sorted"])
def key_counting(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths count (step, item, next) keys in a dense table when there are few items, else by
    sorting them: run each paths test both ways."""
    if request.param == "sorted":
        monkeypatch.setattr(paths_module, "_DENSE_KEYS", 0)


@pytest.mark.usefixtures("key_counting")
def test_paths_p1(api: httpx.Client) -> None:
    result = post(api, "paths", P1)
    # 4 session paths: A / /pricing /signup (repeat collapsed), B / /pricing, C / /blog, C / /pricing.
    assert links(result) == {("1_/", "2_/pricing"): 3, ("2_/pricing", "3_/signup"): 1, ("1_/", "2_/blog"): 1}
    nodes = {node["key"]: node["value"] for node in result["nodes"]}
    assert nodes == {"1_/": 4, "2_/pricing": 3, "2_/blog": 1, "3_/signup": 1}
    # A: / 09:00 -> /pricing 09:02 (the kept repeat is the later one) = 120 s; B 300 s; C 60 s.
    pricing = next(link for link in result["links"] if link["target"] == "2_/pricing")
    assert pricing["average_conversion_time_s"] == pytest.approx((120 + 300 + 60) / 3)


@pytest.mark.usefixtures("key_counting")
def test_paths_from_start_and_to_end(api: httpx.Client) -> None:
    after = post(api, "paths", {**P1, "start": "/pricing"})
    assert links(after) == {("1_/pricing", "2_/signup"): 1}
    assert {node["key"]: node["value"] for node in after["nodes"]} == {"1_/pricing": 3, "2_/signup": 1}
    before = post(api, "paths", {**P1, "end": "/pricing"})
    assert links(before) == {("1_/", "2_/pricing"): 3}
    before_signup = post(api, "paths", {**P1, "end": "/signup", "steps": 2})
    assert links(before_signup) == {("1_/pricing", "2_/signup"): 1}  # last 2 items up to /signup
    assert links(post(api, "paths", {**P1, "edge_limit": 1})) == {("1_/", "2_/pricing"): 3}


MAY = {"from": "2024-05-01", "to": "2024-05-31"}


def by_model(result: dict[str, Any]) -> dict[str, dict[str, tuple[float, float]]]:
    return {
        model["model"]: {row["value"]: (row["conversions"], row["revenue"]) for row in model["rows"]}
        for model in result["models"]
    }


def test_attribution_markov_a3(api: httpx.Client) -> None:
    result = post(api, "attribution", {**MAY, "models": ["markov"]})
    markov = result["models"][0]
    credits = {row["value"]: row for row in markov["rows"]}
    # P(conv) = 2/3; without A 1/3 (effect 0.5); without B 0 (effect 1); 2 conversions, revenue 150.
    assert credits["A"]["conversions"] == pytest.approx(2 * 0.5 / 1.5)
    assert credits["B"]["conversions"] == pytest.approx(2 * 1 / 1.5)
    assert credits["A"]["removal_effect"] == pytest.approx(0.5)
    assert credits["B"]["removal_effect"] == pytest.approx(1.0)
    assert credits["A"]["revenue"] == pytest.approx(150 / 3)
    assert markov["conversions"] == pytest.approx(2.0)


def test_attribution_rule_models(api: httpx.Client) -> None:
    result = by_model(post(api, "attribution", {**MAY, "models": ["first_touch", "linear"]}))
    assert result["first_touch"] == {"Paid Search": (1.0, 100.0), "Email": (1.0, 50.0)}
    # linear: c1 a quarter each (25 revenue), c2 all Email (50).
    assert result["linear"] == {
        "Email": (1.25, 75.0),
        "Direct": (0.25, 25.0),
        "Organic Search": (0.25, 25.0),
        "Paid Search": (0.25, 25.0),
    }
    campaigns = by_model(post(api, "attribution", {**MAY, "models": ["linear"], "group_by": "campaign"}))
    assert campaigns["linear"] == {"news": (1.25, 75.0), "(none)": (0.5, 50.0), "spring": (0.25, 25.0)}
    email_only = by_model(post(api, "attribution", {**MAY, "models": ["linear"], "channel": "Email"}))
    assert email_only["linear"] == {"Email": (1.25, 75.0)}
    # Outside the range nothing is credited.
    empty = post(api, "attribution", {"from": "2023-01-01", "to": "2023-01-31"})
    assert all(model["rows"] == [] for model in empty["models"])


AUGUST = {"from": "2024-08-08", "to": "2024-08-14"}


def test_overview_with_previous_period(api: httpx.Client) -> None:
    result = post(api, "overview", AUGUST)
    assert result["previous_range"] == {"from": "2024-08-01", "to": "2024-08-07"}
    metrics = {name: (m["value"], m["previous"], m["change"]) for name, m in result["metrics"].items()}
    # Current s1, s2, s3 (s4 is server-only); previous s0.
    assert metrics["users"] == (2, 1, 1.0)
    assert metrics["sessions"] == (3, 1, 2.0)
    assert metrics["page_views"] == (5, 2, 1.5)  # 1 + 3 + 1 against 2
    assert metrics["bounce_rate"][0] == pytest.approx(2 / 3)
    assert metrics["bounce_rate"][1:] == (0.0, None)  # no change from 0
    assert metrics["avg_session_duration_s"] == (40.0, 50.0, pytest.approx(-0.2))  # (0+100+20)/3
    assert metrics["revenue"][0] == 30.0
    # /a 3 views against 2 (+50 %), /b 2 against 0.
    assert result["top_pages"] == [
        {"path": "/a", "count": 3, "previous": 2, "change": 0.5},
        {"path": "/b", "count": 2, "previous": 0, "change": None},
    ]
    assert result["top_events"] == [{"name": "Signup", "count": 1, "previous": 0, "change": None}]
    assert result["top_channels"] == [
        {"channel": "Direct", "sessions": 2, "users": 2, "previous": 1, "change": 1.0},
        {"channel": "Email", "sessions": 1, "users": 1, "previous": 0, "change": None},
    ]


def test_overview_filters(api: httpx.Client) -> None:
    direct = post(api, "overview", {**AUGUST, "channel": ["Direct"]})
    assert direct["metrics"]["sessions"]["value"] == 2  # s2, s3
    assert [page["count"] for page in direct["top_pages"]] == [2, 2]  # /a s3, /b s2+s3 (Direct events)
    newsletter = post(api, "overview", {**AUGUST, "source": "newsletter"})
    assert newsletter["metrics"]["sessions"]["value"] == 1
    assert newsletter["top_pages"] == [{"path": "/a", "count": 1, "previous": 0, "change": None}]
    mobile = post(api, "overview", {**AUGUST, "device_category": "Mobile"})
    assert mobile["metrics"]["sessions"]["value"] == 0
    assert mobile["metrics"]["bounce_rate"]["value"] is None
