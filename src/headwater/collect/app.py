"""The data plane's ASGI application: a dict router over the endpoint families, no framework.

Routing is one dict lookup on the path (after the optional prefix). OPTIONS on any path is a CORS
preflight (204). HEAD is allowed wherever GET has no side effects. An unknown path is 404 and a
known path with the wrong method 405, in Go's plain-text style. Every refusal a handler raises
becomes its reply here, is counted by check and logged (rate-limited) with the check's name.

`/health`, `/metrics` and `/robots.txt` also answer without the path prefix, so probes and
scrapers need not know it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from headwater.collect.cors import preflight_headers
from headwater.collect.errors import ClientDisconnected, PersistError, RequestRefused
from headwater.collect.handle_beacon import BEACON_PATH, BeaconHandler
from headwater.collect.handle_config import SOURCE_CONFIG_PATHS, ConfigHandler, settings_write_key
from headwater.collect.handle_events import EVENT_ROUTES, EventsHandler
from headwater.collect.handle_pixel import PIXEL_PATHS, PixelHandler
from headwater.collect.health import HealthHandler
from headwater.collect.metrics import CollectMetrics
from headwater.collect.persist import Persister
from headwater.collect.request import Request
from headwater.collect.responses import INTERNAL_ERROR, METHOD_NOT_ALLOWED, NOT_FOUND, OK
from headwater.collect.settings import CollectSettings
from headwater.collect.state import AppState
from headwater.collect.types import Receive, Scope, Send
from headwater.control import SourceRegistry
from headwater.log.base import LogWriter
from headwater.logs import get_logger

__all__ = ["CollectApp", "create_app"]

log = get_logger("headwater.collect")

Handler = Callable[[Request], Awaitable[None]]
_OPS_PATHS = frozenset({"/health", "/metrics", "/robots.txt"})


class Route:
    """The handlers of one path by method; `head` lets HEAD reuse GET (without the body)."""

    __slots__ = ("allow", "handlers", "head", "label")

    def __init__(self, label: str, handlers: dict[str, Handler], *, head: bool = False) -> None:
        self.label = label
        self.handlers = handlers
        self.head = head and "GET" in handlers
        methods = sorted(handlers) + (["HEAD"] if self.head else []) + ["OPTIONS"]
        self.allow = [(b"allow", ", ".join(methods).encode())]


class CollectApp:
    """The ASGI callable; `state` is exposed for the process model and tests (health, metrics)."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.metrics = state.metrics
        self._prefix = state.settings.path_prefix.rstrip("/")
        events = EventsHandler(state)
        beacon = BeaconHandler(events)
        pixel = PixelHandler(events)
        config = ConfigHandler(state)
        health = HealthHandler(state)
        self._config = config
        routes: dict[str, Route] = {}
        for path, route in EVENT_ROUTES.items():
            routes[path] = Route(path, {"POST": partial(events.handle, route=route)})
        routes["/v1/m"] = Route("/v1/m", {"POST": self._discard})
        routes[BEACON_PATH] = Route(BEACON_PATH, {"POST": beacon.handle})
        for path, kind in PIXEL_PATHS.items():
            routes[path] = Route(path, {"GET": partial(pixel.handle, kind=kind)})
        for path in SOURCE_CONFIG_PATHS:
            routes[path] = Route("/sourceConfig", {"GET": config.source_config}, head=True)
        routes["/health"] = Route("/health", {"GET": health.health}, head=True)
        routes["/"] = Route("/", {"GET": health.health}, head=True)
        routes["/metrics"] = Route("/metrics", {"GET": health.metrics}, head=True)
        routes["/robots.txt"] = Route("/robots.txt", {"GET": health.robots}, head=True)
        routes["/version"] = Route("/version", {"GET": health.version}, head=True)
        self._routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "lifespan":
                await _lifespan(receive, send)
            return
        request = Request(scope, receive, send)
        try:
            await self._dispatch(request)
        except RequestRefused as exc:
            self.metrics.refusals.labels(exc.check).inc()
            self.state.refusals.refused(exc.check, request.route, exc.reply.status, request.source_name)
            await request.reply(exc.reply)
        except PersistError as exc:
            await request.reply(exc.reply)
        except ClientDisconnected:
            request.status = 499
        except Exception:
            log.exception("unexpected error", extra={"route": request.route})
            if request.status == 0:
                await request.reply(INTERNAL_ERROR)
        finally:
            self.metrics.count_request(request.route, request.status)

    async def _dispatch(self, request: Request) -> None:
        if request.method == "OPTIONS":
            request.route = "OPTIONS"
            request.status = 204
            await request.send(
                {"type": "http.response.start", "status": 204, "headers": preflight_headers(request.headers)}
            )
            await request.send({"type": "http.response.body", "body": b""})
            return
        path = request.path
        prefix = self._prefix
        if prefix:
            if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
                path = path[len(prefix) :] or "/"
            elif path not in _OPS_PATHS:
                await request.reply(NOT_FOUND)
                return
        route = self._routes.get(path)
        if route is None:
            await self._unrouted(request, path)
            return
        request.route = route.label
        handler = route.handlers.get(request.method)
        if handler is None:
            if request.method == "HEAD" and route.head:
                request.head = True
                handler = route.handlers["GET"]
            else:
                await request.reply(METHOD_NOT_ALLOWED, route.allow)
                return
        await handler(request)

    async def _unrouted(self, request: Request, path: str) -> None:
        found = settings_write_key(path)
        if found is None:
            await request.reply(NOT_FOUND)
            return
        write_key, label = found
        request.route = label
        if request.method not in ("GET", "HEAD"):
            await request.reply(METHOD_NOT_ALLOWED, [(b"allow", b"GET, HEAD, OPTIONS")])
            return
        request.head = request.method == "HEAD"
        await self._config.segment_settings(request, write_key)

    async def _discard(self, request: Request) -> None:
        """`/v1/m`: analytics-next's telemetry. Accepted and dropped unread."""
        request.segment_style = True
        await request.reply(OK)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_app(
    settings: CollectSettings,
    sources: SourceRegistry,
    writer: LogWriter,
    *,
    quarantine: LogWriter | None = None,
    metrics: CollectMetrics | None = None,
) -> CollectApp:
    """The data plane for one worker process: events go to `writer`, lenient refusals to `quarantine`."""
    metrics = metrics if metrics is not None else CollectMetrics()
    persister = Persister(writer, quarantine, settings.write_timeout_seconds, metrics)
    return CollectApp(AppState(settings, sources, persister, metrics))
