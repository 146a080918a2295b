"""When model runs happen: cron fires in a time zone, after-loads runs, queued requests, one at a time.

The decisions are checked on explicit instants through `ModelScheduler.due(now)`; the thread is
checked with a runner stand-in that blocks until released, so "one at a time" is observed, not timed.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from headwater.config import ConfigError, load_config
from headwater.models.history import RunHistory, RunRecord
from headwater.models.runner import RunRequest
from headwater.models.schedule import ModelScheduler, check_cron, next_fire
from headwater.models.settings import ModelsSettings
from headwater.warehouse.engines.duckdb import DuckDBEngine
from tests.warehouse.engines_fixtures import fresh_duckdb

UTC_ZONE = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")


def at(text: str) -> float:
    """Unix seconds of an ISO time with its offset."""
    return datetime.fromisoformat(text).timestamp()


def test_next_fire_in_utc_and_across_a_daylight_saving_change() -> None:
    assert next_fire("0 * * * *", at("2026-01-15T10:15:00+00:00"), UTC_ZONE) == at(
        "2026-01-15T11:00:00+00:00"
    )
    # Strictly after: at 11:00:00 exactly the next fire is 12:00.
    assert next_fire("0 * * * *", at("2026-01-15T11:00:00+00:00"), UTC_ZONE) == at(
        "2026-01-15T12:00:00+00:00"
    )
    # 03:30 in New York: 2026-03-07 is still EST (UTC-5), so 08:30Z; DST starts 2026-03-08 (second
    # Sunday of March), so that day's 03:30 is EDT (UTC-4), 07:30Z.
    assert next_fire("30 3 * * *", at("2026-03-07T00:00:00-05:00"), NEW_YORK) == at(
        "2026-03-07T08:30:00+00:00"
    )
    assert next_fire("30 3 * * *", at("2026-03-07T08:30:00+00:00"), NEW_YORK) == at(
        "2026-03-08T07:30:00+00:00"
    )
    assert next_fire("@daily", at("2026-01-15T10:15:00+00:00"), UTC_ZONE) == at("2026-01-16T00:00:00+00:00")
    assert next_fire("", at("2026-01-15T10:15:00+00:00"), UTC_ZONE) is None


def test_bad_crons_and_time_zones_are_config_errors(tmp_path: Path) -> None:
    assert check_cron("0 * * * *") is None and check_cron("") is None
    assert "not a cron expression" in (check_cron("61 * * * *") or "")
    path = tmp_path / "headwater.yaml"
    path.write_text("models:\n  schedule: '0 25 * * *'\n")
    with pytest.raises(ConfigError, match=r"models\.schedule"):
        ModelsSettings.from_config(load_config(path, environ={}))
    with pytest.raises(ConfigError, match=r"models\.timezone"):
        ModelsSettings.from_config(load_config(None, environ={"HEADWATER_MODELS_TIMEZONE": "Mars/Olympus"}))
    settings = ModelsSettings.from_config(
        load_config(None, environ={"HEADWATER_MODELS_CONVERSION_EVENTS": "Order Completed, Trial Started,"})
    )
    assert settings.conversion_events == ("Order Completed", "Trial Started")


class StubRunner:
    """Stands in for ModelRunner: records requests; `gate` (when set) holds each run until released."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.current: RunRecord | None = None
        self.ran: list[RunRequest] = []
        self.gate = gate
        self.concurrent = 0
        self.most_concurrent = 0
        self.started = threading.Semaphore(0)
        self._lock = threading.Lock()

    def run(self, request: RunRequest, *, retries: int = 0) -> RunRecord:
        with self._lock:
            self.concurrent += 1
            self.most_concurrent = max(self.most_concurrent, self.concurrent)
        record = RunRecord(request.run_id, request.kind, request.trigger, started_at=1.0, attempt=retries + 1)
        self.current = record
        self.started.release()
        if self.gate is not None:
            assert self.gate.wait(30)
            self.gate.clear()
        self.ran.append(request)
        record.status = "success"
        self.current = None
        with self._lock:
            self.concurrent -= 1
        return record


class NoHistory:
    """A run history with nothing in it yet."""

    def get(self, run_id: str) -> None:
        return None


def scheduler(start: float, runner: StubRunner | None = None, **changes: Any) -> ModelScheduler:
    settings = replace(ModelsSettings(min_interval_seconds=300.0), **changes)
    return ModelScheduler(
        settings,
        runner or StubRunner(),  # type: ignore[arg-type]
        NoHistory(),  # type: ignore[arg-type]
        clock=lambda: start,
    )


T0 = at("2026-01-15T10:15:00+00:00")


def test_after_loads_runs_wait_for_the_minimum_interval() -> None:
    plan = scheduler(T0)
    assert plan.due(T0) is None  # no loads, no cron fire until 11:00
    plan.notify_loads()
    first = plan.due(T0)
    assert first is not None and (first.kind, first.trigger) == ("incremental", "after_loads")
    assert plan.due(T0) is None  # the run took the pending loads
    plan.notify_loads()
    assert plan.due(T0 + 299) is None  # 299 s < 300 s since the last start
    second = plan.due(T0 + 300)
    assert second is not None and second.trigger == "after_loads"
    assert plan.status()["loads_pending"] is False


