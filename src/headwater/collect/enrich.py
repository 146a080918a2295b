"""What the data plane adds to each accepted event (docs/ingest-api.md, Enrichment and Time).

- `messageId`: kept (trimmed) if the client sent one, else a new UUIDv4;
- `receivedAt`: the server's clock, one value for the whole request;
- `request_ip`: kept if the client sent one, else the first X-Forwarded-For hop (if trusted) or the peer;
- `rudderId`: md5-uuid of `userId + ":" + anonymousId` after stringifying and trimming both;
- `type`: forced to the route's type on single-event routes;
- Segment batch-level `context` and `integrations`: merged into each event, the event's keys winning;
- the four time fields, by the source's timestamp rule (`timestamps.py`);
- `writeKey` is removed: it is a credential and must not be stored.

Everything else the client sent is stored as sent. Screen-name normalisation and the like are
warehouse concerns and do not happen here. Work that is the same for every event of a request
(the clock, the address, the batch's sentAt) is done once per request in `Stamp`.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from hashlib import md5
from typing import Any

import orjson

from headwater.collect.timestamps import TimeMemo, TimeRule, format_time, parse_time, stamp_times

__all__ = ["Stamp", "enrich", "identifier", "new_message_id", "rudder_id"]


# The RFC 4122 variant keeps the top two bits of byte 8 at 10: hex digit d becomes 8 + (d & 3).
_VARIANT = {f"{d:x}": f"{8 + (d & 3):x}" for d in range(16)}


def _uuid_text(h: str) -> str:
    """32 hex digits as a version-4, RFC 4122 variant UUID string."""
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def new_message_id() -> str:
    return _uuid_text(os.urandom(16).hex())


def rudder_id(user_id: str, anonymous_id: str) -> str:
    """rudder-server's per-user id: md5(userId:anonymousId) shaped as a v4 UUID (rudder-go-kit GetMD5UUID)."""
    return _uuid_text(md5(f"{user_id}:{anonymous_id}".encode(), usedforsecurity=False).hexdigest())


def _json_number(value: float) -> str:
    """A float as Go's encoding/json writes it (integral values without a fraction)."""
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def identifier(value: Any) -> str:
    """An id as the gateway sees it: stringified (numbers allowed), NUL-free, trimmed; "" means absent."""
    kind = type(value)
    if kind is str:
        text: str = value
    elif value is None:
        return ""
    elif kind is int:
        return str(value)
    elif kind is float:
        return _json_number(value)
    elif kind is bool:
        return "true" if value else "false"
    else:
        text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text.strip()


_EPOCH = datetime(1970, 1, 1)
_clock: list[Any] = [-1, _EPOCH, ""]


def _server_clock() -> tuple[datetime, str]:
    """Now to the millisecond, as a naive UTC datetime and its stored text (formatted once per ms)."""
    ms = time.time_ns() // 1_000_000
    if ms != _clock[0]:
        moment = _EPOCH + timedelta(milliseconds=ms)
        _clock[:] = [ms, moment, format_time(moment)]
    return _clock[1], _clock[2]


class Stamp:
    """The per-request constants of enrichment."""

    __slots__ = (
        "batch_context",
        "batch_integrations",
        "batch_sent",
        "forced_type",
        "ip",
        "received",
        "received_text",
        "rule",
    )

    def __init__(
        self,
        *,
        ip: str,
        rule: TimeRule,
        forced_type: str | None = None,
        batch: dict[str, Any] | None = None,
        now: datetime | None = None,
    ) -> None:
        if now is None:
            self.received, self.received_text = _server_clock()
        else:
            moment = now.astimezone(UTC).replace(tzinfo=None)
            self.received = moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)
            self.received_text = format_time(self.received)
        self.ip = ip
        self.rule: TimeRule = rule
        self.forced_type = forced_type
        self.batch_sent: tuple[datetime, str] | None = None
        self.batch_context: dict[str, Any] | None = None
        self.batch_integrations: dict[str, Any] | None = None
        if batch is not None:
            sent = parse_time(batch.get("sentAt"))
            if sent is not None:
                self.batch_sent = (sent, format_time(sent))
            context = batch.get("context")
            if type(context) is dict and context:
                self.batch_context = context
            integrations = batch.get("integrations")
            if type(integrations) is dict and integrations:
                self.batch_integrations = integrations


def _merged(event: dict[str, Any], key: str, batch_value: dict[str, Any]) -> None:
    """The batch-level object under the event's own: the event wins key by key (a non-object wins whole)."""
    own = event.get(key)
    if own is None:
        event[key] = batch_value
    elif type(own) is dict:
        event[key] = {**batch_value, **own}


def enrich(events: list[dict[str, Any]], stamp: Stamp) -> None:
    """Enrich every event in place (they have passed validation: objects with an identifier)."""
    forced_type = stamp.forced_type
    ip = stamp.ip
    rule = stamp.rule
    received, received_text = stamp.received, stamp.received_text
    batch_sent = stamp.batch_sent
    times: TimeMemo = {}
    batch_context, batch_integrations = stamp.batch_context, stamp.batch_integrations
    ids: dict[tuple[str, str], str] = {}  # a batch usually comes from one device: hash each user once
    for event in events:
        if forced_type is not None:
            event["type"] = forced_type
        if "writeKey" in event:
            del event["writeKey"]
        if batch_context is not None:
            _merged(event, "context", batch_context)
        if batch_integrations is not None:
            _merged(event, "integrations", batch_integrations)

        message_id = event.get("messageId")
        if type(message_id) is str:
            trimmed = message_id.strip()
            if not trimmed:
                event["messageId"] = new_message_id()
            elif trimmed is not message_id:
                event["messageId"] = trimmed
        else:
            text = identifier(message_id)
            event["messageId"] = text or new_message_id()

        client_ip = event.get("request_ip")
        if client_ip is None or client_ip == "":
            event["request_ip"] = ip

        user = event.get("userId")
        user = user.strip() if type(user) is str and "\x00" not in user else identifier(user)
        anonymous = event.get("anonymousId")
        anonymous = (
            anonymous.strip() if type(anonymous) is str and "\x00" not in anonymous else identifier(anonymous)
        )
        pair = (user, anonymous)
        known = ids.get(pair)
        if known is None:
            known = ids[pair] = rudder_id(*pair)
        event["rudderId"] = known
        stamp_times(event, rule, received, received_text, batch_sent, times)
