"""The four time fields of an event, and the per-source rule that derives `timestamp`.

Everything is computed on naive UTC datetimes and written as RFC3339 with milliseconds and `Z`
(`2026-08-01T10:00:00.123Z`), the format rudder-server's processor writes. A time string already in
that form is written back as it came, which spares formatting on the common path.

    sentAt            = event.sentAt ?? batch.sentAt ?? receivedAt
    originalTimestamp = event.originalTimestamp ?? event.timestamp ?? receivedAt      (rudder, auto)
                      = event.timestamp ?? event.originalTimestamp ?? receivedAt      (segment)
    corrected         = receivedAt - (sentAt - originalTimestamp)

    rudder:  timestamp = event.timestamp if parseable, else corrected
    segment: timestamp = corrected (the client's `timestamp` is its clock, not the truth)
    auto:    the segment rule for an event from a client SDK (web/mobile channel, or a browser/mobile
             library name) that sent `timestamp` but no `originalTimestamp`; the rudder rule otherwise

"Parseable" is ISO 8601 as `datetime.fromisoformat` reads it (offsets, `Z`, any fraction, date-only);
a naive time is taken as UTC. Anything else (numbers, garbage) counts as absent. A correction that
would leave the representable range falls back to receivedAt.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

__all__ = [
    "CLIENT_LIBRARIES",
    "TimeMemo",
    "TimeRule",
    "format_time",
    "is_client_event",
    "parse_time",
    "stamp_times",
]

TimeRule = Literal["auto", "rudder", "segment"]

CLIENT_CHANNELS = frozenset({"web", "mobile"})
# context.library.name of the browser and mobile SDKs that send `timestamp` (Segment's family).
CLIENT_LIBRARIES = frozenset(
    {
        "analytics.js",
        "analytics-next",
        "analytics-kotlin",
        "analytics-swift",
        "analytics-ios",
        "analytics-android",
        "analytics-react-native",
        "@segment/analytics-react-native",
        "analytics-flutter",
        "RudderLabs JavaScript SDK",
        "com.rudderstack.android.sdk.core",
        "rudder-ios-library",
    }
)

_fromiso = datetime.fromisoformat


def parse_time(value: Any) -> datetime | None:
    """A naive UTC datetime, or None when `value` is not an ISO 8601 time."""
    if type(value) is not str or not value:
        return None
    if len(value) == 24 and value[23] == "Z":
        try:
            parsed = _fromiso(value[:23])
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is None:
            return parsed
    try:
        parsed = _fromiso(value.strip())
    except ValueError:
        return None
    offset = parsed.utcoffset()
    if offset is None:
        return parsed
    try:
        return parsed.replace(tzinfo=None) - offset
    except OverflowError:
        return None


def format_time(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds") + "Z"


def _written(raw: Any, parsed: datetime) -> str:
    """How a parsed time is stored: as it came if already in the stored form, else formatted."""
    if type(raw) is str and len(raw) == 24 and raw[23] == "Z" and raw[19] == "." and raw[10] == "T":
        return raw
    return format_time(parsed)


def is_client_event(event: dict[str, Any]) -> bool:
    """Sent by a browser or mobile SDK: its `timestamp` is a device clock, to be skew-corrected."""
    if event.get("channel") in CLIENT_CHANNELS:
        return True
    context = event.get("context")
    if type(context) is dict:
        library = context.get("library")
        if type(library) is dict:
            name = library.get("name")
            return type(name) is str and name in CLIENT_LIBRARIES
    return False


TimeMemo = dict[str, "tuple[datetime, str] | None"]


def _lookup(raw: Any, memo: TimeMemo) -> tuple[datetime, str] | None:
    """(parsed, stored text) of a time value, once per distinct string per request."""
    if type(raw) is not str:
        return None
    if raw in memo:
        return memo[raw]
    parsed = parse_time(raw)
    result = None if parsed is None else (parsed, _written(raw, parsed))
    memo[raw] = result
    return result


def stamp_times(
    event: dict[str, Any],
    rule: TimeRule,
    received: datetime,
    received_text: str,
    batch_sent: tuple[datetime, str] | None,
    memo: TimeMemo,
) -> None:
    """Write receivedAt, sentAt, originalTimestamp and timestamp into `event` by `rule`.

    `memo` caches parsed time strings for one request: the events of a batch usually share sentAt.
    """
    orig = _lookup(event.get("originalTimestamp"), memo)
    ts = _lookup(event.get("timestamp"), memo)
    sent = _lookup(event.get("sentAt"), memo) or batch_sent
    sent_at, sent_text = sent if sent is not None else (received, received_text)

    if rule == "segment" or (rule == "auto" and ts is not None and orig is None and is_client_event(event)):
        base = ts or orig
        timestamp_text = None
    else:
        base = orig or ts
        timestamp_text = ts[1] if ts is not None else None
    if base is None:
        base_at, base_text = received, received_text
    else:
        base_at, base_text = base
    if timestamp_text is None:
        if base_at == sent_at:
            timestamp_text = received_text
        else:
            timestamp_text = format_time(_corrected(received, sent_at, base_at))

    event["receivedAt"] = received_text
    event["sentAt"] = sent_text
    event["originalTimestamp"] = base_text
    event["timestamp"] = timestamp_text


def _corrected(received: datetime, sent: datetime, original: datetime) -> datetime:
    """receivedAt - (sentAt - originalTimestamp): the device's time moved onto the server's clock."""
    try:
        return received - (sent - original)
    except OverflowError:
        return received
