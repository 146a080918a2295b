"""Enrichment rules, each against an expectation worked out independently in the test."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.collect.conftest import GOOD_EVENT, WEB_KEY, Harness

RFC3339_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def expected_rudder_id(user_id: str, anonymous_id: str) -> str:
    digest = bytearray(hashlib.md5(f"{user_id}:{anonymous_id}".encode()).digest())
    digest[6] = (digest[6] & 0x0F) | 0x40
    digest[8] = (digest[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(digest)))


@pytest.mark.parametrize(
    ("ids", "user", "anon"),
    [
        ({"userId": "u-1", "anonymousId": "a-1"}, "u-1", "a-1"),
        ({"anonymousId": "a-1"}, "", "a-1"),
        ({"userId": "u-1"}, "u-1", ""),
        ({"userId": "  u-1 ", "anonymousId": "\ta-1\n"}, "u-1", "a-1"),
        ({"userId": 12345, "anonymousId": "a"}, "12345", "a"),
        ({"userId": 12.0, "anonymousId": "a"}, "12", "a"),
        ({"userId": 1.5, "anonymousId": None}, "1.5", ""),
        ({"userId": "u\x00-1", "anonymousId": "a"}, "u-1", "a"),
    ],
)
def test_rudder_id_is_md5_uuid_of_trimmed_stringified_ids(
    hw: Harness, ids: dict[str, Any], user: str, anon: str
) -> None:
    assert hw.post("/v1/track", auth=WEB_KEY, json={"event": "x", **ids}).status == 200
    stored = hw.writer.last()
    assert stored["rudderId"] == expected_rudder_id(user, anon)
    parsed = uuid.UUID(stored["rudderId"])
    assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_rudder_id_is_the_same_for_every_event_of_a_user_and_differs_between_users(hw: Harness) -> None:
    batch = [
        {"userId": "u-1", "anonymousId": "a"},
        {"userId": "u-2", "anonymousId": "a"},
        {"userId": "u-1", "anonymousId": "a"},
    ]
    hw.post("/v1/batch", auth=WEB_KEY, json={"batch": batch})
    ids = [e["rudderId"] for e in hw.writer.events()]
    assert ids == [
        expected_rudder_id("u-1", "a"),
        expected_rudder_id("u-2", "a"),
        expected_rudder_id("u-1", "a"),
    ]


@pytest.mark.parametrize("given", [None, "", "   ", "\t"])
def test_missing_or_blank_message_id_gets_a_uuid4(hw: Harness, given: str | None) -> None:
    event = dict(GOOD_EVENT)
    if given is not None:
        event["messageId"] = given
    hw.track(event)
    generated = uuid.UUID(hw.writer.last()["messageId"])
    assert generated.version == 4 and generated.variant == uuid.RFC_4122
    hw.track(event)
    assert hw.writer.events()[0]["messageId"] != hw.writer.events()[1]["messageId"]


@pytest.mark.parametrize(
    ("given", "stored"), [(" m-1 ", "m-1"), ("ajs-next-1-abc", "ajs-next-1-abc"), (42, "42")]
)
def test_client_message_id_is_kept_trimmed(hw: Harness, given: Any, stored: str) -> None:
    hw.track({**GOOD_EVENT, "messageId": given})
    assert hw.writer.last()["messageId"] == stored


def test_received_at_is_the_servers_clock_in_ms_utc(hw: Harness) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    hw.track({**GOOD_EVENT, "receivedAt": "1999-01-01T00:00:00.000Z"})
    after = datetime.now(UTC) + timedelta(milliseconds=1)
    received = hw.writer.last()["receivedAt"]
    assert RFC3339_MS_Z.match(received)
    assert before <= datetime.fromisoformat(received) <= after


def test_every_event_of_a_request_shares_one_received_at(hw: Harness) -> None:
    hw.post("/v1/batch", auth=WEB_KEY, json={"batch": [GOOD_EVENT] * 50})
    assert len({e["receivedAt"] for e in hw.writer.events()}) == 1


def test_request_ip_is_the_peer_address(hw: Harness) -> None:
    hw.track(client=("192.0.2.44", 5000))
    assert hw.writer.last()["request_ip"] == "192.0.2.44"


def test_request_ip_is_the_first_forwarded_hop_with_spaces_removed(hw: Harness) -> None:
    hw.track(headers={"x-forwarded-for": " 203.0.113.5 , 10.0.0.1, 10.0.0.2"}, client=("10.0.0.2", 1))
    assert hw.writer.last()["request_ip"] == "203.0.113.5"


def test_forwarded_for_is_ignored_unless_trusted(make: Any) -> None:
    hw = make(trust_forwarded_for=False)
    hw.track(headers={"x-forwarded-for": "203.0.113.5"}, client=("10.0.0.2", 1))
    assert hw.writer.last()["request_ip"] == "10.0.0.2"


def test_client_request_ip_wins_and_a_blank_one_does_not(hw: Harness) -> None:
    hw.track({**GOOD_EVENT, "request_ip": "198.18.0.1"}, headers={"x-forwarded-for": "203.0.113.5"})
    assert hw.writer.last()["request_ip"] == "198.18.0.1"
    hw.track({**GOOD_EVENT, "request_ip": ""}, client=("192.0.2.1", 1))
    assert hw.writer.last()["request_ip"] == "192.0.2.1"


def test_context_ip_is_left_alone(hw: Harness) -> None:
    hw.track({**GOOD_EVENT, "context": {"ip": "0.0.0.0"}}, client=("192.0.2.1", 1))
    stored = hw.writer.last()
    assert stored["context"] == {"ip": "0.0.0.0"}
    assert stored["request_ip"] == "192.0.2.1"


def test_segment_batch_context_and_integrations_merge_with_the_event_winning(hw: Harness) -> None:
    body = {
        "writeKey": WEB_KEY,
        "context": {"library": {"name": "batch-lib"}, "ip": "1.1.1.1", "locale": "de-DE"},
        "integrations": {"All": False, "Mixpanel": True},
        "batch": [
            {
                "anonymousId": "a",
                "context": {"locale": "en-US", "app": {"name": "A"}},
                "integrations": {"All": True},
            },
            {"anonymousId": "b"},
            {"anonymousId": "c", "context": None},
            {"anonymousId": "d", "context": "not an object"},
        ],
    }
    assert hw.post("/v1/batch", json=body).status == 200
    first, second, third, fourth = hw.writer.events()
    assert first["context"] == {
        "library": {"name": "batch-lib"},
        "ip": "1.1.1.1",
        "locale": "en-US",
        "app": {"name": "A"},
    }
    assert first["integrations"] == {"All": True, "Mixpanel": True}
    assert second["context"] == body["context"] and second["integrations"] == body["integrations"]
    assert third["context"] == body["context"]
    assert fourth["context"] == "not an object"


def test_write_keys_are_never_stored(hw: Harness) -> None:
    body = {"writeKey": WEB_KEY, "batch": [{**GOOD_EVENT, "writeKey": WEB_KEY}, GOOD_EVENT]}
    assert hw.post("/v1/batch", json=body).status == 200
    for _source, payload in hw.writer.records:
        assert WEB_KEY.encode() not in payload
    assert all("writeKey" not in e for e in hw.writer.events())


def test_everything_else_the_client_sent_is_kept(hw: Harness) -> None:
    event = {
        "type": "screen",
        "event": "Home",
        "anonymousId": "a-1",
        "userId": "",
        "channel": "mobile",
        "properties": {"name": "Home", "automatic": False, "n": None, "list": [1, "2", {"3": 3.5}]},
        "userProperties": {},
        "context": {"traits": {"anonymousId": "a-1"}, "sessionId": 1754042400000},
        "integrations": {"All": True},
        "_metadata": {"bundled": ["Segment.io"]},
        "custom": "kept",
    }
    assert hw.post("/v1/batch", auth=WEB_KEY, json={"batch": [event]}).status == 200
    stored = hw.writer.last()
    for key, value in event.items():
        assert stored[key] == value, key
    assert "name" not in stored, "screen names are normalised in the warehouse, not here"
    added = set(stored) - set(event)
    assert added == {
        "messageId",
        "receivedAt",
        "request_ip",
        "rudderId",
        "sentAt",
        "originalTimestamp",
        "timestamp",
    }


def test_records_are_compact_json_tagged_with_the_source_id(hw: Harness) -> None:
    hw.track()
    source_id, payload = hw.writer.records[-1]
    assert source_id == "src-web"
    assert b": " not in payload and b", " not in payload
