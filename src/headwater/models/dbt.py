"""Running dbt in-process with `dbtRunner`, its output kept out of the package folder.

In-process matters on DuckDB: the warehouse process holds the file open, and only a connection
from the same process can share it. dbt's own files (manifest, partial-parse cache, logs) go
under the caller's work directory, since the project folder inside the package may be read-only.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

__all__ = ["PROJECT_DIR", "DbtOutcome", "NodeOutcome", "invoke_dbt"]

PROJECT_DIR = Path(__file__).parent / "project"

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

    args = [
        *command,
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(profiles_dir),
        "--target-path",
        str(work_dir / "target"),
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
        result = dbtRunner().invoke(args)
    nodes = _nodes(result.result)
    error = ""
    if not result.success:
        if result.exception is not None:
            error = str(result.exception)
        else:
            failed = [node for node in nodes if node.status in {"error", "fail", "runtime error"}]
            error = "; ".join(f"{node.name}: {node.message}" for node in failed[:5]) or "dbt failed"
    return DbtOutcome(success=bool(result.success), error=error, nodes=nodes)


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
