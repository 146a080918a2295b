"""`headwater replay` and the failed-events report, end to end: an event refused under one setting is
reported by `status`, then loaded by `replay` through the running warehouse process once fixed."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from headwater.warehouse.client import WarehouseClient, socket_path
from tests.conftest import WEB_KEY, RunningHeadwater, start_headwater

pytestmark = pytest.mark.slow


def cli(running: RunningHeadwater, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "headwater", *args, "--config", str(running.config_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def query(running: RunningHeadwater, sql: str) -> list[dict[str, Any]]:
    result = cli(running, "query", sql, "--format", "json")
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = orjson.loads(result.stdout)
    return rows


def loaded(running: RunningHeadwater, message_id: str) -> bool:
    """True once the event's tracks row is queryable (the table may not exist before the first load)."""
    result = cli(running, "query", f"select id from tracks where id = '{message_id}'", "--format", "json")
    return result.returncode == 0 and orjson.loads(result.stdout) != []


def wait_for(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def start(directory: Path, max_columns: int) -> RunningHeadwater:
    running = start_headwater(
        directory,
        workers=1,
        extra={"warehouse": {"batch_interval_seconds": 0.2, "max_columns_per_event": max_columns}},
    )
    wait_for(WarehouseClient(socket_path(running.data_dir)).available)
    return running


def test_failed_event_is_reported_then_replayed_after_the_fix(tmp_path: Path) -> None:
    wide_id, narrow_id = str(uuid.uuid4()), str(uuid.uuid4())
    auth = {"Authorization": "Basic " + base64.b64encode(f"{WEB_KEY}:".encode()).decode()}
    running = start(tmp_path, max_columns=40)
    try:
        for message_id, properties in ((wide_id, {f"k{i}": i for i in range(60)}), (narrow_id, {"k0": 0})):
            event = {"anonymousId": "a1", "event": "Wide", "messageId": message_id, "properties": properties}
            response = httpx.post(f"{running.url}/v1/track", json=event, headers=auth, timeout=10)
            assert response.status_code == 200
        wait_for(lambda: loaded(running, narrow_id))
        failed = query(running, "select message_id, reason from _headwater.failed_events")
        assert [row["message_id"] for row in failed] == [wide_id]
        assert failed[0]["reason"].startswith("too many columns")
        status = orjson.loads(cli(running, "status", "--json").stdout)["warehouse"]
        assert status["failed_pending"] == {failed[0]["reason"]: 1}
        assert "failed events awaiting replay: 1" in cli(running, "status").stdout
        dry = orjson.loads(cli(running, "replay", "--dry-run", "--json").stdout)
        assert (dry["selected"], dry["loaded"]) == (1, 0)
    finally:
        assert running.stop() == 0

    # The cause is fixed (the cap raised); the same data dir starts again and replay loads it.
    running = start(tmp_path, max_columns=1600)
    try:
        result = cli(running, "replay", "--reason", "too many columns")
        assert result.returncode == 0, result.stderr
        assert "selected 1 failed events; replayed 1" in result.stdout
        rows = query(running, f"select k59 from wide where id = '{wide_id}'")
        assert rows == [{"k59": 59}]
        assert query(
            running, "select count(*) as n from _headwater.failed_events where replayed_at is null"
        ) == [{"n": 0}]
        again = orjson.loads(cli(running, "replay", "--json").stdout)
        assert again["selected"] == 0
    finally:
        assert running.stop() == 0
