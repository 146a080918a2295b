"""ModelRunner on real warehouses: a tiny dbt project run in-process on a DuckDB file and on PostgreSQL.

The tiny project has what the runner cares about: a seed, a table model that joins it, an
incremental model, a model that echoes the vars it was given (so the var plumbing is checked
value by value) and a schema test. A copy with a model reading a missing table checks failures.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from headwater.models.history import ModelResult, RunHistory, RunRecord
from headwater.models.runner import ModelRunner, RunRequest, dbt_vars
from headwater.models.settings import ModelsSettings
from headwater.warehouse.engines.base import Engine
from headwater.warehouse.engines.open import open_engine
from headwater.warehouse.settings import WarehouseSettings
from tests.warehouse.engines_fixtures import fresh_duckdb, fresh_postgres_dsn

TINY_PROJECT = {
    "dbt_project.yml": """
name: tiny
version: "1.0.0"
config-version: 2
profile: headwater
vars:
  headwater_source_schema: events
  headwater_backfill_start: ""
  headwater_backfill_end: ""
seeds:
  tiny:
    +fast: false
""",
    "seeds/labels.csv": "event_text,label\nSigned Up,signup\nOrder Completed,order\n",
    "models/event_counts.sql": """
{{ config(materialized='table') }}
select t.event_text, l.label, count(*) as n
from {{ var('headwater_source_schema') }}.tracks as t
left join {{ ref('labels') }} as l on l.event_text = t.event_text
group by t.event_text, l.label
""",
    "models/tracks_seen.sql": """
{{ config(materialized='incremental', unique_key='id') }}
select id, event_text from {{ var('headwater_source_schema') }}.tracks
{% if is_incremental() %} where id > (select max(id) from {{ this }}) {% endif %}
""",
    "models/run_vars.sql": """
{{ config(materialized='table') }}
select '{{ var("headwater_backfill_start") }}' as backfill_start,
       '{{ var("headwater_backfill_end") }}' as backfill_end,
       {{ var("headwater_session_timeout_seconds") }} as timeout_s,
       '{{ var("headwater_conversion_events") | join("|") }}' as conversions,
       '{{ var("headwater_source_schema") }}' as source_schema
""",
    "models/schema.yml": """
version: 2
models:
  - name: event_counts
    columns:
      - name: n
        data_tests: [not_null]
