"""Run history of the models, kept in the warehouse itself (`_headwater.model_runs`).

It lives beside the loader's bookkeeping rather than in a local file so that whoever can read the
warehouse can see whether its tables are fresh and why a run failed, and so that a wiped data
directory and a kept warehouse (or the reverse) never disagree about what has been built.
Statements are written once in PostgreSQL's dialect and rendered per engine; writes use an engine
of their own (its own connection), reads use `Engine.query`, which any thread may call and which
also works on a DuckDB file opened read-only.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from headwater.warehouse.engines.base import Engine
from headwater.warehouse.engines.render import quote_literal
from headwater.warehouse.errors import WarehouseError

__all__ = ["ModelResult", "RunHistory", "RunRecord"]

_CREATE = (
    "CREATE SCHEMA IF NOT EXISTS _headwater",
    """CREATE TABLE IF NOT EXISTS _headwater.model_runs (
        run_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        trigger TEXT NOT NULL,
        selector TEXT NOT NULL,
        backfill_start TEXT,
        backfill_end TEXT,
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ,
        duration_s DOUBLE PRECISION,
        status TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        error TEXT,
        results TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS _headwater.model_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
    )""",
)
_INSERT = """
INSERT INTO _headwater.model_runs (run_id, kind, trigger, selector, backfill_start, backfill_end, started_at,
    status, attempt, results)
VALUES (:run_id, :kind, :trigger, :selector, :backfill_start, :backfill_end, CAST(:started_at AS TIMESTAMPTZ),
    :status, :attempt, :results)
"""
_UPDATE = """
UPDATE _headwater.model_runs SET finished_at = CAST(:finished_at AS TIMESTAMPTZ), duration_s = :duration_s,
    status = :status, attempt = :attempt, error = :error, results = :results
