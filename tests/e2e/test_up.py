"""`headwater up` as an operator runs it: a real process tree, real signals, real HTTP."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest
import yaml

from tests.conftest import (
    OFF_KEY,
    WEB_KEY,
    RunningHeadwater,
    free_port,
    start_headwater,
    wait_healthy,
    write_config,
)

pytestmark = pytest.mark.slow


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def track(url: str, key: str, **fields: object) -> httpx.Response:
    event = {"anonymousId": "anon-1", "event": "Tested", "messageId": str(uuid.uuid4()), **fields}
    return httpx.post(f"{url}/v1/track", json=event, headers=basic(key), timeout=10)


def test_bare_up_makes_a_demo_source_and_keeps_it(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, HEADWATER_CONFIG="", HEADWATER_LOG_JSON="1")
    env.pop("HEADWATER_CONFIG")
    keys = []
    for _ in range(2):
        out_path = tmp_path / "out.txt"
        with out_path.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "headwater", "up", "--port", str(port), "--workers", "1"],
                cwd=tmp_path,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_healthy(f"http://127.0.0.1:{port}", process, out_path)
            text = out_path.read_text()
            key = re.search(r"demo write key\s+(\S+)", text)
            assert key, text
            keys.append(key.group(1))
            assert f"http://127.0.0.1:{port}" in text
            assert track(f"http://127.0.0.1:{port}", key.group(1)).status_code == 200
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(30) == 0
    assert keys[0] == keys[1]
    assert (tmp_path / "headwater-data" / "control" / "demo-source.yaml").exists()


def test_config_error_names_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "headwater.yaml"
    bad.write_text("collect:\n  port: eighty\n")
    result = subprocess.run(
        [sys.executable, "-m", "headwater", "up", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert str(bad) in result.stderr and "collect.port" in result.stderr and "whole number" in result.stderr


def test_second_up_on_the_same_data_dir_is_refused(headwater: RunningHeadwater) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "headwater", "up", "--config", str(headwater.config_path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "another `headwater up`" in result.stderr


def test_sources_reload_on_file_change_and_sighup(tmp_path: Path) -> None:
    running = start_headwater(tmp_path, workers=2)
    try:
        assert track(running.url, WEB_KEY).status_code == 200
        assert track(running.url, OFF_KEY).status_code == 404
        document = yaml.safe_load(running.config_path.read_text())
        document["sources"][0]["enabled"] = False
        document["sources"][1]["enabled"] = True
        document["sources"].append({"name": "ios", "write_key": "2dUZ8nGkNewKey", "enabled": True})
        running.config_path.write_text(yaml.safe_dump(document))
        _eventually(
            lambda: (
                track(running.url, WEB_KEY).status_code == 404
                and track(running.url, OFF_KEY).status_code == 200
                and track(running.url, "2dUZ8nGkNewKey").status_code == 200
            )
        )
        # Every worker has the new sources, not just the one that answered first.
        for _ in range(20):
            assert track(running.url, WEB_KEY).status_code == 404
        # A broken file keeps the sources in force.
        running.config_path.write_text("sources: [\n")
        time.sleep(1.0)
        assert track(running.url, OFF_KEY).status_code == 200
    finally:
        assert running.stop() == 0


def test_sighup_reloads_when_watching_is_off(tmp_path: Path) -> None:
    running = start_headwater(tmp_path, workers=2, collect={"reload_interval_seconds": 0})
    try:
        document = yaml.safe_load(running.config_path.read_text())
        assert track(running.url, WEB_KEY).status_code == 200
        document["sources"][0]["enabled"] = False
        running.config_path.write_text(yaml.safe_dump(document))
        time.sleep(0.5)
        assert track(running.url, WEB_KEY).status_code == 200
        running.process.send_signal(signal.SIGHUP)
        _eventually(lambda: all(track(running.url, WEB_KEY).status_code == 404 for _ in range(10)))
    finally:
        assert running.stop() == 0


def test_sigterm_finishes_in_flight_requests_and_exits_zero(tmp_path: Path) -> None:
    running = start_headwater(tmp_path, workers=2)
    acked: list[str] = []
    stop = threading.Event()

    def sender() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                ids = [str(uuid.uuid4()) for _ in range(50)]
                body = {
                    "batch": [
                        {"type": "track", "event": "Drain", "anonymousId": "a", "messageId": m} for m in ids
                    ]
                }
                try:
                    response = client.post(f"{running.url}/v1/batch", json=body, headers=basic(WEB_KEY))
                except httpx.HTTPError:
                    return
                if response.status_code == 200:
                    acked.extend(ids)

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    assert running.stop(signal.SIGTERM) == 0
    stop.set()
    for thread in threads:
        thread.join()
    assert acked
    stored = {e["messageId"] for e in running.events()}
    missing = set(acked) - stored
    assert not missing, f"{len(missing)} acknowledged events are not in the log"
    assert "stopped" in running.log_path.read_text()


def test_write_keys_never_reach_the_logs(tmp_path: Path) -> None:
    running = start_headwater(tmp_path, workers=1)
    try:
        httpx.get(f"{running.url}/pixel/v1/track?writeKey={WEB_KEY}&anonymousId=a&event=x", timeout=10)
        httpx.post(f"{running.url}/beacon/v1/batch?writeKey={WEB_KEY}", content=b"not json", timeout=10)
        httpx.get(f"{running.url}/sourceConfig/?writeKey={WEB_KEY}", timeout=10)
        track(running.url, "WrongKeyThatShouldNotBeLogged")
        track(running.url, WEB_KEY, anonymousId="")
        running.process.send_signal(signal.SIGHUP)
        time.sleep(0.5)
    finally:
        assert running.stop() == 0
    text = running.log_path.read_text()
    assert "ingest worker serving" in text
    for secret in (WEB_KEY, OFF_KEY, "WrongKeyThatShouldNotBeLogged"):
        assert secret not in text


def test_metrics_aggregate_every_worker(tmp_path: Path) -> None:
    running = start_headwater(tmp_path, workers=2)
    try:
        with httpx.Client(timeout=10) as client:
            for _ in range(40):
                # New connections, so SO_REUSEPORT spreads them over both workers.
                client.post(
                    f"{running.url}/v1/track",
                    headers={**basic(WEB_KEY), "Connection": "close"},
                    json={"anonymousId": "m", "event": "Metric"},
                )
        text = httpx.get(f"{running.url}/metrics", timeout=10).text
    finally:
        assert running.stop() == 0
    accepted = [
        line
        for line in text.splitlines()
        if line.startswith("headwater_collect_events_accepted_total") and not line.startswith("#")
    ]
    assert accepted, text[:2000]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in accepted) == 40
    fsyncs = [line for line in text.splitlines() if line.startswith("headwater_log_fsync_seconds_count")]
    assert fsyncs and 1 <= sum(float(line.rsplit(" ", 1)[1]) for line in fsyncs) <= 40, fsyncs


def test_log_tail_shows_the_newest_events(headwater: RunningHeadwater) -> None:
    marker = f"Tail {uuid.uuid4().hex[:8]}"
    assert track(headwater.url, headwater.write_key, event=marker).status_code == 200
    result = subprocess.run(
        [sys.executable, "-m", "headwater", "log", "tail", "-n", "5", "--config", str(headwater.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout
    assert "track" in result.stdout


def _eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_status_reports_workers_log_and_consumer_lag(tmp_path: Path) -> None:
    running = start_headwater(tmp_path, workers=2, extra={"warehouse": {"enabled": False}})
    try:
        for _ in range(5):
            assert track(running.url, WEB_KEY).status_code == 200
        from headwater.log import open_log
        from headwater.log.settings import LogSettings

        event_log = open_log(LogSettings(directory=running.data_dir / "log"))
        consumer = event_log.consumer("audit")
        consumer.commit({p: 0 for p in event_log.partitions()})
        event_log.close()
        result = subprocess.run(
            [sys.executable, "-m", "headwater", "status", "--json", "--config", str(running.config_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        report = orjson.loads(result.stdout)
        assert report["running"] is True
        assert len([w for w in report["workers"] if w["alive"]]) == 2
        assert report["events"] == 5
        assert report["consumers"] == [
            {"consumer": "audit", "lag": 5, "by_partition": report["consumers"][0]["by_partition"]}
        ]
        assert report["warehouse"] is None
        text = subprocess.run(
            [sys.executable, "-m", "headwater", "status", "--config", str(running.config_path)],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        assert "running (2 ingest workers alive)" in text and "audit: 5 events behind" in text
        assert "warehouse  not running" in text
    finally:
        assert running.stop() == 0
    after = subprocess.run(
        [sys.executable, "-m", "headwater", "status", "--config", str(running.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "not running" in after


def test_up_refuses_a_postgres_warehouse_without_a_dsn(tmp_path: Path) -> None:
    config = write_config(tmp_path, free_port(), workers=1, extra={"warehouse": {"engine": "postgres"}})
    result = subprocess.run(
        [sys.executable, "-m", "headwater", "up", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "warehouse.postgres_dsn is empty" in result.stderr
