"""The timestamp rule in each mode, with hand-computed numbers (unit) and through the wire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from headwater.collect.enrich import Stamp, enrich
from headwater.collect.timestamps import format_time, parse_time
from tests.collect.conftest import RUDDER_KEY, SEGMENT_KEY, WEB_KEY, Harness

NOW = datetime(2026, 8, 1, 10, 0, 10, 987654, tzinfo=UTC)  # receivedAt is this truncated to ms
RECEIVED = "2026-08-01T10:00:10.987Z"


def run(event: dict[str, Any], rule: str, batch: dict[str, Any] | None = None) -> dict[str, Any]:
    stamp = Stamp(ip="192.0.2.1", rule=rule, batch=batch, now=NOW)  # type: ignore[arg-type]
    enrich([event], stamp)
    return {k: event[k] for k in ("receivedAt", "sentAt", "originalTimestamp", "timestamp")}


RUDDER_SDK = {"originalTimestamp": "2026-08-01T10:00:00.100Z", "sentAt": "2026-08-01T10:00:05.100Z"}
SEGMENT_SDK = {"timestamp": "2026-08-01T09:59:58.000Z", "context": {"library": {"name": "analytics-kotlin"}}}


@pytest.mark.parametrize("rule", ["auto", "rudder", "segment"])
def test_original_timestamp_is_corrected_for_skew_in_every_mode(rule: str) -> None:
    # device clock 5 s between creating and sending; received at 10.987 -> happened at 05.987
    assert run(dict(RUDDER_SDK), rule) == {
        "receivedAt": RECEIVED,
        "sentAt": "2026-08-01T10:00:05.100Z",
        "originalTimestamp": "2026-08-01T10:00:00.100Z",
        "timestamp": "2026-08-01T10:00:05.987Z",
    }


def test_rudder_explicit_timestamp_wins() -> None:
    event = {**RUDDER_SDK, "timestamp": "2026-07-31T23:00:00.000+02:00"}
    assert run(event, "rudder")["timestamp"] == "2026-07-31T21:00:00.000Z"
    assert (
        run({**RUDDER_SDK, "timestamp": "2026-07-31T21:00:00.000Z"}, "auto")["timestamp"]
        == "2026-07-31T21:00:00.000Z"
    )


def test_segment_mode_treats_the_client_timestamp_as_original_and_corrects_it() -> None:
    event = {**RUDDER_SDK, "timestamp": "2026-08-01T10:00:01.100Z"}
    # originalTimestamp = timestamp (01.100); sentAt 05.100; corrected = 10.987 - 4.000 = 06.987
    assert run(event, "segment") == {
        "receivedAt": RECEIVED,
        "sentAt": "2026-08-01T10:00:05.100Z",
        "originalTimestamp": "2026-08-01T10:00:01.100Z",
        "timestamp": "2026-08-01T10:00:06.987Z",
    }


def test_segment_batch_level_sent_at_is_used_when_the_event_has_none() -> None:
    batch = {"sentAt": "2026-08-01T10:00:03.000Z"}
    # original 09:59:58.000, sent 10:00:03.000 -> 5 s skew -> 10:00:05.987
    for rule in ("segment", "auto"):
        assert run(dict(SEGMENT_SDK), rule, batch) == {
            "receivedAt": RECEIVED,
            "sentAt": "2026-08-01T10:00:03.000Z",
            "originalTimestamp": "2026-08-01T09:59:58.000Z",
            "timestamp": "2026-08-01T10:00:05.987Z",
        }


def test_event_sent_at_wins_over_the_batch_one() -> None:
    event = {**SEGMENT_SDK, "sentAt": "2026-08-01T09:59:59.000Z"}
    out = run(event, "segment", {"sentAt": "2026-08-01T10:00:03.000Z"})
    assert out["sentAt"] == "2026-08-01T09:59:59.000Z"
    assert out["timestamp"] == "2026-08-01T10:00:09.987Z"


def test_rudder_mode_keeps_a_lone_timestamp_verbatim() -> None:
    out = run(dict(SEGMENT_SDK), "rudder", {"sentAt": "2026-08-01T10:00:03.000Z"})
    assert out["timestamp"] == "2026-08-01T09:59:58.000Z"
    assert out["originalTimestamp"] == "2026-08-01T09:59:58.000Z"


@pytest.mark.parametrize(
    ("extra", "corrected"),
    [
        ({"channel": "web"}, True),
        ({"channel": "mobile"}, True),
        ({"context": {"library": {"name": "analytics.js"}}}, True),
        ({"context": {"library": {"name": "analytics-swift"}}}, True),
        ({"context": {"library": {"name": "analytics-python"}}}, False),
        ({"channel": "server"}, False),
        ({}, False),
    ],
)
def test_auto_mode_corrects_a_lone_timestamp_only_from_client_sdks(
    extra: dict[str, Any], corrected: bool
) -> None:
    event = {"timestamp": "2026-08-01T09:59:58.000Z", **extra}
    out = run(event, "auto", {"sentAt": "2026-08-01T10:00:03.000Z"})
    assert out["timestamp"] == ("2026-08-01T10:00:05.987Z" if corrected else "2026-08-01T09:59:58.000Z")


def test_no_client_times_at_all_means_received_at_everywhere() -> None:
    for rule in ("auto", "rudder", "segment"):
        assert set(run({}, rule).values()) == {RECEIVED}


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2026-08-01T12:00:00+02:00", "2026-08-01T10:00:00.000Z"),
        ("2026-08-01T10:00:00.123456Z", "2026-08-01T10:00:00.123Z"),
        ("2026-08-01T10:00:00.123999+00:00", "2026-08-01T10:00:00.123Z"),
        ("2026-08-01T10:00:00", "2026-08-01T10:00:00.000Z"),
        ("2026-08-01 10:00:00.5", "2026-08-01T10:00:00.500Z"),
        ("2026-08-01", "2026-08-01T00:00:00.000Z"),
    ],
)
def test_time_formats_are_normalised_to_ms_utc(given: str, stored: str) -> None:
    out = run({"timestamp": given, "originalTimestamp": given, "sentAt": given}, "rudder")
    assert out["originalTimestamp"] == out["sentAt"] == out["timestamp"] == stored


@pytest.mark.parametrize("garbage", ["yesterday", "", 1754042400000, None, {"t": 1}, "2026-13-01T00:00:00Z"])
def test_unparseable_times_count_as_absent(garbage: Any) -> None:
    out = run({"originalTimestamp": garbage, "sentAt": garbage, "timestamp": garbage}, "rudder")
    assert set(out.values()) == {RECEIVED}


def test_absurd_skew_cannot_crash_the_correction() -> None:
    out = run({"originalTimestamp": "0001-01-01T00:00:00Z", "sentAt": "9999-12-31T23:59:59Z"}, "rudder")
    assert out["timestamp"] == RECEIVED
    out = run({"originalTimestamp": "9999-12-31T23:59:59Z", "sentAt": "0001-01-01T00:00:00Z"}, "rudder")
    assert out["timestamp"] == RECEIVED


def test_parse_and_format_round_trip() -> None:
    moment = datetime(2026, 8, 1, 10, 0, 0, 123000)
    assert parse_time(format_time(moment)) == moment
    assert parse_time("2026-08-01T10:00:00.123-01:30") == moment + timedelta(hours=1, minutes=30)


# -- through the wire: expected values computed from the stored receivedAt ---------------------------


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@pytest.mark.parametrize(
    ("key", "expect_corrected"), [(WEB_KEY, True), (RUDDER_KEY, False), (SEGMENT_KEY, True)]
)
def test_wire_timestamp_rule_follows_the_sources_mode(hw: Harness, key: str, expect_corrected: bool) -> None:
    body = {"sentAt": "2026-08-01T10:00:03.000Z", "batch": [{"anonymousId": "a", **SEGMENT_SDK}]}
    assert hw.post("/v1/batch", auth=key, json=body).status == 200
    stored = hw.writer.last()
    received = _at(stored["receivedAt"])
    corrected = received - (_at("2026-08-01T10:00:03.000Z") - _at("2026-08-01T09:59:58.000Z"))
    assert stored["timestamp"] == (_ms(corrected) if expect_corrected else "2026-08-01T09:59:58.000Z")
    assert stored["originalTimestamp"] == "2026-08-01T09:59:58.000Z"
    assert stored["sentAt"] == "2026-08-01T10:00:03.000Z"


def test_wire_rudder_sdk_event_is_skew_corrected(hw: Harness) -> None:
    hw.track(
        {
            "anonymousId": "a",
            "originalTimestamp": "2026-08-01T10:00:00.100Z",
            "sentAt": "2026-08-01T10:00:00.350Z",
        }
    )
    stored = hw.writer.last()
    assert stored["timestamp"] == _ms(_at(stored["receivedAt"]) - timedelta(milliseconds=250))
