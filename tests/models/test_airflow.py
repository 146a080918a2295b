"""The generated Airflow DAG file: valid Python, Headwater's schedules and settings, dbt commands that run.

Airflow itself is not a dependency: the file is executed against small stand-ins for the three
Airflow names it uses, which record what the DAGs were built with; the dbt command lines it builds
are then run for real on a DuckDB warehouse. If HEADWATER_TEST_AIRFLOW_PYTHON names a Python with
apache-airflow installed, the file is also parsed by Airflow's own DagBag.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import types
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from headwater.models.airflow import render_dag
from headwater.models.profiles import write_profiles
from headwater.models.settings import ModelsSettings
from headwater.warehouse.engines.duckdb import DuckDBEngine
from headwater.warehouse.settings import WarehouseSettings
from tests.models.test_runner import RAW_ROWS, load_raw, make_tiny_project


@dataclass
class StubDAG:
    dag_id: str
    schedule: str
    start_date: datetime
    default_args: dict[str, Any]
    kwargs: dict[str, Any]
    tasks: list[StubOperator] = field(default_factory=list)

    def __enter__(self) -> StubDAG:
        _building.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _building.pop()


class StubOperator:
    def __init__(self, task_id: str, bash_command: str) -> None:
        self.task_id = task_id
        self.bash_command = bash_command
        self.downstream: list[StubOperator] = []
        _building[-1].tasks.append(self)

    def __rshift__(self, other: StubOperator) -> StubOperator:
        self.downstream.append(other)
        return other


_building: list[StubDAG] = []


def _dag(
    *, dag_id: str, schedule: str, start_date: datetime, default_args: dict[str, Any], **kw: Any
) -> StubDAG:
    return StubDAG(dag_id, schedule, start_date, default_args, kw)


def load_dags(
    text: str, monkeypatch: pytest.MonkeyPatch, env: dict[str, str] | None = None
) -> dict[str, StubDAG]:
    """Execute the DAG file with Airflow 2's import paths stubbed; returns its DAGs by id."""
    airflow = types.ModuleType("airflow")
    airflow.DAG = _dag  # type: ignore[attr-defined]
    operators = types.ModuleType("airflow.operators")
    bash = types.ModuleType("airflow.operators.bash")
    bash.BashOperator = StubOperator  # type: ignore[attr-defined]
    pendulum = types.ModuleType("pendulum")
    pendulum.datetime = lambda *args, tz: datetime(*args, tzinfo=ZoneInfo(tz))  # type: ignore[attr-defined]
    for name, module in {
        "airflow": airflow,
        "airflow.operators": operators,
        "airflow.operators.bash": bash,
        "pendulum": pendulum,
    }.items():
        monkeypatch.setitem(sys.modules, name, module)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    namespace: dict[str, Any] = {"__name__": "headwater_dag"}
    exec(compile(text, "headwater_models.py", "exec"), namespace)
    return {value.dag_id: value for value in namespace.values() if isinstance(value, StubDAG)}


SETTINGS = ModelsSettings(
    schedule="15 */2 * * *",
    full_refresh_schedule="0 4 * * 0",
    timezone="Europe/Paris",
    retries=3,
    retry_delay_seconds=90.0,
    session_timeout_minutes=20,
    profiles_dir=Path("/etc/dbt"),
    target="prod",
)


def test_the_dag_file_carries_the_schedules_and_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    text = render_dag(SETTINGS, WarehouseSettings(namespace="rudder"))
    ast.parse(text)
    dags = load_dags(text, monkeypatch)
    assert set(dags) == {"headwater_models", "headwater_models_full_refresh"}
    hourly, nightly = dags["headwater_models"], dags["headwater_models_full_refresh"]
    assert (hourly.schedule, nightly.schedule) == ("15 */2 * * *", "0 4 * * 0")
    assert hourly.start_date.tzinfo == ZoneInfo("Europe/Paris")
    assert hourly.kwargs["catchup"] is False and hourly.kwargs["max_active_runs"] == 1
    assert hourly.default_args["retries"] == 3
    assert hourly.default_args["retry_delay"] == timedelta(seconds=90)
    seed, build = hourly.tasks
    assert (seed.task_id, build.task_id) == ("dbt_seed", "dbt_build") and seed.downstream == [build]
    assert "--full-refresh" not in build.bash_command
    assert (
        "--full-refresh" in nightly.tasks[1].bash_command
        and "--full-refresh" in nightly.tasks[0].bash_command
    )
    # The vars: 20 min = 1200 s; the source schema is warehouse.namespace.
    assert '"headwater_session_timeout_seconds":1200' in build.bash_command
    assert '"headwater_source_schema":"rudder"' in build.bash_command
    assert "--profiles-dir /etc/dbt" in build.bash_command and "--target prod" in build.bash_command


def test_an_empty_schedule_leaves_its_dag_out(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = ModelsSettings(full_refresh_schedule="")
    dags = load_dags(render_dag(settings, WarehouseSettings()), monkeypatch)
    assert set(dags) == {"headwater_models"}


@pytest.mark.slow
def test_the_dag_commands_run_dbt_for_real(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse = WarehouseSettings(duckdb_path=tmp_path / "warehouse" / "headwater.duckdb")
    engine = DuckDBEngine(warehouse.duckdb_path)
    engine.open()
    load_raw(engine, RAW_ROWS)
    engine.close()
    project = make_tiny_project(tmp_path / "project")
    profiles = write_profiles(tmp_path / "profiles", warehouse, "analytics")
    dbt = Path(sys.executable).parent / "dbt"
    env = {
        "HEADWATER_DBT_PROJECT_DIR": str(project),
        "HEADWATER_DBT_PROFILES_DIR": str(profiles),
        "HEADWATER_DBT": str(dbt),
        "HEADWATER_DBT_WORK_DIR": str(tmp_path / "dbt"),
    }
    dags = load_dags(render_dag(ModelsSettings(), WarehouseSettings()), monkeypatch, env)
    for task in dags["headwater_models"].tasks:
        done = subprocess.run(["bash", "-c", task.bash_command], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-3000:]
    engine = DuckDBEngine(warehouse.duckdb_path, read_only=True)
    engine.open()
    try:
        # event_counts: "Signed Up" once, "Order Completed" twice, labelled by the seed.
        counts = engine.query("SELECT event_text, label, n FROM analytics.event_counts ORDER BY event_text")
        assert counts.rows == [("Order Completed", "order", 2), ("Signed Up", "signup", 1)]
    finally:
        engine.close()


def test_real_airflow_parses_the_dag(tmp_path: Path) -> None:
    python = os.environ.get("HEADWATER_TEST_AIRFLOW_PYTHON")
    if not python:
        pytest.skip("set HEADWATER_TEST_AIRFLOW_PYTHON to a Python with apache-airflow to run this")
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "headwater_models.py").write_text(render_dag(SETTINGS, WarehouseSettings()))
    script = (
        "try:\n    from airflow.dag_processing.dagbag import DagBag\n"
        "except ImportError:\n    from airflow.models.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(dags)!r})\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "print(sorted(bag.dags))\n"
    )
    env = dict(os.environ, AIRFLOW_HOME=str(tmp_path / "airflow"), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    done = subprocess.run([python, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "['headwater_models', 'headwater_models_full_refresh']" in done.stdout
