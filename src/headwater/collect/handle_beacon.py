"""`POST /beacon/v1/batch?writeKey=`: the browser's `navigator.sendBeacon` delivery.

A beacon cannot set headers (the body arrives as a `text/plain` Blob) and cannot read the answer, so
the write key travels in the query. Otherwise it is the batch route: rudder-server turns the query
key into Basic auth and calls the batch handler, and so do we, except that a missing key is named
as missing from the query.
"""

from __future__ import annotations

from headwater.collect.handle_events import EventRoute, EventsHandler
from headwater.collect.request import Request
from headwater.collect.responses import NO_WRITE_KEY_QUERY

__all__ = ["BEACON_PATH", "BEACON_ROUTE", "BeaconHandler"]

BEACON_PATH = "/beacon/v1/batch"
BEACON_ROUTE = EventRoute(BEACON_PATH, None, missing_key=NO_WRITE_KEY_QUERY)


class BeaconHandler:
    def __init__(self, events: EventsHandler) -> None:
        self.events = events

    async def handle(self, request: Request) -> None:
        await self.events.handle(request, BEACON_ROUTE)
