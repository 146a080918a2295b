"""The demo against a real `headwater up`: everything is stored, on its simulated time."""

from __future__ import annotations

from datetime import date

import pytest

from headwater.demo import generate, send


@pytest.mark.slow
def test_demo_traffic_is_stored_with_its_historical_timestamps(headwater) -> None:
    events = generate(seed=101, events=1_200, days=3, start=date(2026, 6, 1))
    report = send(events, headwater.url, headwater.write_key, concurrency=4)
    assert report.events == len(events)
    sent = {e.payload["messageId"]: e for e in events}
    stored = headwater.events(lambda e: e.get("messageId") in sent, count=len(events))
    assert len({e["messageId"] for e in stored}) == len(events)
    for event in stored:
        original = sent[event["messageId"]]
        # The explicit timestamp survives, so history is not collapsed to the moment of receipt.
        assert event["timestamp"] == original.payload["timestamp"]
        assert event.get("userId") == original.payload.get("userId")
        assert event["type"] == original.payload["type"]