""",
}


def make_tiny_project(root: Path, *, broken: bool = False) -> Path:
    """Write the tiny project under `root`; `broken` adds a model that reads a table that is not there."""
    for name, text in TINY_PROJECT.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip())
    if broken:
        (root / "models" / "broken.sql").write_text("select * from events.no_such_table_xyz\n")
    return root


RAW_ROWS = [(1, "Signed Up"), (2, "Order Completed"), (3, "Order Completed")]


def load_raw(engine: Engine, rows: list[tuple[int, str]]) -> None:
    """Stand-in for the loader: events.tracks and a _headwater.loads row per call."""
    with engine.transaction():
        for statement in (
            "CREATE SCHEMA IF NOT EXISTS events",
            "CREATE TABLE IF NOT EXISTS events.tracks (id BIGINT, event_text TEXT)",
        ):
            engine.execute(engine.sql(statement))
        for row_id, text in rows:
            engine.execute(
                engine.sql("INSERT INTO events.tracks (id, event_text) VALUES (:id, :text)"),
                {"id": row_id, "text": text},
            )


@dataclass
class Warehouse:
    kind: str
    settings: WarehouseSettings
    loader: Engine  # plays the loader's engine
    history: RunHistory  # on an engine of its own, as in the warehouse process


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def warehouse(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    kind = str(request.param)
    tmp = tmp_path_factory.mktemp(f"runner-{kind}")
    if kind == "duckdb":
        settings = WarehouseSettings(engine="duckdb", duckdb_path=fresh_duckdb(tmp))
        yield from _open(kind, settings)
        return
    with fresh_postgres_dsn() as dsn:
        yield from _open(kind, WarehouseSettings(engine="postgres", postgres_dsn=dsn))


def _open(kind: str, settings: WarehouseSettings) -> Iterator[Warehouse]:
    loader = open_engine(settings)
    loader.open()
    load_raw(loader, RAW_ROWS)
    writer = open_engine(settings)
    try:
        yield Warehouse(kind, settings, loader, RunHistory(writer))
    finally:
        writer.close()
        loader.close()


def models_settings(tmp: Path, project: Path, **changes: object) -> ModelsSettings:
    base = ModelsSettings(project_dir=project, work_dir=tmp / "models", retry_delay_seconds=0.0)
    return replace(base, **changes)  # type: ignore[arg-type]


@dataclass
class Runs:
    first: RunRecord
    second: RunRecord
    full: RunRecord
    backfill: RunRecord
    tracks_seen: int  # rows of the incremental model after the second run
    echoed: tuple[Any, ...]  # the row of run_vars after the backfill


@pytest.fixture(scope="module")
def runs(warehouse: Warehouse, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Four runs on one warehouse: first incremental, second incremental, full refresh, backfill."""
    tmp = tmp_path_factory.mktemp("runs")
    project = make_tiny_project(tmp / "project")
    runner = ModelRunner(models_settings(tmp, project), warehouse.settings, warehouse.history)
    first = runner.run(RunRequest(trigger="cli"))
    load_raw(warehouse.loader, [(4, "Signed Up")])
    second = runner.run(RunRequest(trigger="schedule"))
    counts_after_second = warehouse.loader.query("SELECT count(*) FROM analytics.tracks_seen").rows[0][0]
    full = runner.run(RunRequest(kind="full_refresh", trigger="manual"))
    backfill = runner.run(
        RunRequest(
            kind="backfill", trigger="cli", start=date(2026, 1, 1), end=date(2026, 2, 1), select=("run_vars",)
        )
    )
    echoed = warehouse.loader.query("SELECT * FROM analytics.run_vars").rows[0]
    return Runs(first, second, full, backfill, int(counts_after_second), tuple(echoed))


def _by_name(record: RunRecord) -> dict[str, ModelResult]:
    return {result.name: result for result in record.results}


def test_first_run_seeds_builds_tests_and_counts_rows(runs: Runs) -> None:
    first = runs.first
    assert first.status == "success", first.error
    assert first.attempt == 1 and first.trigger == "cli" and first.kind == "incremental"
    results = _by_name(first)
    # seed labels: 2 rows; event_counts: 2 distinct event names in 3 raw rows; run_vars: 1 row.
    assert results["labels"].type == "seed" and results["labels"].rows == 2
    assert results["event_counts"].rows == 2 and results["run_vars"].rows == 1
    assert results["tracks_seen"].rows == 3
    assert any(r.type == "test" and r.status == "pass" for r in first.results)
    assert first.duration_s is not None and (first.finished_at or 0) >= first.started_at


def test_seeds_load_only_when_changed_or_on_full_refresh(runs: Runs) -> None:
    second, full = runs.second, runs.full
    assert second.status == "success" and "labels" not in _by_name(second)
    # The incremental model picked up the one new raw row: 3 + 1 = 4.
    assert runs.tracks_seen == 4
    assert full.status == "success" and full.kind == "full_refresh"
    assert _by_name(full)["labels"].rows == 2


def test_backfill_passes_its_dates_and_the_settings_as_vars(runs: Runs) -> None:
    backfill = runs.backfill
    assert backfill.status == "success", backfill.error
    assert set(_by_name(backfill)) == {"run_vars"}  # --select run_vars: nothing else ran
    assert (backfill.backfill_start, backfill.backfill_end) == ("2026-01-01", "2026-02-01")
    # timeout 30 min = 1800 s; one conversion event by default; source schema = warehouse.namespace.
    start, end, timeout, conversions, schema = runs.echoed
    assert (start, end, int(timeout), conversions, schema) == (
        "2026-01-01",
        "2026-02-01",
        1800,
        "Order Completed",
        "events",
    )


