"""One run of the dbt project: profiles, vars, seeds when they changed, `dbt build`, retries, history.

Runs happen in the process that owns the warehouse (dbt in-process shares the DuckDB file the
loader holds open), one at a time. `dbt build` runs every model's tests right after the model, so a
model whose tests fail stops its dependants instead of feeding them bad rows. Seeds are small
lookup tables; they are loaded on the first run, when their files change and on full refreshes,
not every hour, so a scheduled run never leaves them briefly empty for the analytics API.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml

from headwater.logs import get_logger
from headwater.models.dbt import PROJECT_DIR, DbtOutcome, NodeOutcome, invoke_dbt
from headwater.models.history import ModelResult, RunHistory, RunRecord
from headwater.models.profiles import write_profiles
from headwater.models.settings import ModelsSettings
from headwater.warehouse.settings import WarehouseSettings

__all__ = ["KINDS", "TRIGGERS", "ModelRunner", "RunRequest", "dbt_vars", "new_run_id"]

log = get_logger("headwater.models.runner")

KINDS = ("incremental", "full_refresh", "backfill")
TRIGGERS = ("schedule", "after_loads", "manual", "cli")
_FAILED = {"error", "fail", "runtime error"}


def new_run_id() -> str:
    """Sortable by start time and unique: `20260115T100000Z-3f9a1c`."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What to run. `start`/`end` (backfill) bound the raw rows re-read: timestamp in [start, end)."""

    kind: str = "incremental"
    trigger: str = "manual"
    select: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None
    run_id: str = field(default_factory=new_run_id)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.trigger not in TRIGGERS:
            raise ValueError(f"trigger: one of {', '.join(TRIGGERS)}, not {self.trigger!r}")
        if self.kind == "backfill":
            if self.start is None or self.end is None:
                raise ValueError("a backfill needs a start and an end date")
            if self.start >= self.end:
                raise ValueError(f"the backfill start {self.start} must be before its end {self.end}")
        elif self.start is not None or self.end is not None:
            raise ValueError("start and end dates belong to backfills only")

    @classmethod
    def from_json(cls, body: Mapping[str, Any], *, trigger: str = "manual") -> RunRequest:
        """From an API body `{kind, select, start, end}`; raises ValueError naming the wrong field."""
        kind = body.get("kind") or "incremental"
        if not isinstance(kind, str):
            raise ValueError("kind: text")
        raw_select = body.get("select") or []
        if isinstance(raw_select, str):
            raw_select = raw_select.split()
        if not isinstance(raw_select, list) or not all(isinstance(item, str) for item in raw_select):
            raise ValueError("select: a list of dbt selectors")
        return cls(
            kind=kind,
            trigger=trigger,
            select=tuple(raw_select),
            start=_date(body.get("start"), "start"),
            end=_date(body.get("end"), "end"),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "select": list(self.select),
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }


