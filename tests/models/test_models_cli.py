"""`headwater models run|backfill|status` and the models part of `headwater status`, as an operator uses them.

Twice: on a data directory with no `headwater up` (the command opens the DuckDB file and runs dbt
itself; the tiny project of test_runner.py), and through a real `headwater up` running the
packaged project (the command asks the warehouse process, which owns the file, and its scheduler
runs the request).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from headwater.cli import main
from headwater.config import load_config
from headwater.warehouse.client import WarehouseClient, socket_path
from headwater.warehouse.command import run_query
from headwater.warehouse.engines.duckdb import DuckDBEngine
from headwater.warehouse.errors import WarehouseError
from tests.conftest import start_headwater
from tests.models.test_runner import RAW_ROWS, load_raw, make_tiny_project


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def data_dir_without_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A config whose warehouse holds the three raw rows of test_runner.py, and no `headwater up`."""
    root = tmp_path_factory.mktemp("models-cli")
    make_tiny_project(root / "project")
    make_tiny_project(root / "broken", broken=True)
    engine = DuckDBEngine(root / "data" / "warehouse" / "headwater.duckdb")
    engine.open()
    load_raw(engine, RAW_ROWS)
    engine.close()
    (root / "headwater.yaml").write_text("data_dir: data\nmodels:\n  project_dir: project\n")
    (root / "broken.yaml").write_text(
        "data_dir: data\nmodels:\n  project_dir: broken\n  schema: broken_models\n  retries: 1\n"
    )
    yield root


@pytest.mark.slow
def test_run_backfill_and_status_without_up(data_dir_without_up: Path) -> None:
    config = str(data_dir_without_up / "headwater.yaml")
    ran = cli("models", "run", "--config", config)
    assert ran.exit_code == 0, ran.output
    # event_counts: 2 distinct event names among the 3 raw rows; tracks_seen: the 3 rows.
    assert "incremental (cli) success" in ran.output
    assert "event_counts  success" in ran.output and "2 rows" in ran.output and "3 rows" in ran.output
    assert "tests: 1 of 1 passed" in ran.output

    selected = cli("models", "run", "--select", "event_counts", "--json", "--config", config)
    record = orjson.loads(selected.output)
    assert record["status"] == "success" and record["select"] == "event_counts"
    assert {r["name"] for r in record["results"] if r["type"] == "model"} == {"event_counts"}

    backfill = cli("models", "backfill", "--start", "2026-01-01", "--end", "2026-01-08", "--config", config)
    assert backfill.exit_code == 0, backfill.output
    assert "backfill 2026-01-01..2026-01-08 (cli) success" in backfill.output
    echoed = run_query(load_config(config), "SELECT backfill_start, backfill_end FROM analytics.run_vars")
    assert echoed.rows == [("2026-01-01", "2026-01-08")]

    wrong = cli("models", "backfill", "--start", "2026-01-08", "--end", "2026-01-01", "--config", config)
    assert wrong.exit_code == 2 and "before its end" in wrong.output

    status = orjson.loads(cli("models", "status", "--json", "--config", config).output)
    assert [run["kind"] for run in status["recent"][:3]] == ["backfill", "incremental", "incremental"]
    assert status["scheduler"].startswith("not running")
    assert status["last_success"]["run_id"] == status["recent"][2]["run_id"]  # the unselected run
    assert status["next_incremental_at"] > time.time()
    text = cli("models", "status", "--config", config).output
    assert (
        "runs (newest first):" in text and "fresh as of" in text and "backfill 2026-01-01..2026-01-08" in text
    )

    broken = cli("models", "run", "--config", str(data_dir_without_up / "broken.yaml"))
    assert broken.exit_code == 1
    assert "model broken error" in broken.output and "no_such_table_xyz" in broken.output
    # Runs from the command line are not retried (models.retries is for scheduled runs).
    assert "attempts" not in broken.output.splitlines()[0]


def test_the_airflow_dag_command_writes_a_file(data_dir_without_up: Path) -> None:
    output = data_dir_without_up / "dags" / "headwater_models.py"
    output.parent.mkdir()
    result = cli(
        "models",
        "airflow-dag",
        "--output",
        str(output),
        "--config",
        str(data_dir_without_up / "headwater.yaml"),
    )
    assert result.exit_code == 0
    text = output.read_text()
    assert str(data_dir_without_up / "project") in text and "INCREMENTAL_SCHEDULE = '0 * * * *'" in text
    compile(text, str(output), "exec")