def test_history_reads_back_every_run_newest_first(warehouse: Warehouse, runs: Runs) -> None:
    recent = warehouse.history.recent(10)
    ids = [record.run_id for record in (runs.backfill, runs.full, runs.second, runs.first)]
    assert [record.run_id for record in recent[:4]] == ids
    stored = warehouse.history.get(runs.first.run_id)
    assert stored is not None and stored.status == "success" and stored.trigger == "cli"
    assert {r.name: r.rows for r in stored.results if r.type == "model"} == {
        "event_counts": 2,
        "tracks_seen": 3,
        "run_vars": 1,
    }
    assert abs(stored.started_at - runs.first.started_at) < 0.01
    assert warehouse.history.last_started() == pytest.approx(runs.backfill.started_at, abs=0.01)


def test_a_failing_model_fails_the_run_with_its_reason_after_the_retries(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    project = make_tiny_project(tmp_path / "broken", broken=True)
    pauses: list[float] = []

    def wait(seconds: float) -> bool:
        pauses.append(seconds)
        return False

    settings = models_settings(tmp_path, project, retry_delay_seconds=5.0, schema="broken_analytics")
    runner = ModelRunner(settings, warehouse.settings, warehouse.history, wait=wait)
    record = runner.run(RunRequest(trigger="schedule"), retries=2)
    assert record.status == "failed" and record.attempt == 3
    assert pauses == [5.0, 10.0]  # the delay doubles: 5 s, then 10 s
    assert record.error is not None and "no_such_table_xyz" in record.error
    results = _by_name(record)
    assert results["broken"].status == "error" and "no_such_table_xyz" in results["broken"].message
    assert results["event_counts"].status == "success"
    stored = warehouse.history.get(record.run_id)
    assert stored is not None and (stored.status, stored.attempt) == ("failed", 3)
    assert stored.error == record.error


def test_runs_left_running_by_a_dead_process_are_marked_failed(warehouse: Warehouse) -> None:
    ghost = RunRecord(
        run_id="ghost-" + warehouse.kind, kind="incremental", trigger="schedule", started_at=1.0
    )
    warehouse.history.start(ghost)
    assert warehouse.history.fail_interrupted() == 1
    stored = warehouse.history.get(ghost.run_id)
    assert stored is not None and stored.status == "failed" and "interrupted" in (stored.error or "")
    assert warehouse.history.fail_interrupted() == 0


def test_vars_follow_the_settings() -> None:
    settings = ModelsSettings(
        session_timeout_minutes=45,
        conversion_events=("Order Completed", "Trial Started"),
        time_decay_half_life_days=3.5,
        timezone="Europe/Paris",
    )
    variables = dbt_vars(settings, WarehouseSettings(namespace="rudder"))
    assert variables["headwater_session_timeout_seconds"] == 2700  # 45 * 60
    assert variables["headwater_conversion_events"] == ["Order Completed", "Trial Started"]
    assert variables["headwater_time_decay_half_life_days"] == 3.5
    assert variables["headwater_timezone"] == "Europe/Paris"
    assert variables["headwater_source_schema"] == "rudder"
    assert "headwater_backfill_start" not in variables
    assert dbt_vars(ModelsSettings(), WarehouseSettings())["headwater_time_decay_half_life_days"] == 7


def test_requests_are_checked() -> None:
    with pytest.raises(ValueError, match="start and an end"):
        RunRequest(kind="backfill", start=date(2026, 1, 1))
    with pytest.raises(ValueError, match="before its end"):
        RunRequest(kind="backfill", start=date(2026, 2, 1), end=date(2026, 1, 1))
    with pytest.raises(ValueError, match="kind"):
        RunRequest(kind="sideways")
    with pytest.raises(ValueError, match="start: a date"):
        RunRequest.from_json({"kind": "backfill", "start": "yesterday", "end": "2026-01-01"})
    parsed = RunRequest.from_json(
        {"kind": "backfill", "start": "2026-01-01", "end": "2026-01-08", "select": "a b"}
    )
    assert parsed.select == ("a", "b") and parsed.end == date(2026, 1, 8)


def test_runs_send_no_usage_stats_to_dbt_labs(runs: Runs) -> None:
    """dbt reports every invocation to dbt Labs unless told not to; a self-hosted pipeline must not."""
    from dbt import tracking

    assert runs.first.status == "success"
    assert tracking.active_user is not None and tracking.active_user.do_not_track
