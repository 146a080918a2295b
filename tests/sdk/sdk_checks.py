"""Field-by-field checks of a stored event against the event an SDK put on the wire.

Each SDK test captures what the real SDK sent (request bodies, not what the test asked for: the SDKs
add ids, timestamps, library info and sometimes move fields), reads the stored events back from the
log, and hands both here. Keeping the rules in one place makes every SDK held to the same contract
(docs/ingest-api.md, Enrichment and Time).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

RFC3339_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

# Fields the server computes or normalises: compared by their own rules below, not for equality.
SERVER_FIELDS = frozenset(
    {"receivedAt", "request_ip", "rudderId", "sentAt", "originalTimestamp", "timestamp", "messageId"}
)
# The write key is a credential: sent in some bodies (Segment), never stored.
IGNORED_FIELDS = frozenset({"writeKey"})
ID_FIELDS = ("anonymousId", "userId")

# What the stored `timestamp` must be (the default `auto` timestamp_mode, docs/ingest-api.md, Time):
# - "corrected": receivedAt - (sentAt - originalTimestamp). RudderStack SDKs (they send originalTimestamp,
#   no timestamp) and Segment's browser/mobile SDKs (a `timestamp` from a device clock that may be wrong).
# - "verbatim": the `timestamp` the client sent. Server SDKs (python, node): their clock is trusted.
TimestampRule = Literal["corrected", "verbatim"]


def md5_uuid(user_id: str, anonymous_id: str) -> str:
    """rudder-server's rudderId: md5(userId + ":" + anonymousId) as a version-4, RFC 4122 uuid."""
    digest = bytearray(hashlib.md5(f"{user_id}:{anonymous_id}".encode()).digest())
    digest[6] = (digest[6] & 0x0F) | 0x40
    digest[8] = (digest[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(digest)))


def norm_id(value: object) -> str:
    """The gateway's view of an id: numbers stringified, blanks and null mean absent."""
    return "" if value is None else str(value).strip()


def parse_time(value: object) -> datetime:
    """An SDK timestamp (ms `Z` strings, python isoformat with µs and +00:00) as an aware datetime."""
    assert isinstance(value, str), f"expected a timestamp string, got {value!r}"
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, f"timestamp without a zone: {value!r}"
    return parsed.astimezone(UTC)


def stored_time(event: Mapping[str, Any], key: str) -> datetime:
    """A server-written time field: must be RFC3339 with milliseconds in UTC (`…T10:00:00.123Z`)."""
    value = event.get(key)
    assert isinstance(value, str) and RFC3339_MS_Z.match(value), (
        f"{key} must be RFC3339 with ms and Z, got {value!r} in {event.get('messageId')}"
    )
    return parse_time(value)


def assert_close(actual: datetime, expected: datetime, what: str, slack_ms: int = 1) -> None:
    """Equal to the millisecond; 1 ms of slack absorbs truncation versus rounding of µs inputs."""
    assert abs(actual - expected) <= timedelta(milliseconds=slack_ms), (
        f"{what}: stored {actual}, want {expected}"
    )


def now_ms() -> datetime:
    """Now, truncated to the millisecond like receivedAt, so a window opened now contains this millisecond."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class Window:
    """The wall-clock span of one test's sends: every receivedAt it causes must fall inside."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Sent:
    """One event as the SDK put it on the wire, with its request's batch-level sentAt (if any)."""

    event: Mapping[str, Any]
    batch_sent_at: str | None = None


def sent_from_batch(body: Mapping[str, Any]) -> list[Sent]:
    """The events of a `{"batch": [...], "sentAt": ...}` request body."""
    batch_sent_at = body.get("sentAt")
    return [Sent(event, batch_sent_at if isinstance(batch_sent_at, str) else None) for event in body["batch"]]


def subset_mismatches(sent: Any, stored: Any, path: str) -> list[str]:
    """Where `stored` lacks or changes something `sent` had (the server may add, never alter)."""
    if isinstance(sent, Mapping):
        if not isinstance(stored, Mapping):
            return [f"{path}: sent an object, stored {stored!r}"]
        out: list[str] = []
        for key, value in sent.items():
            if key not in stored:
                out.append(f"{path}.{key}: sent {value!r}, not stored")
            else:
                out.extend(subset_mismatches(value, stored[key], f"{path}.{key}"))
        return out
    return [] if sent == stored else [f"{path}: sent {sent!r}, stored {stored!r}"]