def _date(value: object, name: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{name}: a date such as 2026-01-31, not {value!r}") from None


def dbt_vars(
    settings: ModelsSettings, warehouse: WarehouseSettings, request: RunRequest | None = None
) -> dict[str, Any]:
    """The project's vars (names are the models' contract) from Headwater's settings."""
    half_life = settings.time_decay_half_life_days
    variables: dict[str, Any] = {
        "headwater_source_schema": warehouse.namespace,
        "headwater_session_timeout_seconds": settings.session_timeout_minutes * 60,
        "headwater_trailing_window_hours": settings.trailing_window_hours,
        "headwater_conversion_events": list(settings.conversion_events),
        "headwater_revenue_properties": list(settings.revenue_properties),
        "headwater_attribution_lookback_days": settings.attribution_lookback_days,
        "headwater_time_decay_half_life_days": int(half_life) if half_life.is_integer() else half_life,
        "headwater_timezone": settings.timezone,
    }
    if request is not None and request.kind == "backfill":
        assert request.start is not None and request.end is not None
        variables["headwater_backfill_start"] = request.start.isoformat()
        variables["headwater_backfill_end"] = request.end.isoformat()
    return variables


@dataclass(slots=True)
class _Attempt:
    success: bool
    error: str
    results: list[ModelResult]


Invoke = Callable[..., DbtOutcome]


class ModelRunner:
    """Runs requests one at a time and records each in the run history.

    `wait(seconds)` pauses between retries and answers True when the process is stopping (the
    worker passes its stop event's `wait`), so a shutdown never sits out a retry delay.
    """

    def __init__(
        self,
        settings: ModelsSettings,
        warehouse: WarehouseSettings,
        history: RunHistory,
        *,
        wait: Callable[[float], bool] | None = None,
        on_finish: Callable[[RunRecord], None] | None = None,
        invoke: Invoke = invoke_dbt,
    ) -> None:
        self.settings = settings
        self.warehouse = warehouse
        self.history = history
        self.project_dir = settings.project_dir or PROJECT_DIR
        self.work_dir = settings.work_dir / "dbt"
        self._wait = wait if wait is not None else _sleep
        self._on_finish = on_finish
        self._invoke = invoke
        self._profiles_dir: Path | None = None
        self._lock = threading.Lock()
        self.current: RunRecord | None = None

    # --- the run -------------------------------------------------------------------------------

    def run(self, request: RunRequest, *, retries: int = 0) -> RunRecord:
        """Run to the end (retrying up to `retries` times) and return the finished record."""
        with self._lock:
            record = RunRecord(
                run_id=request.run_id,
                kind=request.kind,
                trigger=request.trigger,
                started_at=time.time(),
                selector=" ".join(request.select),
                backfill_start=request.start.isoformat() if request.start else None,
                backfill_end=request.end.isoformat() if request.end else None,
            )
            self.current = record
            try:
                return self._run(request, record, retries)
            finally:
                self.current = None

    def _run(self, request: RunRequest, record: RunRecord, retries: int) -> RunRecord:
        clock = time.monotonic()
        self.history.start(record)
        log.info("models run started", extra={"run_id": record.run_id, "kind": record.kind})
        attempt = _Attempt(False, "not run", [])
        for number in range(1, retries + 2):
            record.attempt = number
            attempt = self._attempt(request)
            record.results, record.error = attempt.results, attempt.error or None
            if attempt.success or number > retries:
                break
            delay = self.settings.retry_delay_seconds * 2 ** (number - 1)
            log.warning(
                "models run failed; retrying",
                extra={"run_id": record.run_id, "attempt": number, "delay": delay, "error": attempt.error},
            )
            self._record_quietly(record)
            if self._wait(delay):
                record.error = f"{attempt.error} (stopped before retry {number})"
                break
        record.status = "success" if attempt.success else "failed"
        record.finished_at = time.time()
        record.duration_s = round(time.monotonic() - clock, 3)
        self.history.update(record)
        if attempt.success:
            log.info("models run finished", extra={"run_id": record.run_id, "seconds": record.duration_s})
        else:
            log.error("models run failed", extra={"run_id": record.run_id, "error": record.error})
        if self._on_finish is not None:
            self._on_finish(record)
        return record

    def _record_quietly(self, record: RunRecord) -> None:
        try:
            self.history.update(record)
        except Exception as error:  # the retry matters more than the interim row
            log.warning("could not record a failed attempt", extra={"error": str(error)})

    def _attempt(self, request: RunRequest) -> _Attempt:
        try:
            return self._build(request)
        except Exception as error:  # a run must end in a record, whatever broke
            log.exception("models run crashed")
            return _Attempt(False, f"{type(error).__name__}: {error}", [])

    def _dbt(self, command: list[str], variables: Mapping[str, Any]) -> DbtOutcome:
        return self._invoke(
            command,
            profiles_dir=self._profiles(),
            work_dir=self.work_dir,
            project_dir=self.project_dir,
            variables=variables,
        )

    def _build(self, request: RunRequest) -> _Attempt:
        variables = dbt_vars(self.settings, self.warehouse, request)
        common: list[str] = ["--target", self.settings.target] if self.settings.target else []
        results: list[ModelResult] = []
        full = request.kind == "full_refresh"
        seeds_key, seeds_hash = self._seeds_fingerprint()
        if seeds_hash and (full or self._seeds_changed(seeds_key, seeds_hash)):
            seeded = self._dbt(["seed", "--full-refresh", *common], variables)
            results += self._results(seeded)
            if not seeded.success:
                return _Attempt(False, f"dbt seed: {seeded.error}", results)
            self.history.set_state(seeds_key, seeds_hash)
        command = ["build", "--exclude", "resource_type:seed", *common]
        if full:
            command.append("--full-refresh")
        if request.select:
            command += ["--select", *request.select]
        built = self._dbt(command, variables)
        results += self._results(built)
        return _Attempt(built.success, "" if built.success else built.error, results)

    # --- profiles and seeds --------------------------------------------------------------------

    def _profiles(self) -> Path:
        if self.settings.profiles_dir is not None:
            return self.settings.profiles_dir
        if self._profiles_dir is None:
            self._profiles_dir = write_profiles(
                self.settings.work_dir / "profiles",
                self.warehouse,
                self.settings.schema,
                threads=self.settings.threads,
            )
        return self._profiles_dir

    def _seeds_fingerprint(self) -> tuple[str, str]:
        """A digest of the seed files and the project file (which holds seed column types); '' if none."""
        digest = hashlib.sha256()
        found = False
        project_file = self.project_dir / "dbt_project.yml"
        document = yaml.safe_load(project_file.read_text()) if project_file.exists() else None
        paths = (document or {}).get("seed-paths") or ["seeds"]
        for folder in paths:
            root = self.project_dir / str(folder)
            for path in sorted(root.rglob("*")) if root.is_dir() else []:
                if path.is_file():
                    found = True
                    digest.update(str(path.relative_to(self.project_dir)).encode() + b"\0")
                    digest.update(path.read_bytes() + b"\0")
        if not found:
            return "", ""
        if project_file.exists():
            digest.update(project_file.read_bytes())
        target = self.settings.target or "default"
        return f"seeds:{target}:{self.settings.schema}", digest.hexdigest()

    def _seeds_changed(self, key: str, fingerprint: str) -> bool:
        return self.history.state(key) != fingerprint

    # --- results -------------------------------------------------------------------------------

    def _results(self, outcome: DbtOutcome) -> list[ModelResult]:
        relations = self._relations()
        results = []
        for node in outcome.nodes:
            rows = node.rows
            if node.resource_type == "model" and node.status == "success":
                rows = self._count(relations.get(node.unique_id))
            results.append(_model_result(node, rows))
        return results

    def _relations(self) -> dict[str, str]:
        """unique_id → relation name of the table models of the last invocation (views are not counted)."""
        target = self.work_dir / "target"
        try:
            run = orjson.loads((target / "run_results.json").read_bytes())
            manifest = orjson.loads((target / "manifest.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return {}
        nodes = manifest.get("nodes") or {}
        relations = {}
        for result in run.get("results") or []:
            unique_id, relation = result.get("unique_id"), result.get("relation_name")
            materialized = ((nodes.get(unique_id) or {}).get("config") or {}).get("materialized")
            if relation and materialized in {"table", "incremental"}:
                relations[str(unique_id)] = str(relation)
        return relations

    def _count(self, relation: str | None) -> int | None:
        """Rows in the model's table after the run; None when it cannot be read from here."""
        if relation is None:
            return None
        try:
            result = self.history.reader.query(f"SELECT count(*) FROM {relation}")
        except Exception:  # rows are a nicety of the status page, never a reason to fail a run
            return None
        return int(result.rows[0][0]) if result.rows else None


def _model_result(node: NodeOutcome, rows: int | None) -> ModelResult:
    message = node.message if node.status in _FAILED or node.status == "warn" else ""
    return ModelResult(
        name=node.name,
        type=node.resource_type,
        status=node.status,
        seconds=node.seconds,
        rows=rows,
        message=message[:2000],
    )


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False
