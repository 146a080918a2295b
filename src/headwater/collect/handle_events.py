"""The event routes: single events, batch, import, the Segment one-letter aliases, and /v1/m.

Order of work for one request (rudder-server's order, except that the body is read under the cap
first, so an oversized body gets 413 before its JSON is looked at):

1. write key from Basic auth or `?writeKey=`: a wrong one is refused before the body is read;
2. the body, decoded and capped (413 / 400);
3. JSON (400 `invalid json`);
4. otherwise the write key from the body (Segment), then its source (401 / 404);
5. the event list: the body itself on single-event routes, `batch` otherwise (400 `empty batch payload`);
6. the per-event checks on every event (strict: first failure refuses all; lenient: set aside);
7. enrichment, then serialisation with the post-enrichment checks;
8. one append of all the request's events; then `ok`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from headwater.collect.auth import CHECK_PRESENT, body_write_key, find_source, request_write_key
from headwater.collect.body import read_body
from headwater.collect.enrich import Stamp, enrich
from headwater.collect.errors import RequestRefused
from headwater.collect.request import Request
from headwater.collect.responses import NO_WRITE_KEY_HEADER, OK, Reply
from headwater.collect.state import AppState
from headwater.collect.validate import (
    EVENT_SIZE,
    HAS_EVENTS,
    IS_JSON,
    SERIALIZABLE,
    Check,
    first_failure,
    warning_counts,
)
from headwater.control import Source

__all__ = ["EVENT_ROUTES", "EventRoute", "EventsHandler"]

_loads = orjson.loads
_dumps = orjson.dumps


@dataclass(frozen=True, slots=True)
class EventRoute:
    """One event path: `label` is its metric label, `forced_type` set for single-event routes."""

    label: str
    forced_type: str | None
    segment: bool = False
    missing_key: Reply = NO_WRITE_KEY_HEADER

    @property
    def batch_shaped(self) -> bool:
        return self.forced_type is None


def _event_routes() -> dict[str, EventRoute]:
    routes: dict[str, EventRoute] = {}
    for kind in ("track", "identify", "page", "screen", "group", "alias"):
        routes[f"/v1/{kind}"] = EventRoute(f"/v1/{kind}", kind)
        routes[f"/v1/{kind[0]}"] = EventRoute(f"/v1/{kind[0]}", kind, segment=True)
    routes["/v1/batch"] = EventRoute("/v1/batch", None)
    routes["/v1/import"] = EventRoute("/v1/import", None)
    routes["/v1/b"] = EventRoute("/v1/b", None, segment=True)
    return routes


EVENT_ROUTES: dict[str, EventRoute] = _event_routes()


def batch_events(body: Any) -> tuple[list[Any], dict[str, Any]]:
    """The events of a batch body. Like rudder's gjson `Array()`: a non-list `batch` is a batch of one."""
    if type(body) is not dict:
        raise RequestRefused(HAS_EVENTS.reply, HAS_EVENTS.name)
    batch = body.get("batch")
    if type(batch) is list:
        events = batch
    elif batch is None:
        events = []
    else:
        events = [batch]
    if not events:
        raise RequestRefused(HAS_EVENTS.reply, HAS_EVENTS.name)
    return events, body


def _without_write_key(event: Any) -> Any:
    if type(event) is dict and "writeKey" in event:
        return {k: v for k, v in event.items() if k != "writeKey"}
    return event


def _quarantine_payload(check: Check, event: Any) -> bytes:
    try:
        return _dumps({"reason": check.name, "event": _without_write_key(event)})
    except TypeError:
        return _dumps({"reason": check.name, "event": None, "note": "event nested too deeply to store"})


