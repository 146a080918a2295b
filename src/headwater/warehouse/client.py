"""Talking to a running warehouse process over its Unix socket (see `server.py`)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import httpx
import orjson

from headwater.warehouse.engines.base import QueryResult
from headwater.warehouse.errors import WarehouseError

__all__ = ["WarehouseClient", "socket_path"]


def socket_path(data_dir: Path) -> Path:
    return data_dir / "run" / "warehouse.sock"


class WarehouseClient:
    """A small client; `available()` says whether a warehouse process is answering."""

    def __init__(self, path: Path, timeout: float = 300.0) -> None:
        self.path = path
        self._timeout = timeout

    def _request(self, method: str, route: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        transport = httpx.HTTPTransport(uds=str(self.path))
        with httpx.Client(transport=transport, base_url="http://warehouse", timeout=self._timeout) as client:
            response = client.request(
                method,
                route,
                content=orjson.dumps(body) if body is not None else None,
                headers={"Content-Type": "application/json"},
            )
        data = orjson.loads(response.content)
        if response.status_code != 200:
            raise WarehouseError(str(data.get("error", response.text)))
        if not isinstance(data, dict):
            raise WarehouseError("unexpected answer from the warehouse process")
        return data

    def available(self) -> bool:
        if not self.path.exists():
            return False
        # A socket file left by a killed process refuses connections; check with a plain connect,
        # which closes cleanly, before httpx (which leaks its socket on a failed Unix connect).
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.settimeout(2.0)
            probe.connect(str(self.path))
        except OSError:
            return False
        finally:
            probe.close()
        try:
            self._request("GET", "/status")
        except (httpx.HTTPError, OSError, WarehouseError, orjson.JSONDecodeError):
            return False
        return True

    def status(self) -> dict[str, Any]:
        return self._request("GET", "/status")

    def query(self, statement: str, limit: int | None = None) -> QueryResult:
        data = self._request("POST", "/query", {"sql": statement, "limit": limit})
        return QueryResult(list(data["columns"]), [tuple(row) for row in data["rows"]])

    def replay(self, **filters: Any) -> dict[str, Any]:
        return self._request("POST", "/replay", filters)

    def models_run(self, request: dict[str, Any]) -> dict[str, Any]:
        """Queue a model run (`{kind, select, start, end, trigger}`); answers `{run_id, status, ahead}`."""
        return self._request("POST", "/models/run", request)

    def models_run_state(self, run_id: str) -> dict[str, Any]:
        """A run's state: queued, running (with its record so far) or its finished record."""
        return self._request("GET", f"/models/runs/{run_id}")

    def models_status(self) -> dict[str, Any]:
        return self._request("GET", "/models/status")
