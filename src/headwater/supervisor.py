"""`headwater up`: start every stage built so far and keep it running.

The supervisor does no request work itself. It starts the ingest workers (one per core by
default), restarts any that die (a SIGKILLed worker is back within a second and recovers its log
partition), forwards SIGHUP so sources reload, runs log retention, and on SIGINT/SIGTERM stops the
workers gracefully and exits 0. One supervisor per data directory, enforced by a lock file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TextIO

from headwater import __version__
from headwater.collect.settings import CollectSettings
from headwater.config import Config
from headwater.control import Source, effective_sources
from headwater.errors import HeadwaterError
from headwater.log import open_log
from headwater.log.base import EventLog
from headwater.log.settings import LogSettings
from headwater.logs import get_logger
from headwater.warehouse.settings import WarehouseSettings

log = get_logger("headwater.supervisor")

RETENTION_INTERVAL_SECONDS = 60.0
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class AlreadyRunningError(HeadwaterError):
    """Another `headwater up` holds this data directory."""


@dataclass
class _Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes]
    started: float
    quick_deaths: int = 0


@dataclass
class Supervisor:
    """Owns the worker processes of one `headwater up`."""

    config: Config
    out: TextIO = field(default_factory=lambda: sys.stdout)
    _children: dict[str, _Child] = field(default_factory=dict)
    _stopping: bool = False
    _reload: bool = False

    @property
    def run_dir(self) -> Path:
        return self.config.data_dir / "run"

    def _lock(self) -> int:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.run_dir / "headwater.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunningError(
                f"another `headwater up` is using {self.config.data_dir}; stop it or choose another data_dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        return fd

    def _resolve_port(self, settings: CollectSettings) -> tuple[int, socket.socket | None]:
        """Port 0 means any free port, held by a non-listening SO_REUSEPORT socket so nobody else takes it."""
        if settings.port:
            return settings.port, None
        holder = socket.socket(
            socket.AF_INET6 if ":" in settings.host else socket.AF_INET, socket.SOCK_STREAM
        )
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind((settings.host, 0))
        return holder.getsockname()[1], holder

    def _argv(self, module: str, *extra: str) -> list[str]:
        argv = [sys.executable, "-m", module, *extra]
        if self.config.path is not None:
            argv += ["--config", str(self.config.path)]
        return argv

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> _Child:
        process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL)
        (self.run_dir / f"{name}.pid").write_text(str(process.pid))
        return _Child(name, argv, process, time.monotonic())

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self._reload = True
        else:
            self._stopping = True

    def run(self) -> int:
        """Start, supervise, stop; returns the process exit code."""
        lock_fd = self._lock()
        settings = CollectSettings.from_config(self.config)
        log_settings = LogSettings.from_config(self.config)
        sources = effective_sources(self.config.sources, self.config.data_dir)
        port, holder = self._resolve_port(settings)
        metrics_dir = self.run_dir / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        env = dict(os.environ)
        env["HEADWATER_COLLECT_PORT"] = str(port)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        env["HEADWATER_DATA_DIR"] = str(self.config.data_dir)
        event_log = open_log(log_settings)
        for signum in (*_STOP_SIGNALS, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        try:
            for index in range(settings.worker_count):
                name = f"collect-{index}"
                argv = self._argv("headwater.collect.worker", "--index", str(index))
                self._children[name] = self._spawn(name, argv, env)
            warehouse = WarehouseSettings.from_config(self.config)
            if warehouse.enabled:
                self._children["warehouse"] = self._spawn(
                    "warehouse", self._argv("headwater.warehouse.worker"), env
                )
            self._banner(settings, port, sources, warehouse)
            next_retention = time.monotonic() + RETENTION_INTERVAL_SECONDS
            while not self._stopping:
                time.sleep(0.1)
                if self._reload:
                    self._reload = False
                    for child in self._children.values():
                        with contextlib.suppress(ProcessLookupError):
                            child.process.send_signal(signal.SIGHUP)
                self._restart_dead(env)
                if time.monotonic() >= next_retention:
                    next_retention = time.monotonic() + RETENTION_INTERVAL_SECONDS
                    self._retention(event_log)
        finally:
            self._stop_children(settings.shutdown_timeout_seconds + 5)
            event_log.close()
            if holder is not None:
                holder.close()
            os.close(lock_fd)
        print("headwater: stopped", file=self.out)
        return 0

    def _restart_dead(self, env: dict[str, str]) -> None:
        for name, child in list(self._children.items()):
            code = child.process.poll()
            if code is None or self._stopping:
                continue
            lived = time.monotonic() - child.started
            quick = child.quick_deaths + 1 if lived < 2.0 else 0
            log.warning(
                "worker exited; restarting",
                extra={"worker": name, "pid": child.process.pid, "code": code},
            )
            if quick > 3:
                time.sleep(min(5.0, 0.25 * quick))
            new = self._spawn(name, child.argv, env)
            new.quick_deaths = quick
            self._children[name] = new

    def _retention(self, event_log: EventLog) -> None:
        try:
            report = event_log.enforce_retention()
        except Exception:  # retention must never take the node down
            log.exception("log retention failed")
            return
        if report.segments_deleted:
            log.info(
                "log retention", extra={"segments": report.segments_deleted, "bytes": report.bytes_deleted}
            )

    def _stop_children(self, timeout: float) -> None:
        for child in self._children.values():
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in self._children.values():
            remaining = max(0.0, deadline - time.monotonic())
            try:
                child.process.wait(remaining)
            except subprocess.TimeoutExpired:
                log.error("worker did not stop in time; killing", extra={"pid": child.process.pid})
                child.process.kill()
                child.process.wait()
            (self.run_dir / f"{child.name}.pid").unlink(missing_ok=True)

    def _banner(
        self, settings: CollectSettings, port: int, sources: list[Source], warehouse: WarehouseSettings
    ) -> None:
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
        base = f"http://{host}:{port}{settings.path_prefix}"
        lines = [
            f"Headwater {__version__} is up ({settings.worker_count} ingest workers)",
            f"  data plane    {base}",
            f"  sourceConfig  {base}/sourceConfig",
            f"  health        {base}/health",
            f"  metrics       {base}/metrics",
            f"  warehouse     {self._warehouse_line(warehouse)}",
            *self._models_lines(warehouse),
            f"  data dir      {self.config.data_dir}",
            f"  config        {self.config.path or '(none: embedded defaults)'}",
        ]
        for source in sources:
            state = "enabled" if source.enabled else "disabled"
            lines.append(f"  source        {source.name} ({state})")
        if not self.config.sources:
            lines.append(f"  demo write key  {sources[0].write_key}")
            lines.append(
                f"                  (kept in {self.config.data_dir / 'control' / 'demo-source.yaml'})"
            )
            lines.append("  send traffic: headwater demo")
        print("\n".join(lines), file=self.out, flush=True)

    def _models_lines(self, warehouse: WarehouseSettings) -> list[str]:
        """Where the models and the analytics API are, when the warehouse process runs them."""
        if not warehouse.enabled:
            return []
        values = self.config.values
        schema = values.get("models.schema", "analytics")
        if values.get("models.enabled", True):
            when = values.get("models.schedule") or "no schedule"
            models = f"dbt project into schema {schema}, after loads and on '{when}'; headwater models run"
        else:
            models = "runs only when asked (models.enabled: false): headwater models run"
        lines = [f"  models        {models}"]
        if values.get("analytics.enabled", True):
            host = values.get("analytics.host", "127.0.0.1")
            shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
            port = values.get("analytics.port", 8090)
            lines.append(f"  analytics API http://{shown}:{port}/api/v1/ (openapi.json)")
        return lines

    @staticmethod
    def _warehouse_line(warehouse: WarehouseSettings) -> str:
        if not warehouse.enabled:
            return "off (warehouse.enabled: false)"
        where = str(warehouse.duckdb_path) if warehouse.engine == "duckdb" else "PostgreSQL"
        return f'{warehouse.engine} {where}, schema {warehouse.namespace}; query: headwater query "SQL"'