class EventsHandler:
    """Turns requests on the event routes into one durable append each."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    async def handle(self, request: Request, route: EventRoute) -> None:
        request.route = route.label
        if route.segment:
            request.segment_style = True
        state = self.state
        key = request_write_key(request)
        source = find_source(request, state.sources, key) if key is not None else None
        raw = await read_body(request.receive, request.headers, state.settings.max_body_bytes)
        state.metrics.count_bytes(route.label, len(raw))
        try:
            body = _loads(raw)
        except ValueError:
            raise RequestRefused(IS_JSON.reply, IS_JSON.name) from None
        if source is None:
            key = body_write_key(body, route.batch_shaped)
            if key is None:
                raise RequestRefused(route.missing_key, CHECK_PRESENT)
            request.segment_style = True
            source = find_source(request, state.sources, key)
        if route.forced_type is not None:
            events: list[Any] = [body]
            batch = None
        else:
            events, batch = batch_events(body)
        stamp = Stamp(
            ip=request.client_ip(state.settings.trust_forwarded_for),
            rule=source.timestamp_mode,
            forced_type=route.forced_type,
            batch=batch,
        )
        await self.ingest(request, source, events, stamp)
        await request.reply(OK)

    async def ingest(self, request: Request, source: Source, events: list[Any], stamp: Stamp) -> None:
        """Validate, enrich, serialise and persist `events` for `source` (strict or lenient)."""
        strict = source.validation != "lenient"
        refused: list[tuple[Check, Any]] = []
        if strict:
            for event in events:
                failed = first_failure(event)
                if failed is not None:
                    raise RequestRefused(failed.reply, failed.name)
            good: list[dict[str, Any]] = events
        else:
            good = []
            for event in events:
                failed = first_failure(event)
                if failed is None:
                    good.append(event)
                else:
                    refused.append((failed, event))

        enrich(good, stamp)
        source_id = source.id
        max_event = self.state.settings.max_event_bytes
        try:
            payloads = [_dumps(event) for event in good]
        except TypeError:
            payloads = self._serialise_each(good, strict, refused)
        if max_event:
            kept = []
            for event, payload in zip(good, payloads, strict=True):
                if len(payload) <= max_event:
                    kept.append(payload)
                elif strict:
                    raise RequestRefused(EVENT_SIZE.reply, EVENT_SIZE.name)
                else:
                    refused.append((EVENT_SIZE, event))
            payloads = kept
        entries = [(source_id, payload) for payload in payloads]
        quarantined = self._set_aside(request, source, refused) if refused else []

        state = self.state
        await state.persister.persist(entries, quarantined)
        if entries:
            state.metrics.count_accepted(source.name, len(entries))
            state.metrics.observe_ack(_elapsed(request))
            for name, count in warning_counts(good).items():
                state.metrics.event_warnings.labels(name).inc(count)

    def _serialise_each(
        self, good: list[dict[str, Any]], strict: bool, refused: list[tuple[Check, Any]]
    ) -> list[bytes]:
        """The slow path when some event cannot be written (nested too deeply): find which."""
        payloads: list[bytes] = []
        keep: list[dict[str, Any]] = []
        for event in good:
            try:
                payloads.append(_dumps(event))
                keep.append(event)
            except TypeError:
                if strict:
                    raise RequestRefused(SERIALIZABLE.reply, SERIALIZABLE.name) from None
                refused.append((SERIALIZABLE, event))
        good[:] = keep
        return payloads

    def _set_aside(
        self, request: Request, source: Source, refused: list[tuple[Check, Any]]
    ) -> list[tuple[str, bytes]]:
        state = self.state
        by_check: dict[str, int] = {}
        for check, _event in refused:
            by_check[check.name] = by_check.get(check.name, 0) + 1
        for name, count in by_check.items():
            state.metrics.refusals.labels(name).inc(count)
            state.refusals.refused(name, request.route, 200, source.name, events=count)
        if state.persister.quarantine is None:
            return []
        state.metrics.events_quarantined.labels(source.name).inc(len(refused))
        return [(source.id, _quarantine_payload(check, event)) for check, event in refused]


def _elapsed(request: Request) -> float:
    return time.perf_counter() - request.started
