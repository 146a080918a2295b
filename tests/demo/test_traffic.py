"""The generated traffic: deterministic, exact in size, and shaped so every later model has work to do."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest

from headwater.demo import DemoSetupError, Event, generate, summarize

START = date(2026, 3, 2)
DAYS = 10


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return generate(seed=7, events=4_000, days=DAYS, start=START)


def _wire(events: list[Event]) -> bytes:
    return b"\n".join(
        orjson.dumps(
            [e.payload, e.route, e.batch, e.sent_at, e.sdk.device, e.person], option=orjson.OPT_SORT_KEYS
        )
        for e in events
    )


def _when(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _name(payload: dict[str, Any]) -> str | None:
    return payload.get("event") if payload["type"] == "track" else None


def test_same_seed_gives_byte_identical_events(events: list[Event]) -> None:
    again = generate(seed=7, events=4_000, days=DAYS, start=START)
    assert _wire(again) == _wire(events)


def test_a_different_seed_gives_different_events(events: list[Event]) -> None:
    other = generate(seed=8, events=4_000, days=DAYS, start=START)
    assert len(other) == len(events)
    assert {e.payload["messageId"] for e in other}.isdisjoint({e.payload["messageId"] for e in events})
    assert _wire(other) != _wire(events)


@pytest.mark.parametrize("count", [1, 2, 37, 999, 2_501])
def test_the_requested_count_is_met_exactly(count: int) -> None:
    assert len(generate(seed=3, events=count, days=5, start=START)) == count


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(DemoSetupError):
        generate(events=0)
    with pytest.raises(DemoSetupError):
        generate(days=0)


def test_every_event_has_an_identity_and_a_unique_message_id(events: list[Event]) -> None:
    for event in events:
        payload = event.payload
        assert payload.get("anonymousId") or payload.get("userId"), payload
    ids = [e.payload["messageId"] for e in events]
    assert len(set(ids)) == len(ids)


def test_events_are_in_time_order_and_timestamps_are_the_simulated_time(events: list[Event]) -> None:
    times = [e.at_ms for e in events]
    assert times == sorted(times)
    for event in events:
        payload = event.payload
        stamp = _when(payload["timestamp"])
        assert int(stamp.timestamp() * 1000) == event.at_ms
        if event.sdk.platform != "server":
            assert payload["originalTimestamp"] == payload["timestamp"]
            assert payload["sentAt"] == event.sent_at
        assert _when(event.sent_at) >= stamp


def test_days_span_the_requested_range(events: list[Event]) -> None:
    days = {_when(e.payload["timestamp"]).date() for e in events}
    assert days == {START + timedelta(days=n) for n in range(DAYS)}
    summary = summarize(events)
    assert (summary.first_day, summary.last_day) == (str(START), str(START + timedelta(days=DAYS - 1)))


def test_several_hundred_people_on_web_and_mobile_with_a_default_sized_run() -> None:
    summary = summarize(generate(seed=1, events=10_000))
    assert 200 <= summary.people <= 600
    assert summary.devices["web"] > 100 and summary.devices["android"] > 10 and summary.devices["ios"] > 10


def test_anonymous_visitors_later_identify(events: list[Event]) -> None:
    first_seen_anonymous: set[str] = set()
    seen: set[str] = set()
    stitched: set[str] = set()
    for event in events:
        payload = event.payload
        anonymous_id = payload.get("anonymousId")
        if not anonymous_id or event.sdk.platform == "server":
            continue
        if anonymous_id not in seen:
            seen.add(anonymous_id)
            if not payload.get("userId"):
                first_seen_anonymous.add(anonymous_id)
        if payload["type"] == "identify" and payload.get("userId") and anonymous_id in first_seen_anonymous:
            stitched.add(anonymous_id)
            assert payload["context"]["traits"]["email"]
    assert len(stitched) >= 20
    # One person can stitch several devices to the same userId.
    by_user: dict[str, set[str]] = defaultdict(set)
    for event in events:
        if event.payload.get("userId") and event.sdk.platform != "server":
            by_user[event.payload["userId"]].add(event.payload["anonymousId"])
    assert any(len(devices) > 1 for devices in by_user.values())


def test_identify_traits_group_and_alias_calls(events: list[Event]) -> None:
    identifies = [e.payload for e in events if e.payload["type"] == "identify"]
    traits = identifies[0]["context"]["traits"]
    assert {"email", "name", "plan"} <= set(traits)
    assert any("created_at" in i["context"]["traits"] for i in identifies)
    groups = [e.payload for e in events if e.payload["type"] == "group"]
    assert groups and all(g["groupId"] and g["traits"]["name"] for g in groups)
    aliases = [
        e for e in generate(seed=7, events=20_000, days=DAYS, start=START) if e.payload["type"] == "alias"
    ]
    assert aliases
    for alias in aliases:
        assert alias.payload["previousId"].startswith("legacy-") and alias.payload["userId"] == alias.person


def test_sessions_are_separated_by_more_than_thirty_minutes(events: list[Event]) -> None:
    by_device: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        if event.sdk.platform != "server":
            by_device[event.sdk.device].append(event.payload)
    half_hour = timedelta(minutes=30)
    sessions_per_device = []
    for payloads in by_device.values():
        sessions: dict[int, list[datetime]] = defaultdict(list)
        for payload in payloads:
            sessions[payload["context"]["sessionId"]].append(_when(payload["timestamp"]))
            if payload["context"].get("sessionStart"):
                assert _when(payload["timestamp"]) == datetime.fromtimestamp(
                    payload["context"]["sessionId"] / 1000, UTC
                )
        ordered = sorted(sessions.values())
        sessions_per_device.append(len(ordered))
        for times in ordered:
            assert all(b - a <= half_hour for a, b in itertools.pairwise(times))
        for before, after in itertools.pairwise(ordered):
            assert after[0] - before[-1] > half_hour
    assert max(sessions_per_device) >= 4
    assert sum(1 for n in sessions_per_device if n > 1) >= 20


def test_the_funnel_narrows_and_every_order_follows_its_checkout(events: list[Event]) -> None:
    names = Counter(_name(e.payload) for e in events)
    views, adds = names["Product Viewed"], names["Product Added"]
    checkouts, orders = names["Checkout Started"], names["Order Completed"]
    assert views > adds > checkouts > orders > 10
    started: set[str] = set()
    for event in events:
        name = _name(event.payload)
        if name == "Checkout Started":
            started.add(event.payload["properties"]["order_id"])
        elif name == "Order Completed":
            assert event.payload["properties"]["order_id"] in started


def test_order_revenue_is_the_sum_of_its_products(events: list[Event]) -> None:
    orders = [e.payload["properties"] for e in events if _name(e.payload) == "Order Completed"]
    assert orders
    for order in orders:
        lines = order["products"]
        assert lines and all({"product_id", "sku", "price", "quantity", "category"} <= set(p) for p in lines)
        assert order["revenue"] == round(sum(p["price"] * p["quantity"] for p in lines), 2)
        expected_total = order["subtotal"] - order["discount"] + order["shipping"] + order["tax"]
        assert order["total"] == pytest.approx(expected_total, abs=0.006)
        assert order["currency"] == "USD" and order["order_id"].startswith("ord_")
    assert len({p["product_id"] for o in orders for p in o["products"]}) >= 10


def test_web_events_look_like_the_javascript_sdk(events: list[Event]) -> None:
    web = [e for e in events if e.sdk.platform == "web"]
    assert {e.route for e in web} >= {"/v1/page", "/v1/track", "/v1/identify", "/v1/batch"}
    for event in web:
        payload = event.payload
        context = payload["context"]
        assert payload["channel"] == "web"
        assert context["library"]["name"] == "RudderLabs JavaScript SDK"
        assert {"userAgent", "locale", "timezone", "sessionId", "page", "campaign"} <= set(context)
        assert {"path", "url", "referrer", "title", "search"} <= set(context["page"])
    campaigns = [e.payload["context"]["campaign"] for e in web if e.payload["context"]["campaign"]]
    assert {c["source"] for c in campaigns} >= {"google", "facebook", "newsletter"}
    assert all({"name", "source", "medium"} <= set(c) for c in campaigns)
    pages = [e.payload for e in web if e.payload["type"] == "page"]
    landing = [p for p in pages if p["context"].get("sessionStart")]
    referrers = {p["context"]["page"]["referring_domain"] for p in landing}
    assert {"$direct", "www.google.com", "news.ycombinator.com"} <= referrers
    assert any("utm_source=" in p["context"]["page"]["search"] for p in landing)


def test_mobile_events_look_like_the_android_and_ios_sdks(events: list[Event]) -> None:
    android = [e.payload for e in events if e.sdk.platform == "android"]
    ios = [e.payload for e in events if e.sdk.platform == "ios"]
    assert android and ios
    for payload in android + ios:
        assert payload["channel"] == "mobile"
        assert {"app", "device", "os", "screen", "network", "library"} <= set(payload["context"])
    assert {p["context"]["library"]["name"] for p in android} == {"com.rudderstack.android.sdk.core"}
    assert {p["context"]["library"]["name"] for p in ios} == {"rudder-ios-library"}
    android_screens = [p for p in android if p["type"] == "screen"]
    assert android_screens and all(
        p["event"] == p["properties"]["name"] and "name" not in p for p in android_screens
    )
    ios_screens = [p for p in ios if p["type"] == "screen"]
    assert ios_screens and all(p["name"] == p["properties"]["name"] for p in ios_screens)
    lifecycle = Counter(p.get("event") for p in android + ios if p["type"] == "track")
    assert lifecycle["Application Installed"] and lifecycle["Application Opened"]
    assert lifecycle["Application Backgrounded"]
    assert all(e.route == "/v1/batch" for e in events if e.sdk.platform in ("android", "ios"))


def test_server_events_look_like_the_python_sdk(events: list[Event]) -> None:
    server = [e for e in events if e.sdk.platform == "server"]
    assert {e.payload["event"] for e in server} >= {"Order Completed", "Order Shipped"}
    for event in server:
        payload = event.payload
        assert payload["channel"] == "server" and payload["userId"]
        assert payload["context"]["library"]["name"] == "analytics-python"
        assert "originalTimestamp" not in payload and "sentAt" not in payload
    renewals = [
        e
        for e in generate(seed=7, events=20_000, days=40, start=START)
        if e.payload.get("event") == "Subscription Renewed"
    ]
    assert renewals and all(r.payload["properties"]["revenue"] > 0 for r in renewals)


def test_some_people_churn_and_some_return(events: list[Event]) -> None:
    active_days: dict[str, set[date]] = defaultdict(set)
    for event in events:
        if event.sdk.platform != "server":
            active_days[event.person].add(_when(event.payload["timestamp"]).date())
    counts = Counter(len(days) for days in active_days.values())
    assert counts[1] >= len(active_days) * 0.25  # came once, never again
    assert sum(n for days, n in counts.items() if days >= 3) >= len(active_days) * 0.1


def test_a_larger_run_keeps_the_people_of_a_smaller_one() -> None:
    small = generate(seed=5, events=500, days=7, start=START)
    large = generate(seed=5, events=1_500, days=7, start=START)
    people = {e.person for e in small}
    assert people < {e.person for e in large}
    differing = [
        person
        for person in people
        if [e.payload for e in small if e.person == person]
        != [e.payload for e in large if e.person == person]
    ]
    assert len(differing) <= 1  # only the last person drawn is cut short by the smaller count
