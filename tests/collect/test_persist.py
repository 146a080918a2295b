"""Acknowledged means durable: one append per request, 5xx when the log fails, lenient quarantine."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from headwater.log.errors import LogClosedError, LogError
from tests.collect.conftest import GOOD_EVENT, LENIENT_KEY, WEB_KEY, Harness


def test_a_request_is_one_append_with_all_its_events(hw: Harness) -> None:
    batch = [{**GOOD_EVENT, "messageId": f"m-{i}"} for i in range(100)]
    assert hw.post("/v1/batch", auth=WEB_KEY, json={"batch": batch}).status == 200
    assert hw.writer.calls == 1
    assert [e["messageId"] for e in hw.writer.events()] == [f"m-{i}" for i in range(100)]


@pytest.mark.parametrize(
    "error", [OSError(28, "No space left on device"), LogError("segment broken"), RuntimeError("bug")]
)
def test_failed_append_is_500_and_health_503_until_an_append_succeeds(hw: Harness, error: Exception) -> None:
    hw.writer.fail = error
    response = hw.track()
    assert (response.status, response.body) == (500, b"failed to persist events\n")
    health = hw.get("/health")
    assert health.status == 503
    assert health.json()["db"] == "DOWN"
    hw.writer.fail = None
    assert hw.get("/health").status == 503, "health recovers only once an append succeeds"
    hw.assert_still_serves()
    assert hw.get("/health").status == 200


def test_closed_writer_is_503(hw: Harness) -> None:
    hw.writer.fail = LogClosedError("closed")
    response = hw.track()
    assert (response.status, response.body) == (503, b"service unavailable\n")


def test_slow_append_is_504_and_the_late_success_restores_health(make: Any) -> None:
    hw = make(write_timeout_seconds=0.05)

    async def scenario() -> tuple[int, bytes, int, int]:
        hw.writer.gate = asyncio.Event()
        response = await hw.client.arequest("POST", "/v1/track", auth=WEB_KEY, json=GOOD_EVENT)
        during = (await hw.client.arequest("GET", "/health")).status
        hw.writer.gate.set()
        for _ in range(10):
            await asyncio.sleep(0)
        after = (await hw.client.arequest("GET", "/health")).status
        return response.status, response.body, during, after

    status, body, during, after = hw.client.run(scenario())
    assert (status, body) == (504, b"gateway timeout\n")
    assert (during, after) == (503, 200)
    assert len(hw.writer.records) == 1, "the timed-out append was not cancelled; the client will resend"
    hw.writer.gate = None
    hw.assert_still_serves()


def test_segment_style_5xx_is_json(hw: Harness) -> None:
    hw.writer.fail = OSError("disk")
    response = hw.post("/v1/b", json={"writeKey": WEB_KEY, "batch": [GOOD_EVENT]})
    assert response.status == 500
    assert response.json() == {"code": "server_error", "message": "failed to persist events"}


def test_lenient_source_stores_good_events_and_quarantines_bad_ones(hw: Harness) -> None:
    batch = [
        {**GOOD_EVENT, "messageId": "good-1"},
        {"type": "track", "event": "no ids", "writeKey": LENIENT_KEY},
        "not an object",
        {**GOOD_EVENT, "messageId": "good-2"},
    ]
    response = hw.post("/v1/batch", auth=LENIENT_KEY, json={"batch": batch})
    assert (response.status, response.body) == (200, b"ok")
    assert [e["messageId"] for e in hw.writer.events()] == ["good-1", "good-2"]
    assert {source for source, _ in hw.quarantine.records} == {"src-lenient"}
    quarantined = hw.quarantine.events()
    assert quarantined == [
        {"reason": "has_identifier", "event": {"type": "track", "event": "no ids"}},
        {"reason": "event_is_object", "event": "not an object"},
    ]
    for _source, payload in hw.quarantine.records:
        assert LENIENT_KEY.encode() not in payload


def test_lenient_request_with_only_bad_events_is_200_and_appends_nothing_to_the_log(hw: Harness) -> None:
    response = hw.post("/v1/track", auth=LENIENT_KEY, json={"event": "no ids"})
    assert response.status == 200
    assert hw.writer.calls == 0
    assert hw.quarantine.events() == [{"reason": "has_identifier", "event": {"event": "no ids"}}]


def test_lenient_without_a_quarantine_log_drops_bad_events(make: Any) -> None:
    hw = make(quarantine=False)
    response = hw.post("/v1/batch", auth=LENIENT_KEY, json={"batch": [GOOD_EVENT, {"event": "no ids"}]})
    assert response.status == 200
    assert len(hw.writer.records) == 1


def test_per_event_cap_refuses_strict_requests_and_quarantines_lenient_events(make: Any) -> None:
    hw = make(max_event_bytes=1000)
    big = {**GOOD_EVENT, "properties": {"blob": "x" * 2000}}
    response = hw.post("/v1/batch", auth=WEB_KEY, json={"batch": [GOOD_EVENT, big]})
    assert (response.status, response.body) == (413, b"event size exceeds max limit\n")
    assert hw.writer.calls == 0
    response = hw.post("/v1/batch", auth=LENIENT_KEY, json={"batch": [GOOD_EVENT, big]})
    assert response.status == 200
    assert len(hw.writer.records) == 1
    (entry,) = hw.quarantine.events()
    assert entry["reason"] == "event_size"
    assert entry["event"]["properties"]["blob"] == "x" * 2000
    hw.assert_still_serves()


def test_lenient_event_too_deep_to_store_is_quarantined_as_a_note(hw: Harness) -> None:
    deep = b'{"d":' * 400 + b"1" + b"}" * 400
    body = b'{"batch":[{"anonymousId":"a"},{"anonymousId":"b","p":' + deep + b"}]}"
    response = hw.post("/v1/batch", auth=LENIENT_KEY, body=body)
    assert response.status == 200
    assert len(hw.writer.records) == 1
    (entry,) = hw.quarantine.events()
    assert entry["reason"] == "serializable"


def test_quarantine_failure_fails_the_request(hw: Harness) -> None:
    hw.quarantine.fail = OSError("disk")
    response = hw.post("/v1/batch", auth=LENIENT_KEY, json={"batch": [GOOD_EVENT, {"event": "no ids"}]})
    assert response.status == 500
    assert hw.writer.calls == 0


def test_stored_payload_is_exactly_the_enriched_event(hw: Harness) -> None:
    hw.track()
    source_id, payload = hw.writer.records[-1]
    assert source_id == "src-web"
    assert orjson.dumps(orjson.loads(payload)) == payload
