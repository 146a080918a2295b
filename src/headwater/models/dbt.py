"""Running dbt in-process with `dbtRunner`, its output kept out of the package folder.

In-process matters on DuckDB: the warehouse process holds the file open, and only a connection
from the same process can share it. dbt's own files (manifest, partial-parse cache, logs) go
under the caller's work directory, since the project folder inside the package may be read-only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

__all__ = ["PROJECT_DIR", "DbtOutcome", "NodeOutcome", "invoke_dbt"]

PROJECT_DIR = Path(__file__).parent / "project"

# Commands that produce no artefacts refuse the --target-path option.
_NO_TARGET_PATH = frozenset({"deps", "clean", "init"})

# dbt keeps global state (flags, adapter registry, event manager) per process: one invocation at a time.
_DBT_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class NodeOutcome:
    """One model, seed or test as dbt reported it."""

    unique_id: str
    resource_type: str
    name: str
    status: str
    seconds: float
    rows: int | None
    message: str


@dataclass(frozen=True, slots=True)
class DbtOutcome:
    """What one dbt command did; `error` says why it failed when `success` is false."""

    success: bool
    error: str
    nodes: list[NodeOutcome] = field(default_factory=list)

    @property
    def failures(self) -> list[NodeOutcome]:
        return [node for node in self.nodes if node.status in {"error", "fail", "runtime error"}]


def invoke_dbt(
    command: Sequence[str],
    *,
    profiles_dir: Path,
    work_dir: Path,
    project_dir: Path = PROJECT_DIR,
    variables: Mapping[str, Any] | None = None,
) -> DbtOutcome:
    """Run `dbt <command>` (e.g. ["build", "--full-refresh"]) and summarise its results."""
    from dbt.cli.main import dbtRunner

    args = [*command, "--project-dir", str(project_dir), "--profiles-dir", str(profiles_dir)]
    if command and command[0] not in _NO_TARGET_PATH:
        args += ["--target-path", str(work_dir / "target")]
    args += [
        # A self-hosted pipeline does not report its runs to dbt Labs (dbt's default is to try).
        "--no-send-anonymous-usage-stats",
        "--log-path",
        str(work_dir / "logs"),
        "--log-level",
        "warn",
        "--log-level-file",
        "info",
    ]
    if variables:
        args += ["--vars", orjson.dumps(dict(variables)).decode()]
    work_dir.mkdir(parents=True, exist_ok=True)
    with _DBT_LOCK:
        try:
            result = dbtRunner().invoke(args)
        finally:
            _close_log_files()
            _release_duckdb()
    nodes = _nodes(result.result)
    error = ""
    if not result.success:
        if result.exception is not None:
            error = str(result.exception)
        else:
            failed = [node for node in nodes if node.status in {"error", "fail", "runtime error"}]
            error = "; ".join(f"{node.name}: {node.message}" for node in failed[:5]) or "dbt failed"
    return DbtOutcome(success=bool(result.success), error=error, nodes=nodes)


def _close_log_files() -> None:
    """Close the file dbt logged this run to.

    dbt opens a new log file handler on every invocation and, in-process, drops the old one
    without closing it; a long-lived warehouse process would leak one file descriptor per run.
    """
    from dbt_common.events.event_manager_client import get_event_manager

    for each in list(get_event_manager().loggers):
        python_logger = getattr(each, "_python_logger", None)
        if not isinstance(python_logger, logging.Logger):
            continue
        for handler in list(python_logger.handlers):
            if isinstance(handler, logging.FileHandler):
                handler.close()
                python_logger.removeHandler(handler)


def _release_duckdb() -> None:
    """Close the DuckDB connection dbt-duckdb keeps for the life of the process.

    Kept, it pins the database instance after our own engines close it: a command that ran dbt
    could not then open the file read-only, and a warehouse process that reopened its engine
    after a fatal error would have dbt write through the stale instance. While the warehouse
    process holds the file, closing dbt's connection leaves the shared instance open.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # dbt-duckdb is not installed: nothing is kept
        return
    environment = getattr(DuckDBConnectionManager, "_ENV", None)
    DuckDBConnectionManager.close_all_connections()  # type: ignore[no-untyped-call]
    if environment is not None:
        environment.close()


def _nodes(result: Any) -> list[NodeOutcome]:
    outcomes: list[NodeOutcome] = []
    for each in getattr(result, "results", None) or []:
        node = getattr(each, "node", None)
        if node is None:
            continue
        response = getattr(each, "adapter_response", None) or {}
        rows = response.get("rows_affected") if isinstance(response, dict) else None
        outcomes.append(
            NodeOutcome(
                unique_id=str(node.unique_id),
                resource_type=str(node.resource_type),
                name=str(node.name),
                status=str(each.status),
                seconds=float(getattr(each, "execution_time", 0.0) or 0.0),
                rows=int(rows) if isinstance(rows, int) and rows >= 0 else None,
                message=str(getattr(each, "message", "") or ""),
            )
        )
    return outcomes