def check_event(
    stored: Mapping[str, Any],
    sent: Mapping[str, Any],
    *,
    window: Window,
    batch_sent_at: str | None = None,
    timestamp_rule: TimestampRule,
    library: Mapping[str, str] | None = None,
    channel: str | None = None,
) -> None:
    """Assert that `stored` is `sent` as the contract enriches it.

    `batch_sent_at` is the request-level sentAt (Segment and python SDKs put it only there).
    `library` and `channel` are what this SDK is documented to set; None for channel means it sets none.
    """
    mid = sent.get("messageId")
    assert stored.get("messageId") == mid, (
        f"messageId changed: sent {mid!r}, stored {stored.get('messageId')!r}"
    )

    # Every field the SDK sent is stored unchanged (context may gain keys, never lose or alter them).
    problems: list[str] = []
    for key, value in sent.items():
        if key in SERVER_FIELDS or key in IGNORED_FIELDS or key in ID_FIELDS:
            continue
        if key == "context":
            problems.extend(subset_mismatches(value, stored.get("context"), "context"))
        elif stored.get(key) != value:
            problems.append(f"{key}: sent {value!r}, stored {stored.get(key)!r}")
    for key in ID_FIELDS:
        if norm_id(stored.get(key)) != norm_id(sent.get(key)):
            problems.append(f"{key}: sent {sent.get(key)!r}, stored {stored.get(key)!r}")
    assert not problems, f"event {mid} not stored as sent:\n  " + "\n  ".join(problems)

    assert "writeKey" not in stored, f"the write key was stored with event {mid}"

    # What this SDK itself is documented to set.
    if library is not None:
        stored_library = stored.get("context", {}).get("library", {})
        got = {key: stored_library.get(key) for key in library}
        assert got == dict(library), f"context.library: stored {stored_library!r}, want {dict(library)!r}"
    assert stored.get("channel") == channel, f"channel: stored {stored.get('channel')!r}, want {channel!r}"

    # Gateway enrichment (docs/ingest-api.md, Enrichment).
    assert stored.get("request_ip") == "127.0.0.1", f"request_ip: {stored.get('request_ip')!r}"
    want_rudder_id = md5_uuid(norm_id(stored.get("userId")), norm_id(stored.get("anonymousId")))
    assert stored.get("rudderId") == want_rudder_id, (
        f"rudderId: {stored.get('rudderId')!r}, want {want_rudder_id}"
    )
    received = stored_time(stored, "receivedAt")
    assert window.start <= received <= window.end, (
        f"receivedAt {received} outside {window.start}..{window.end}"
    )

    # Time fields (docs/ingest-api.md, Time).
    sent_at_raw = sent.get("sentAt") or batch_sent_at
    sent_at = parse_time(sent_at_raw) if sent_at_raw else received
    assert_close(stored_time(stored, "sentAt"), sent_at, "sentAt")
    orig_raw = sent.get("originalTimestamp") or sent.get("timestamp")
    original = parse_time(orig_raw) if orig_raw else received
    assert_close(stored_time(stored, "originalTimestamp"), original, "originalTimestamp")

    timestamp = stored_time(stored, "timestamp")
    if timestamp_rule == "verbatim":
        assert sent.get("timestamp"), "verbatim applies to events that carry a timestamp"
        assert_close(timestamp, parse_time(sent["timestamp"]), "timestamp (kept as sent)")
    else:
        # 2 ms: µs inputs (python) are truncated to ms on both sides of the subtraction.
        corrected = received - (sent_at - original)
        assert_close(
            timestamp, corrected, "timestamp = receivedAt - (sentAt - originalTimestamp)", slack_ms=2
        )


def check_all(stored_events: Iterable[Mapping[str, Any]], sent_events: Iterable[Sent], **kwargs: Any) -> None:
    """Pair stored and sent events by messageId; each sent event must be stored exactly once."""
    stored_by_id: dict[str, Mapping[str, Any]] = {}
    for event in stored_events:
        mid = event.get("messageId")
        assert isinstance(mid, str), f"stored event without messageId: {event!r}"
        assert mid not in stored_by_id, f"messageId {mid} stored twice"
        stored_by_id[mid] = event
    sent_list = list(sent_events)
    sent_ids = [s.event["messageId"] for s in sent_list]
    assert len(set(sent_ids)) == len(sent_ids), f"the SDK sent a messageId twice: {sent_ids}"
    assert set(stored_by_id) == set(sent_ids), f"stored {sorted(stored_by_id)} but sent {sorted(sent_ids)}"
    for sent in sent_list:
        check_event(
            stored_by_id[sent.event["messageId"]], sent.event, batch_sent_at=sent.batch_sent_at, **kwargs
        )