def test_no_warehouse_yet_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "headwater.yaml").write_text("data_dir: data\n")
    result = CliRunner().invoke(main, ["models", "run", "--config", str(tmp_path / "headwater.yaml")])
    assert result.exit_code == 1 and "no warehouse at" in result.output


def _eventually(check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except Exception:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


@pytest.mark.slow
def test_the_real_project_in_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The packaged project inside `headwater up`: demo traffic, the after-loads rule firing, then runs
    asked for through the socket (one waited for, one queued and polled) and the status reports."""
    monkeypatch.setenv("HEADWATER_MODELS_SCHEDULE", "")
    monkeypatch.setenv("HEADWATER_MODELS_FULL_REFRESH_SCHEDULE", "")
    monkeypatch.setenv("HEADWATER_MODELS_MIN_INTERVAL_SECONDS", "1")
    monkeypatch.setenv("HEADWATER_ANALYTICS_ENABLED", "false")
    monkeypatch.setenv("HEADWATER_MODELS_ENABLED", "true")  # the shared test config turns models off
    # No cron runs: every run here is one the loads or the test asked for.
    running = start_headwater(tmp_path / "up", workers=1)
    try:
        config = str(running.config_path)
        sent = cli("demo", "-n", "600", "--days", "2", "--config", config)
        assert sent.exit_code == 0, sent.output

        def settled() -> dict[str, Any] | None:
            report = orjson.loads(cli("status", "--json", "--config", config).output)["warehouse"]
            models = report["models"]
            done = (
                report["lag_total"] == 0
                and report["loader"]["events_loaded"] == 600
                and not models["loads_pending"]
                and models["running"] is None
                and models["last_run"] is not None
            )
            return models if done else None

        # Every load since the last run started is covered once nothing is pending or running.
        models = _eventually(settled, timeout=240)
        last = models["last_run"]
        assert (last["status"], last["trigger"], last["kind"]) == ("success", "after_loads", "incremental")
        rows = {r["name"]: r["rows"] for r in last["results"] if r["type"] == "model"}
        assert rows["stg_events"] == 600  # every demo event is a track, page, screen, identify...
        assert rows["sessions"] > 0 and rows["user_profiles"] > 0
        assert all(r["status"] == "pass" for r in last["results"] if r["type"] == "test")
        counted = run_query(load_config(config), "SELECT count(*) FROM analytics.events_sessionized")
        assert counted.rows == [(600,)]

        # Asked for through the socket: the scheduler runs it and the command waits for the record.
        ran = cli("models", "run", "--json", "--config", config)
        assert ran.exit_code == 0, ran.output
        record = orjson.loads(ran.output)
        assert (record["status"], record["trigger"], record["kind"]) == ("success", "cli", "incremental")
        assert "channel_rules" not in {r["name"] for r in record["results"]}  # seeds unchanged: not reloaded

        queued = orjson.loads(
            cli("models", "run", "--full-refresh", "--no-wait", "--json", "--config", config).output
        )
        assert queued["status"] == "queued"
        client = WarehouseClient(socket_path(running.data_dir))
        finished = _eventually(
            lambda: client.models_run_state(queued["run_id"])["status"] == "success" or None
        )
        assert finished is True
        full = client.models_run_state(queued["run_id"])
        assert (
            full["status"] == "success"
            and full["kind"] == "full_refresh"
            and "channel_rules" in {r["name"] for r in full["results"]}
        )
        with pytest.raises(WarehouseError, match="kind: one of"):
            client.models_run({"kind": "sideways"})
        with pytest.raises(WarehouseError, match="no model run 'nope'"):
            client.models_run_state("nope")

        status = orjson.loads(cli("models", "status", "--json", "--config", config).output)
        assert status["scheduler"] == "running" and status["next_incremental_at"] is None
        assert [r["run_id"] for r in status["recent"][:3]] == [
            queued["run_id"],
            record["run_id"],
            last["run_id"],
        ]
        assert status["last_success"]["run_id"] == queued["run_id"]
        overall = orjson.loads(cli("status", "--json", "--config", config).output)
        assert overall["warehouse"]["models"]["last_run"]["run_id"] == queued["run_id"]
        text = cli("status", "--config", config).output
        assert "models     schema analytics; scheduler running" in text
        assert f"last run {queued['run_id']}: full refresh (cli) success" in text
    finally:
        assert running.stop() == 0, running.log_path.read_text()[-4000:]
