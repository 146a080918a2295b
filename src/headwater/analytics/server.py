"""Serving the analytics API from the warehouse process: uvicorn in a background thread.

The warehouse process owns the DuckDB file, so the API lives there and reads through the same
engine (`Engine.query` is thread-safe and read-only). `start_analytics` binds the socket before
returning, so a port in use fails the caller at once rather than in a thread nobody watches.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn

from headwater.analytics.app import AnalyticsContext, create_app
from headwater.analytics.settings import AnalyticsSettings
from headwater.analytics.sql import Tables
from headwater.config import Config
from headwater.log.base import EventLog
from headwater.logs import get_logger
from headwater.warehouse.engines.base import Engine

__all__ = ["AnalyticsServer", "serve", "start_analytics"]

log = get_logger("headwater.analytics")

_START_TIMEOUT_SECONDS = 10.0


class AnalyticsServer:
    """A running (or, when disabled, absent) API; `close()` stops it and is safe to call twice."""

    def __init__(
        self,
        server: uvicorn.Server | None,
        thread: threading.Thread | None,
        context: AnalyticsContext | None,
        host: str,
        port: int | None,
    ) -> None:
        self._server = server
        self._thread = thread
        self._context = context
        self.host = host
        self.port = port

    @property
    def url(self) -> str | None:
        return None if self.port is None else f"http://{self.host}:{self.port}"

    def close(self) -> None:
        if self._context is not None:
            self._context.stop.set()  # live streams end at their next poll
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=_START_TIMEOUT_SECONDS)
        self._server = self._thread = None


def serve(
    settings: AnalyticsSettings,
    engine: Engine,
    event_log: EventLog | None,
    health: Callable[[], dict[str, Any]],
) -> AnalyticsServer:
    """Start the API from settings (the testable core of `start_analytics`)."""
    if not settings.enabled:
        return AnalyticsServer(None, None, None, settings.host, None)
    context = AnalyticsContext(Tables(engine, settings.models_schema, settings.raw_schema), event_log, health)
    app = create_app(context)
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError:
        sock.close()
        raise
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            lifespan="off",
            access_log=False,
            log_config=None,
            server_header=False,
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="analytics-api", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT_SECONDS
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        server.should_exit = True
        thread.join(timeout=_START_TIMEOUT_SECONDS)
        sock.close()
        raise RuntimeError(f"the analytics API did not start on {settings.host}:{port}")
    log.info("analytics api serving", extra={"host": settings.host, "port": port})
    return AnalyticsServer(server, thread, context, settings.host, port)


def start_analytics(
    config: Config, engine: Engine, event_log: EventLog, health: Callable[[], dict[str, Any]]
) -> AnalyticsServer:
    """Entry point for the warehouse worker: serve the API per `analytics.*` until `close()`."""
    return serve(AnalyticsSettings.from_config(config), engine, event_log, health)
