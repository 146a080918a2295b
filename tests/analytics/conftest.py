"""One DuckDB warehouse with the hand-written rows and the real API in front of it, per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from headwater.analytics.server import AnalyticsServer, serve
from headwater.analytics.settings import AnalyticsSettings
from headwater.warehouse.engines.duckdb import DuckDBEngine
from tests.analytics.dataset import load

HEALTH = {"loader": {"state": "running", "lag": 0}, "scheduler": {"last_run": None}}


@pytest.fixture(scope="module")
def duckdb_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBEngine]:
    path: Path = tmp_path_factory.mktemp("analytics") / "warehouse.duckdb"
    conn = duckdb.connect(str(path))
    load(conn, "duckdb")
    conn.close()
    engine = DuckDBEngine(path)
    engine.open()
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def api(duckdb_engine: DuckDBEngine) -> Iterator[httpx.Client]:
    """The real uvicorn server on a free loopback port."""
    server: AnalyticsServer = serve(AnalyticsSettings(port=0), duckdb_engine, None, lambda: HEALTH)
    assert server.url is not None
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client
    server.close()


def post(client: httpx.Client, path: str, body: dict[str, Any], status: int = 200) -> Any:
    response = client.post(f"/api/v1/{path}", json=body)
    assert response.status_code == status, response.text
    return response.json()
