"""Operational endpoints: `/health` and `/` (rudder-like JSON), `/metrics`, `/robots.txt`, `/version`.

`/health` answers 503 while the last append to the event log failed or timed out: the process is up
but cannot make events durable, which is what a load balancer needs to know.
"""

from __future__ import annotations

import orjson

from headwater import __version__
from headwater.collect.request import Request
from headwater.collect.responses import APPLICATION_JSON, TEXT_PLAIN
from headwater.collect.state import AppState

__all__ = ["HealthHandler", "health_document"]

ROBOTS = b"User-agent: * \nDisallow: / \n"


def health_document(state: AppState) -> tuple[int, dict[str, str]]:
    healthy = state.persister.healthy
    document = {
        "appType": "EMBEDDED",
        "server": "UP",
        "db": "UP" if healthy else "DOWN",
        "acceptingEvents": "TRUE" if healthy else "FALSE",
        "routingEvents": "TRUE",
        "mode": "NORMAL",
        "backendConfigMode": "JSON",
        "lastSync": state.started_at,
        "lastRegulationSync": "",
        "version": __version__,
    }
    if not healthy:
        document["error"] = "cannot write to the event log; see the worker's log"
    return (200 if healthy else 503), document


class HealthHandler:
    def __init__(self, state: AppState) -> None:
        self.state = state

    async def health(self, request: Request) -> None:
        status, document = health_document(self.state)
        await request.respond(status, orjson.dumps(document), APPLICATION_JSON)

    async def metrics(self, request: Request) -> None:
        body, content_type = self.state.metrics.render()
        await request.respond(200, body, content_type.encode())

    async def robots(self, request: Request) -> None:
        await request.respond(200, ROBOTS, TEXT_PLAIN)

    async def version(self, request: Request) -> None:
        await request.respond(200, orjson.dumps({"version": __version__}), APPLICATION_JSON)
