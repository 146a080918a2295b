"""Fixtures shared by every stage's tests: a real `headwater up` in a subprocess, and free ports.

The `headwater` fixture starts the actual CLI the quick start documents, on a free loopback port,
with two sources (one enabled, one disabled), and reads accepted events back from the real log.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

WEB_KEY = "2dUZ8nGkWebTestKey00000000A"
OFF_KEY = "2dUZ8nGkOffTestKey00000000B"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(
    directory: Path,
    port: int,
    *,
    workers: int = 2,
    collect: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    document: dict[str, Any] = {
        "data_dir": str(directory / "data"),
        "collect": {
            "port": port,
            "host": "127.0.0.1",
            "workers": workers,
            "reload_interval_seconds": 0.2,
            **(collect or {}),
        },
        "sources": [
            {"name": "web", "write_key": WEB_KEY, "enabled": True},
            {"name": "off", "write_key": OFF_KEY, "enabled": False},
        ],
    }
    # Stages beside the warehouse stay off unless a test asks for them: each `up` would otherwise run
    # the dbt project after its first load and bind the analytics port.
    document["models"] = {"enabled": False}
    document["analytics"] = {"enabled": False}
    for key, value in (extra or {}).items():
        document[key] = value
    path = directory / "headwater.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@dataclass
class RunningHeadwater:
    """A live `headwater up` process and handles to read what it stored."""

    url: str
    write_key: str
    disabled_write_key: str
    data_dir: Path
    config_path: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    _seen: list[dict[str, Any]] = field(default_factory=list)

    def records(self) -> list[Any]:
        """Every record in the log, read through the log's public interface."""
        from headwater.log import open_log
        from headwater.log.settings import LogSettings

        event_log = open_log(LogSettings(directory=self.data_dir / "log"))
        try:
            out = []
            for partition in event_log.partitions():
                offset = event_log.start_offsets().get(partition, 0)
                while True:
                    batch = event_log.read(partition, offset, max_records=10_000)
                    if not batch:
                        break
                    out.extend(batch)
                    offset = batch[-1].offset + 1
            return out
        finally:
            event_log.close()

    def events(
        self,
        where: Callable[[dict[str, Any]], bool] | None = None,
        count: int | None = None,
        timeout: float = 20.0,
    ) -> list[dict[str, Any]]:
        """Parsed stored events matching `where`, waiting until at least `count` of them exist."""
        deadline = time.monotonic() + timeout
        while True:
            found = [
                e for e in (orjson.loads(r.payload) for r in self.records()) if where is None or where(e)
            ]
            if count is None or len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"expected at least {count} matching events, found {len(found)}: {found[:5]}"
                )
            time.sleep(0.1)

    def worker_pids(self) -> list[int]:
        pids = []
        for pid_file in sorted((self.data_dir / "run").glob("collect-*.pid")):
            try:
                pids.append(int(pid_file.read_text()))
            except (OSError, ValueError):
                continue
        return pids

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


def wait_healthy(
    url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 30.0, workers: int = 0
) -> None:
    """Until /health answers and `workers` ingest workers have logged that they serve.

    One worker answering /health is not enough for tests that then change the config: a worker
    still starting would read the changed file and disagree with the others.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"headwater up exited with {process.returncode}:\n{log_path.read_text()[-4000:]}"
            )
        try:
            healthy = httpx.get(url + "/health", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            healthy = False
        if healthy and log_path.read_text().count('"msg":"ingest worker serving"') >= workers:
            return
        time.sleep(0.1)
    raise AssertionError(f"headwater up did not become healthy:\n{log_path.read_text()[-4000:]}")


def start_headwater(
    directory: Path,
    *,
    workers: int = 2,
    collect: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> RunningHeadwater:
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config_path = write_config(directory, port, workers=workers, collect=collect, extra=extra)
    log_path = directory / "headwater.log"
    env = dict(os.environ, HEADWATER_LOG_JSON="1")
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "headwater", "up", "--config", str(config_path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    running = RunningHeadwater(url, WEB_KEY, OFF_KEY, directory / "data", config_path, process, log_path)
    try:
        wait_healthy(url, process, log_path, workers=workers)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return running


@pytest.fixture(scope="session")
def headwater(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHeadwater]:
    """One shared `headwater up` for tests that send and read back (filter by something unique)."""
    running = start_headwater(tmp_path_factory.mktemp("headwater-up"))
    yield running
    code = running.stop()
    assert code == 0, running.log_path.read_text()[-4000:]
