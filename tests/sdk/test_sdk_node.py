"""@rudderstack/rudder-sdk-node and @segment/analytics-node, unchanged, run by node scripts in a subprocess.

Each script prints the request bodies the SDK posted (rudder: the exact bytes its done-callback gets,
gunzipped; segment: its `http_request` event), so the messageIds and timestamps compared are the SDK's own.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.sdk.npm_sdks import package_version
from tests.sdk.sdk_checks import Sent, Window, check_all, now_ms, sent_from_batch

pytestmark = [pytest.mark.slow, pytest.mark.node]


def all_calls(tag: str) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, Any]]:
    user, anon = f"user-{tag}", f"anon-{tag}"
    asked = {
        "event": f"Order Completed {tag}",
        "properties": {
            "revenue": 30.5,
            "currency": "EUR",
            "items": [{"sku": "a-1", "qty": 2}],
            "gift": False,
        },
        "traits": {"email": f"{tag}@example.com", "plan": "pro"},
    }
    calls = [
        (
            "track",
            {"userId": user, "anonymousId": anon, "event": asked["event"], "properties": asked["properties"]},
        ),
        ("identify", {"userId": user, "anonymousId": anon, "traits": asked["traits"]}),
        (
            "page",
            {"anonymousId": anon, "name": f"Pricing {tag}", "category": "Docs", "properties": {"path": "/p"}},
        ),
        ("screen", {"userId": user, "name": f"Home {tag}", "properties": {"section": "top"}}),
        ("group", {"userId": user, "groupId": f"group-{tag}", "traits": {"name": "Acme"}}),
        ("alias", {"userId": user, "previousId": f"old-{tag}"}),
    ]
    return calls, asked


def read_back(headwater: Any, sent: list[Sent]) -> list[dict[str, Any]]:
    ids = {s.event["messageId"] for s in sent}
    stored: list[dict[str, Any]] = headwater.events(where=lambda e: e.get("messageId") in ids, count=len(ids))
    return stored


def check_mapped(stored: list[dict[str, Any]], asked: dict[str, Any], tag: str) -> None:
    by_type = {e["type"]: e for e in stored}
    assert sorted(by_type) == ["alias", "group", "identify", "page", "screen", "track"], sorted(by_type)
    assert (by_type["track"]["event"], by_type["track"]["properties"]) == (
        asked["event"],
        asked["properties"],
    )
    assert by_type["identify"]["traits"] == asked["traits"]
    assert (by_type["page"]["name"], by_type["page"]["category"]) == (f"Pricing {tag}", "Docs")
    assert by_type["screen"]["name"] == f"Home {tag}"
    assert by_type["group"]["groupId"] == f"group-{tag}"
    assert by_type["alias"]["previousId"] == f"old-{tag}"


def test_rudder_sdk_node(headwater, node_send):
    """Basic auth, gzip on by default, per-event sentAt and originalTimestamp: all six calls land."""
    tag = uuid.uuid4().hex
    calls, asked = all_calls(tag)
    start = now_ms()
    report = node_send("send_rudder_node.mjs", headwater.url, headwater.write_key, calls)
    assert report["exit"] == 0 and not report["errors"], report
    assert all(req["gzip"] for req in report["requests"]), "rudder-sdk-node gzips by default"
    sent = [s for req in report["requests"] for s in sent_from_batch(req["body"])]
    assert sorted(report["messageIds"]) == sorted(s.event["messageId"] for s in sent)
    assert len(sent) == len(calls)

    stored = read_back(headwater, sent)
    check_all(
        stored,
        sent,
        window=Window(start, datetime.now(UTC)),
        channel="server",
        library={"name": "analytics-node", "version": package_version("@rudderstack/rudder-sdk-node")},
        timestamp_rule="corrected",
    )
    check_mapped(stored, asked, tag)
    # identify: the SDK copies traits into context.traits as well.
    identify = next(e for e in stored if e["type"] == "identify")
    assert identify["context"]["traits"] == asked["traits"]


def test_segment_analytics_node(headwater, node_send):
    """Basic auth plus body writeKey, batch-level sentAt only: all six calls land."""
    tag = uuid.uuid4().hex
    calls, asked = all_calls(tag)
    start = now_ms()
    report = node_send("send_segment_node.mjs", headwater.url, headwater.write_key, calls)
    assert report["exit"] == 0 and not report["errors"], report
    for req in report["requests"]:
        assert req["url"] == headwater.url + "/v1/batch"
        assert req["body"]["writeKey"] == headwater.write_key
        assert req["headers"]["Authorization"].startswith("Basic ")
    sent = [s for req in report["requests"] for s in sent_from_batch(req["body"])]
    assert sorted(report["messageIds"]) == sorted(s.event["messageId"] for s in sent)
    assert len(sent) == len(calls)

    stored = read_back(headwater, sent)
    check_all(
        stored,
        sent,
        window=Window(start, datetime.now(UTC)),
        channel=None,
        library={"name": "@segment/analytics-node", "version": package_version("@segment/analytics-node")},
        timestamp_rule="verbatim",
    )
    check_mapped(stored, asked, tag)


@pytest.mark.parametrize("script", ["send_rudder_node.mjs", "send_segment_node.mjs"])
@pytest.mark.parametrize(("key", "status"), [("disabled", 404), ("unknown", 401)])
def test_node_sdk_refused_key(headwater, node_send, script, key, status):
    """The node SDKs see a disabled source's key and an unknown key refused, and nothing lands."""
    tag = uuid.uuid4().hex
    write_key = headwater.disabled_write_key if key == "disabled" else f"no-such-key-{tag}"
    report = node_send(
        script, headwater.url, write_key, [("track", {"userId": f"u-{tag}", "event": f"Refused {tag}"})]
    )
    assert report["exit"] == 1, report
    assert len(report["errors"]) == 1 and str(status) in report["errors"][0], report["errors"]

    marker = node_send(
        script,
        headwater.url,
        headwater.write_key,
        [("track", {"userId": f"u-{tag}", "event": f"Accepted {tag}"})],
    )
    assert marker["exit"] == 0, marker
    headwater.events(where=lambda e: e.get("messageId") in marker["messageIds"], count=1)
    assert headwater.events(where=lambda e: e.get("event") == f"Refused {tag}") == []