def test_cron_fires_fold_missed_ones_and_a_full_refresh_replaces_an_incremental() -> None:
    plan = scheduler(T0)
    status = plan.status()
    assert status["next_incremental_at"] == at("2026-01-15T11:00:00+00:00")
    assert status["next_full_refresh_at"] == at("2026-01-16T03:30:00+00:00")
    hourly = plan.due(at("2026-01-15T11:00:00+00:00"))
    assert hourly is not None and (hourly.kind, hourly.trigger) == ("incremental", "schedule")
    # Down from 11:00 to 16:20: five hourly fires missed, one run.
    assert plan.due(at("2026-01-15T16:20:00+00:00")) is not None
    assert plan.due(at("2026-01-15T16:20:00+00:00")) is None
    assert plan.status()["next_incremental_at"] == at("2026-01-15T17:00:00+00:00")

    half_hourly = scheduler(T0, schedule="*/30 * * * *")
    both = half_hourly.due(at("2026-01-16T03:30:00+00:00"))
    assert both is not None and both.kind == "full_refresh"
    assert half_hourly.due(at("2026-01-16T03:30:00+00:00")) is None
    assert half_hourly.status()["next_incremental_at"] == at("2026-01-16T04:00:00+00:00")


def test_requests_go_first_and_still_run_when_scheduling_is_off() -> None:
    plan = scheduler(T0)
    asked = RunRequest(kind="full_refresh", trigger="cli")
    plan.request(asked)
    first = plan.due(at("2026-01-15T11:00:00+00:00"))  # the 11:00 fire is due as well
    assert first is asked
    later = plan.due(at("2026-01-15T11:00:00+00:00"))
    assert later is not None and later.trigger == "schedule"

    off = scheduler(T0, enabled=False)
    off.notify_loads()
    assert off.due(at("2026-01-16T03:30:00+00:00")) is None
    assert off.status()["next_incremental_at"] is None
    off.request(RunRequest(trigger="manual"))
    assert off.due(T0) is not None


def test_the_thread_runs_one_at_a_time_and_queued_runs_wait() -> None:
    gate = threading.Event()
    runner = StubRunner(gate)
    plan = scheduler(T0, runner, enabled=False)
    plan.start()
    try:
        first, second, third = (RunRequest(trigger="manual") for _ in range(3))
        plan.request(first)
        assert runner.started.acquire(timeout=30)  # the first run is in progress
        assert plan.request(second)["ahead"] == 1
        assert plan.request(third)["ahead"] == 2
        assert plan.lookup(second.run_id) == {
            "run_id": second.run_id,
            "status": "queued",
            "ahead": 0,
            **second.as_json(),
        }
        running = plan.lookup(first.run_id)
        assert running is not None and running["status"] == "running"
        gate.set()
        assert runner.started.acquire(timeout=30)  # the second started once the first ended
        gate.set()
        assert runner.started.acquire(timeout=30)
        gate.set()
    finally:
        plan.close(timeout=30)
    assert [r.run_id for r in runner.ran] == [first.run_id, second.run_id, third.run_id]
    assert runner.most_concurrent == 1
    done = plan.lookup(third.run_id)
    assert done is not None and done["status"] == "success"
    # Requests from people are not retried; scheduled ones get models.retries (2): attempt 1 vs 3.
    assert done["attempt"] == 1


def test_priming_reads_new_loads_and_interrupted_runs_from_the_warehouse(tmp_path: Path) -> None:
    engine = DuckDBEngine(fresh_duckdb(tmp_path))
    engine.open()
    try:
        history = RunHistory(engine)
        history.start(RunRecord("old", "incremental", "schedule", started_at=at("2026-01-15T09:00:00+00:00")))
        with engine.transaction():
            engine.execute("CREATE TABLE _headwater.loads (load_id TEXT, committed_at TIMESTAMPTZ)")
            engine.execute("INSERT INTO _headwater.loads VALUES ('l1', TIMESTAMPTZ '2026-01-15 09:30:00+00')")
        plan = ModelScheduler(ModelsSettings(), StubRunner(), history, clock=lambda: T0)  # type: ignore[arg-type]
        plan.prime()
        status = plan.status()
        # The run left "running" is failed; the 09:30 load is newer than its 09:00 start: pending.
        assert status["last_run"]["run_id"] == "old" and status["last_run"]["status"] == "failed"
        assert status["loads_pending"] is True
        assert status["after_loads_run_at"] == at("2026-01-15T09:05:00+00:00")  # 09:00 + 300 s
        request = plan.due(T0)
        assert request is not None and request.trigger == "after_loads"
    finally:
        engine.close()


def test_status_times_are_unix_seconds() -> None:
    status = scheduler(T0).status()
    assert datetime.fromtimestamp(status["next_incremental_at"], UTC).hour == 11
