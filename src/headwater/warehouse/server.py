"""The warehouse process's local API on a Unix socket: read queries, replays, model runs and status.

DuckDB lets one process write a database file and no other process open it meanwhile, so while
`headwater up` runs, everything else that needs the embedded warehouse (`headwater query`,
`headwater replay`, `headwater status`) asks the process that owns it. The socket lives in
`<data_dir>/run/` with mode 0600: only the operator's user can reach it, and it never listens on
the network.
"""

from __future__ import annotations

import contextlib
import os
import socketserver
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from headwater.logs import get_logger
from headwater.warehouse.cells import encode_cell, result_json
from headwater.warehouse.engines.base import Engine
from headwater.warehouse.errors import WarehouseError
from headwater.warehouse.loader import Loader

if TYPE_CHECKING:
    from headwater.models.schedule import ModelScheduler

__all__ = ["WarehouseServer"]

log = get_logger("headwater.warehouse.server")

_MAX_BODY = 1 << 20


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class WarehouseServer:
    """Serves the local API in background threads until `close()`."""

    def __init__(
        self,
        path: Path,
        loader: Loader,
        engine: Engine,
        status: Callable[[], dict[str, Any]],
        *,
        models: ModelScheduler | None = None,
    ) -> None:
        self.path = path
        self.loader = loader
        self.engine = engine
        self.status = status
        self.models = models
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        handler = _handler_for(self)
        old_umask = os.umask(0o177)
        try:
            self._server = _UnixServer(str(path), handler)
        finally:
            os.umask(old_umask)
        self._thread = threading.Thread(target=self._server.serve_forever, name="warehouse-api", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def handle(self, method: str, route: str, body: dict[str, Any]) -> tuple[int, bytes]:
        if method == "GET" and route == "/status":
            return 200, orjson.dumps(self.status(), default=encode_cell)
        if method == "POST" and route == "/query":
            statement = body.get("sql")
            limit = body.get("limit")
            if not isinstance(statement, str) or not statement.strip():
                return 400, orjson.dumps({"error": "sql: a statement is required", "field": "sql"})
            if limit is not None and (not isinstance(limit, int) or limit < 0):
                return 400, orjson.dumps({"error": "limit: a non-negative integer", "field": "limit"})
            try:
                result = self.engine.query(statement, limit=limit)
            except (WarehouseError, ValueError) as error:
                return 400, orjson.dumps({"error": str(error), "field": "sql"})
            return 200, result_json(result.columns, result.rows)
        if method == "POST" and route == "/replay":
            reason = body.get("reason")
            ids = body.get("message_ids") or []
            limit = body.get("limit")
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                return 400, orjson.dumps({"error": "message_ids: a list of strings", "field": "message_ids"})
            try:
                report = self.loader.replay(
                    reason=reason if isinstance(reason, str) else None,
                    message_ids=ids,
                    limit=limit if isinstance(limit, int) else None,
                    dry_run=bool(body.get("dry_run")),
                )
            except WarehouseError as error:
                return 503, orjson.dumps({"error": str(error)})
            return 200, orjson.dumps(report.as_dict())
        if route.startswith("/models/"):
            return self._models(method, route, body)
        return 404, orjson.dumps({"error": f"no route {method} {route}"})

    def _models(self, method: str, route: str, body: dict[str, Any]) -> tuple[int, bytes]:
        """Model runs: POST /models/run queues one and answers its id at once; the caller polls
        GET /models/runs/<id> (runs take minutes; a socket held that long dies with any restart)."""
        from headwater.models.runner import RunRequest

        if self.models is None:
            return 503, orjson.dumps({"error": "model runs are not available in this process"})
        if method == "POST" and route == "/models/run":
            try:
                request = RunRequest.from_json(body, trigger=_trigger(body))
            except ValueError as error:
                return 400, orjson.dumps({"error": str(error)})
            return 200, orjson.dumps(self.models.request(request))
        if method == "GET" and route == "/models/status":
            return 200, orjson.dumps(self.models.status(), default=encode_cell)
        if method == "GET" and route.startswith("/models/runs/"):
            run_id = route.removeprefix("/models/runs/")
            found = self.models.lookup(run_id)
            if found is None:
                return 404, orjson.dumps({"error": f"no model run {run_id!r}"})
            return 200, orjson.dumps(found, default=encode_cell)
        return 404, orjson.dumps({"error": f"no route {method} {route}"})


def _trigger(body: dict[str, Any]) -> str:
    """`cli` when the command line asks, else `manual` (any other local caller)."""
    return "cli" if body.get("trigger") == "cli" else "manual"


def _handler_for(server: WarehouseServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Requests are the operator's own commands; they are not worth a log line each."""

        def _answer(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _serve(self, method: str) -> None:
            body: dict[str, Any] = {}
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY:
                self._answer(413, orjson.dumps({"error": "request too large"}))
                return
            if length:
                try:
                    parsed = orjson.loads(self.rfile.read(length))
                except orjson.JSONDecodeError:
                    self._answer(400, orjson.dumps({"error": "body is not JSON"}))
                    return
                if not isinstance(parsed, dict):
                    self._answer(400, orjson.dumps({"error": "body must be a JSON object"}))
                    return
                body = parsed
            try:
                status, payload = server.handle(method, self.path, body)
            except Exception as error:  # the API must answer, and the process must keep loading
                log.exception("warehouse api error")
                status, payload = 500, orjson.dumps({"error": f"{type(error).__name__}: {error}"})
            self._answer(status, payload)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

    return Handler