WHERE run_id = :run_id
"""
_INTERRUPTED = """
UPDATE _headwater.model_runs SET status = 'failed', error = :error WHERE status = 'running'
"""
_SET_STATE = """
INSERT INTO _headwater.model_state (key, value, updated_at) VALUES (:key, :value, CAST(:now AS TIMESTAMPTZ))
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
"""
# Times come back as Unix seconds: both engines agree on that, and no driver time-zone types leak.
_COLUMNS = (
    "run_id, kind, trigger, selector, backfill_start, backfill_end, "
    "CAST(EXTRACT(EPOCH FROM started_at) AS DOUBLE PRECISION), "
    "CAST(EXTRACT(EPOCH FROM finished_at) AS DOUBLE PRECISION), duration_s, status, attempt, error, results"
)


@dataclass(frozen=True, slots=True)
class ModelResult:
    """One node of a run (model, seed or test): how it ended, how long it took, rows in its table."""

    name: str
    type: str
    status: str
    seconds: float
    rows: int | None = None
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "rows": self.rows,
        }
        if self.message:
            out["message"] = self.message
        return out


@dataclass(slots=True)
class RunRecord:
    """One run of the project, as `_headwater.model_runs` holds it."""

    run_id: str
    kind: str  # incremental | full_refresh | backfill
    trigger: str  # schedule | after_loads | manual | cli
    started_at: float
    selector: str = ""
    backfill_start: str | None = None
    backfill_end: str | None = None
    finished_at: float | None = None
    duration_s: float | None = None
    status: str = "running"  # running | success | failed
    attempt: int = 1
    error: str | None = None
    results: list[ModelResult] = field(default_factory=list)

    @property
    def refreshes_all(self) -> bool:
        """A successful run of the whole project over new data: what "the tables are fresh as of" means."""
        return self.status == "success" and not self.selector and self.kind != "backfill"

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "kind": self.kind,
            "trigger": self.trigger,
            "select": self.selector,
            "backfill_start": self.backfill_start,
            "backfill_end": self.backfill_end,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_s": self.duration_s,
            "status": self.status,
            "attempt": self.attempt,
            "error": self.error,
            "results": [result.as_dict() for result in self.results],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        return cls(
            run_id=str(data["run_id"]),
            kind=str(data["kind"]),
            trigger=str(data["trigger"]),
            started_at=float(data["started_at"]),
            selector=str(data.get("select") or ""),
            backfill_start=data.get("backfill_start"),
            backfill_end=data.get("backfill_end"),
            finished_at=data.get("finished_at"),
            duration_s=data.get("duration_s"),
            status=str(data["status"]),
            attempt=int(data.get("attempt") or 1),
            error=data.get("error"),
            results=[_result(item) for item in data.get("results") or []],
        )


def _result(item: Mapping[str, Any]) -> ModelResult:
    return ModelResult(
        name=str(item["name"]),
        type=str(item.get("type", "model")),
        status=str(item["status"]),
        seconds=float(item.get("seconds") or 0.0),
        rows=item.get("rows"),
        message=str(item.get("message") or ""),
    )


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


class RunHistory:
    """Writes run records through `writer` (an engine no other thread uses) and reads through `reader`.

    `reader` defaults to `writer` (its `query` takes a cursor of its own); `writer` is None where
    nothing is written (status on a DuckDB file opened read-only).
    """

    def __init__(self, writer: Engine | None, reader: Engine | None = None) -> None:
        if reader is None and writer is None:
            raise ValueError("a run history needs an engine")
        self.writer = writer
        self.reader: Engine = reader if reader is not None else writer  # type: ignore[assignment]
        self._ready = False
        self._lock = threading.Lock()
        self._open_lock = threading.Lock()  # status readers on several threads may be the first

    def _write(self, statement: str, params: Mapping[str, Any]) -> None:
        if self.writer is None:
            raise WarehouseError("this run history is read-only")
        engine = self.writer
        with self._lock, engine.transaction():
            if not self._ready:
                for create in _CREATE:
                    engine.execute(engine.sql(create))
            engine.execute(engine.sql(statement), params)
        self._ready = True

    def start(self, record: RunRecord) -> None:
        self._write(
            _INSERT,
            {
                "run_id": record.run_id,
                "kind": record.kind,
                "trigger": record.trigger,
                "selector": record.selector,
                "backfill_start": record.backfill_start,
                "backfill_end": record.backfill_end,
                "started_at": _iso(record.started_at),
                "status": record.status,
                "attempt": record.attempt,
                "results": "[]",
            },
        )

    def update(self, record: RunRecord) -> None:
        """Store the record's current state (after each attempt, and when it ends)."""
        self._write(
            _UPDATE,
            {
                "run_id": record.run_id,
                "finished_at": _iso(record.finished_at) if record.finished_at is not None else None,
                "duration_s": record.duration_s,
                "status": record.status,
                "attempt": record.attempt,
                "error": record.error,
                "results": orjson.dumps([result.as_dict() for result in record.results]).decode(),
            },
        )

    def fail_interrupted(self) -> int:
        """Mark runs left `running` by a process that died mid-run as failed; returns how many."""
        if not self._read("SELECT 1 FROM _headwater.model_runs WHERE status = 'running' LIMIT 1"):
            return 0
        rows = self._read("SELECT count(*) FROM _headwater.model_runs WHERE status = 'running'")
        self._write(_INTERRUPTED, {"error": "interrupted: the process running it stopped"})
        return int(rows[0][0])

    def set_state(self, key: str, value: str) -> None:
        self._write(_SET_STATE, {"key": key, "value": value, "now": _iso(datetime.now(UTC).timestamp())})

    def state(self, key: str) -> str | None:
        rows = self._read(f"SELECT value FROM _headwater.model_state WHERE key = {quote_literal(key)}")
        return str(rows[0][0]) if rows else None

    def recent(self, limit: int = 20) -> list[RunRecord]:
        """The newest runs first."""
        return [
            _record(row)
            for row in self._read(
                f"SELECT {_COLUMNS} FROM _headwater.model_runs "
                f"ORDER BY started_at DESC, run_id LIMIT {int(limit)}"
            )
        ]

    def get(self, run_id: str) -> RunRecord | None:
        where = f"WHERE run_id = {quote_literal(run_id)}"
        rows = self._read(f"SELECT {_COLUMNS} FROM _headwater.model_runs {where}")
        return _record(rows[0]) if rows else None

    def last_started(self, *, status: str | None = None) -> float | None:
        """When the newest run (of that status) started, as Unix seconds."""
        where = f" WHERE status = {quote_literal(status)}" if status else ""
        rows = self._read(
            "SELECT CAST(EXTRACT(EPOCH FROM max(started_at)) AS DOUBLE PRECISION) "
            f"FROM _headwater.model_runs{where}"
        )
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    def last_load_committed(self) -> float | None:
        """When the newest load of the loader committed (Unix seconds), None before the first load."""
        rows = self._read(
            "SELECT CAST(EXTRACT(EPOCH FROM max(committed_at)) AS DOUBLE PRECISION) FROM _headwater.loads"
        )
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    def _read(self, statement: str) -> list[tuple[Any, ...]]:
        """Rows of a read; an empty list while the table does not exist yet (no run, no load so far)."""
        try:
            with self._open_lock:
                self.reader.open()
            return self.reader.query(self.reader.sql(statement)).rows
        except ValueError as error:  # QueryError: the schema or table is missing
            if _missing(str(error)):
                return []
            raise WarehouseError(f"cannot read the run history: {error}") from error


def _missing(message: str) -> bool:
    lowered = message.lower()
    return "does not exist" in lowered or "not found" in lowered


def _record(row: tuple[Any, ...]) -> RunRecord:
    run_id, kind, trigger, selector, start, end, started, finished, duration, status, attempt = row[:11]
    error, results = row[11:]
    return RunRecord(
        run_id=str(run_id),
        kind=str(kind),
        trigger=str(trigger),
        selector=str(selector or ""),
        backfill_start=start,
        backfill_end=end,
        started_at=float(started),
        finished_at=float(finished) if finished is not None else None,
        duration_s=float(duration) if duration is not None else None,
        status=str(status),
        attempt=int(attempt),
        error=error,
        results=[_result(item) for item in orjson.loads(results or "[]")],
    )
