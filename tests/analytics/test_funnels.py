"""Funnels against worked example F1 (models-contract §2.3), on DuckDB through the real server."""

from __future__ import annotations

from typing import Any

import httpx

from tests.analytics.conftest import post

F1_STEPS = [{"name": "View"}, {"name": "AddToCart"}, {"name": "Purchase"}]
MARCH = {"from": "2024-03-01", "to": "2024-03-31"}


def funnel(api: httpx.Client, **extra: Any) -> dict[str, Any]:
    return post(
        api, "funnels", {**MARCH, "steps": F1_STEPS, "window_value": 1, "window_unit": "day", **extra}
    )


def counts(result: dict[str, Any]) -> list[int]:
    return [step["count"] for step in result["steps"]]


def test_ordered_f1_counts_conversion_and_time_to_convert(api: httpx.Client) -> None:
    result = funnel(api)
    # U1 reaches 3; U2 2 (Purchase before AddToCart); U3 1 (47 h > 24 h); U4 1 (wrong order).
    assert counts(result) == [4, 2, 1]
    steps = result["steps"]
    assert steps[2]["conversion_from_first"] == 0.25  # 1/4
    assert steps[2]["conversion_from_previous"] == 0.5  # 1/2
    assert steps[1]["conversion_from_previous"] == 0.5  # 2/4
    # step 1->2: U1 300 s, U2 1200 s -> mean = median = 750 s; step 2->3: U1 10:05 -> 10:30 = 1500 s.
    assert steps[1]["mean_time_to_convert_s"] == 750.0
    assert steps[1]["median_time_to_convert_s"] == 750.0
    assert steps[2]["mean_time_to_convert_s"] == 1500.0
    assert steps[0]["mean_time_to_convert_s"] is None
    assert [step["dropped"] for step in steps] == [2, 1, 0]
    assert result["dropoffs"] == [
        {"after_step": 1, "person_ids": ["U3", "U4"]},
        {"after_step": 2, "person_ids": ["U2"]},
    ]
    assert result["window_seconds"] == 86400


def test_window_is_measured_from_step_one(api: httpx.Client) -> None:
    # With a 2-day window U3's AddToCart (47 h later) counts: step 2 = U1, U2, U3.
    assert counts(funnel(api, window_value=2)) == [4, 3, 1]
    # 20 minutes: U1 (5 min) and U2 (20 min, inclusive) reach step 2; U1's Purchase is 30 min after View.
    assert counts(funnel(api, window_value=20, window_unit="minute")) == [4, 2, 0]


def test_strict_f1_search_breaks_the_chain(api: httpx.Client) -> None:
    # U1's Search at 10:02 sits between View and AddToCart; U2's next event after View is Logout.
    assert counts(funnel(api, order="strict")) == [4, 0, 0]


def test_exclusion_removes_the_person(api: httpx.Client) -> None:
    # U2 logs out at 10:02 between View (10:00) and AddToCart (10:20): removed entirely.
    result = funnel(api, exclusions=[{"name": "Logout", "from_step": 1, "to_step": 2}])
    assert counts(result) == [3, 1, 1]
    # The same Logout between steps 2 and 3 is before U2's step 2, so nobody is removed.
    assert counts(funnel(api, exclusions=[{"name": "Logout", "from_step": 2, "to_step": 3}])) == [4, 2, 1]


def test_unordered_f1(api: httpx.Client) -> None:
    # U1 3 steps, U2 3, U3 1, U4 2 -> >=1: 4, >=2: 3, >=3: 2.
    result = funnel(api, order="unordered")
    assert counts(result) == [4, 3, 2]
    assert result["steps"][1]["mean_time_to_convert_s"] is None


def test_re_entry_starts_a_new_attempt(api: httpx.Client) -> None:
    result = post(
        api,
        "funnels",
        {
            "from": "2024-06-01",
            "to": "2024-07-31",
            "steps": F1_STEPS,
            "window_value": 1,
            "window_unit": "day",
        },
    )
    # U5's first View has no AddToCart within a day; the View 30 days later does (10 min).
    assert counts(result) == [1, 1, 0]
    assert result["steps"][1]["median_time_to_convert_s"] == 600.0


def test_breakdown_by_channel(api: httpx.Client) -> None:
    result = funnel(api, breakdown="channel")
    values = {
        group["value"]: [step["count"] for step in group["steps"]] for group in result["breakdown_values"]
    }
    # U1's events are Email; U2, U3, U4 Direct (U2 reaches 2).
    assert values == {"Direct": [3, 1, 0], "Email": [1, 1, 1]}
    assert counts(result) == [4, 2, 1]
    email = next(group for group in result["breakdown_values"] if group["value"] == "Email")
    assert email["steps"][1]["mean_time_to_convert_s"] == 300.0
    # With a limit of one value the smaller one is grouped as Other.
    limited = funnel(api, breakdown="channel", breakdown_limit=1)
    assert [group["value"] for group in limited["breakdown_values"]] == ["Direct", "Other"]


def test_step_property_filter_reads_the_raw_event_table(api: httpx.Client) -> None:
    steps = [
        {"name": "View", "properties": [{"property": "price", "operator": "gt", "value": 10}]},
        *F1_STEPS[1:],
    ]
    # Views with price > 10: U1 (20), U3 (15), U4 (50). Of those only U1 goes on.
    result = post(api, "funnels", {**MARCH, "steps": steps, "window_value": 1})
    assert counts(result) == [3, 1, 1]
    # A column whose name holds a double quote is just a name.
    weird = [{"name": "View", "properties": [{"property": 'we"ird', "value": "x"}]}, *F1_STEPS[1:]]
    assert counts(post(api, "funnels", {**MARCH, "steps": weird, "window_value": 1})) == [2, 1, 1]  # U1, U3
    # A global property filter applies to every event: only View rows carry `plan`, so nothing goes on.
    plan = post(
        api, "funnels", {**MARCH, "steps": F1_STEPS, "properties": [{"property": "plan", "value": "pro"}]}
    )
    assert counts(plan) == [3, 0, 0]
