"""`GET /pixel/v1/page` and `/pixel/v1/track`: events carried in an image URL's query string.

The answer is always 200 with a 43-byte transparent GIF, whatever happened (an image tag cannot
show an error, and a broken image icon on a customer's page is worse than a lost event); refusals
are logged and counted like any other.

The event is built as rudder-server builds it: `{"channel": "web", "integrations": {"All": true},
"originalTimestamp": now, "sentAt": now}`, then every query key but `writeKey` set as a dotted path
(`context.page.url=…` becomes nested objects; all values are strings; the first value of a
repeated key wins), then `type`. Quotes around `anonymousId` are stripped; an empty `name` on page
becomes "Unknown Page"; an empty `event` on track means no event is stored. Unlike rudder-server,
`request_ip` is the client's address (rudder loses it when there is no X-Forwarded-For).
"""

from __future__ import annotations

from typing import Any

from headwater.collect.auth import CHECK_PRESENT, find_source, request_write_key
from headwater.collect.enrich import Stamp
from headwater.collect.errors import PersistError, RequestRefused
from headwater.collect.handle_events import EventsHandler
from headwater.collect.request import Request
from headwater.collect.responses import IMAGE_GIF, NO_WRITE_KEY_QUERY, NOT_RUDDER_EVENT, TRANSPARENT_GIF

__all__ = ["PIXEL_PATHS", "PixelHandler", "pixel_event"]

PIXEL_PATHS = {"/pixel/v1/page": "page", "/pixel/v1/track": "track"}
CHECK_TRACK_EVENT = "pixel_track_has_event"
_NO_STORE = [(b"cache-control", b"no-store, max-age=0")]


def _set_dotted(document: dict[str, Any], dotted: str, value: str) -> None:
    parts = dotted.split(".")
    node = document
    for part in parts[:-1]:
        child = node.get(part)
        if type(child) is not dict:
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def pixel_event(kind: str, pairs: list[tuple[str, str]], now_text: str) -> dict[str, Any] | None:
    """The event a pixel query describes, or None for a track pixel with an empty `event`."""
    first: dict[str, str] = {}
    for key, value in pairs:
        if key != "writeKey" and key not in first:
            first[key] = value
    anonymous = first.get("anonymousId")
    if anonymous is not None and len(anonymous) >= 2 and anonymous[0] == '"' and anonymous[-1] == '"':
        first["anonymousId"] = anonymous[1:-1]
    event: dict[str, Any] = {
        "channel": "web",
        "integrations": {"All": True},
        "originalTimestamp": now_text,
        "sentAt": now_text,
    }
    for key, value in first.items():
        _set_dotted(event, key, value)
    event["type"] = kind
    if kind == "page" and first.get("name") == "":
        event["name"] = "Unknown Page"
    if kind == "track" and first.get("event") == "":
        return None
    return event


class PixelHandler:
    def __init__(self, events: EventsHandler) -> None:
        self.events = events

    async def handle(self, request: Request, kind: str) -> None:
        request.route = f"/pixel/v1/{kind}"
        state = self.events.state
        try:
            await self._ingest(request, kind)
        except RequestRefused as exc:
            state.metrics.refusals.labels(exc.check).inc()
            state.refusals.refused(exc.check, request.route, exc.reply.status, request.source_name)
        except PersistError:
            pass  # already logged and counted by the persister; the pixel is answered regardless
        await request.respond(200, TRANSPARENT_GIF, IMAGE_GIF, _NO_STORE)

    async def _ingest(self, request: Request, kind: str) -> None:
        state = self.events.state
        key = request_write_key(request)
        if key is None:
            raise RequestRefused(NO_WRITE_KEY_QUERY, CHECK_PRESENT)
        source = find_source(request, state.sources, key)
        stamp = Stamp(
            ip=request.client_ip(state.settings.trust_forwarded_for),
            rule=source.timestamp_mode,
            forced_type=kind,
        )
        event = pixel_event(kind, request.query_pairs(), stamp.received_text)
        if event is None:
            raise RequestRefused(NOT_RUDDER_EVENT, CHECK_TRACK_EVENT)
        await self.events.ingest(request, source, [event], stamp)
