"""`headwater models ...`: run the models now, backfill a date range, read the run history, make a DAG.

While `headwater up` runs, runs go through the warehouse process's socket: it owns the DuckDB
file, and its scheduler keeps one run at a time (a request queues behind the run in progress).
Otherwise the command opens the warehouse itself and runs dbt in this process. Either way the
run lands in the same history, `_headwater.model_runs`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
import orjson

from headwater.config import Config, ConfigError
from headwater.models.history import RunHistory
from headwater.models.runner import ModelRunner, RunRequest
from headwater.models.schedule import next_fire
from headwater.models.settings import ModelsSettings
from headwater.warehouse.cells import encode_cell
from headwater.warehouse.client import WarehouseClient, socket_path
from headwater.warehouse.errors import WarehouseError
from headwater.warehouse.settings import WarehouseSettings

__all__ = ["format_run", "format_status", "format_summary", "models", "models_status", "run_models"]

_POLL_SECONDS = 1.0


# --- doing ---------------------------------------------------------------------------------------


def run_models(
    config: Config,
    request: RunRequest,
    *,
    wait: bool = True,
    on_queued: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run `request` where the warehouse is reachable; returns the finished record as a dict.

    Through a running `headwater up` with `wait=False`, returns the queued answer `{run_id, ...}`.
    """
    client = WarehouseClient(socket_path(config.data_dir))
    if client.available():
        queued = client.models_run({**request.as_json(), "trigger": request.trigger})
        if on_queued is not None:
            on_queued(queued)
        if not wait:
            return queued
        while True:
            state = client.models_run_state(str(queued["run_id"]))
            if state.get("status") in ("success", "failed"):
                return state
            time.sleep(_POLL_SECONDS)
    with _local(config, read_only=False) as (settings, warehouse, history):
        runner = ModelRunner(settings, warehouse, history)
        return runner.run(request).as_dict()


def models_status(config: Config) -> dict[str, Any]:
    """The scheduler's report from a running `headwater up`, else one made from the run history."""
    client = WarehouseClient(socket_path(config.data_dir), timeout=10.0)
    if client.available():
        return client.models_status()
    settings = ModelsSettings.from_config(config)
    now = time.time()
    report: dict[str, Any] = {
        **settings.describe(),
        "scheduler": "not running (headwater up is not running)",
        "running": None,
        "queued": [],
        "next_incremental_at": next_fire(settings.schedule, now, settings.zone) if settings.enabled else None,
        "next_full_refresh_at": next_fire(settings.full_refresh_schedule, now, settings.zone)
        if settings.enabled
        else None,
        "loads_pending": False,
        "after_loads_run_at": None,
        "history_error": None,
    }
    try:
        with _local(config, read_only=True) as (_, _, history):
            recent = history.recent(10)
    except WarehouseError as error:
        recent = []
        report["history_error"] = str(error)
    last_success = next((record for record in recent if record.refreshes_all), None)
    report["last_run"] = recent[0].as_dict() if recent else None
    report["last_success"] = last_success.as_dict() if last_success else None
    report["recent"] = [record.as_dict() for record in recent]
    return report


@contextmanager
def _local(
    config: Config, *, read_only: bool
) -> Iterator[tuple[ModelsSettings, WarehouseSettings, RunHistory]]:
    """The warehouse opened by this process (no `headwater up` holds it)."""
    from headwater.warehouse.engines.open import open_engine

    settings = ModelsSettings.from_config(config)
    warehouse = WarehouseSettings.from_config(config)
    if warehouse.engine == "duckdb" and not warehouse.duckdb_path.exists():
        raise WarehouseError(
            f"no warehouse at {warehouse.duckdb_path} yet: start `headwater up` and send some events"
        )
    engine = open_engine(warehouse, read_only=read_only)
    try:
        engine.open()
    except WarehouseError as error:
        raise WarehouseError(f"{error} (is another process using the warehouse?)") from error
    try:
        yield settings, warehouse, RunHistory(None if read_only else engine, engine)
    finally:
        engine.close()


# --- showing -------------------------------------------------------------------------------------


def _when(seconds: float | None, zone: ZoneInfo) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return ""
    delta = time.time() - seconds
    if delta < 0:
        return f"in {_span(-delta)}"
    return f"{_span(delta)} ago"


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _zone(report: dict[str, Any]) -> ZoneInfo:
    try:
        return ZoneInfo(str(report.get("timezone") or "UTC"))
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


def format_run(run: dict[str, Any], zone: ZoneInfo, *, details: bool = True) -> list[str]:
    """A finished (or running) run as lines: the headline, its failures with reasons, its models."""
    what = run["kind"].replace("_", " ")
    if run.get("backfill_start"):
        what += f" {run['backfill_start']}..{run['backfill_end']}"
    if run.get("select"):
        what += f" --select {run['select']}"
    duration = f" in {run['duration_s']:.1f} s" if run.get("duration_s") is not None else ""
    attempts = f", {run['attempt']} attempts" if run.get("attempt", 1) > 1 else ""
    lines = [
        f"run {run['run_id']}: {what} ({run['trigger']}) {run['status']}{duration}{attempts}, "
        f"started {_when(run['started_at'], zone)}"
    ]
    results = run.get("results") or []
    failed = [r for r in results if r["status"] in ("error", "fail", "runtime error")]
    if run["status"] == "failed" and run.get("error") and not failed:
        lines.append(f"  error: {_first_lines(run['error'])}")
    for result in failed:
        reason = _first_lines(result.get("message", ""))
        lines.append(f"  {result['type']} {result['name']} {result['status']}: {reason}")
    if details:
        built = [r for r in results if r["type"] in ("model", "seed")]
        tests = [r for r in results if r["type"] == "test"]
        if built:
            width = max(len(r["name"]) for r in built)
            for result in built:
                count = result.get("rows")
                rows = f"{count:>12,} row{'' if count == 1 else 's'}" if count is not None else ""
                lines.append(
                    f"  {result['name']:<{width}}  {result['status']:<8} {result['seconds']:>8.2f} s{rows}"
                )
        if tests:
            passed = sum(1 for r in tests if r["status"] == "pass")
            lines.append(f"  tests: {passed} of {len(tests)} passed")
    return lines


def _first_lines(text: str, count: int = 3) -> str:
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()][:count]
    return " / ".join(kept)


def format_status(report: dict[str, Any]) -> list[str]:
    zone = _zone(report)
    lines = [f"models     schema {report['schema']}; scheduler {report['scheduler']}"]
    if not report.get("enabled", True):
        lines.append("schedule   off (models.enabled: false); runs only when asked")
    else:
        parts = []
        if report.get("schedule"):
            parts.append(
                f"incremental {report['schedule']!r} next {_when(report.get('next_incremental_at'), zone)}"
            )
        if report.get("full_refresh_schedule"):
            parts.append(
                f"full refresh {report['full_refresh_schedule']!r} "
                f"next {_when(report.get('next_full_refresh_at'), zone)}"
            )
        lines.append("schedule   " + ("; ".join(parts) if parts else "no cron schedule"))
        if report.get("run_after_loads"):
            line = f"after loads on (at most every {report['min_interval_seconds']:g} s)"
            if report.get("loads_pending"):
                line += f"; new loads waiting, run from {_when(report.get('after_loads_run_at'), zone)}"
            lines.append(line)
    running = report.get("running")
    if running:
        lines.append(
            f"running    {running['run_id']} {running['kind']} ({running['trigger']}) for "
            f"{_span(time.time() - running['started_at'])}, attempt {running['attempt']}"
        )
    for queued in report.get("queued") or []:
        lines.append(f"queued     {queued['run_id']} {queued['kind']}")
    success = report.get("last_success")
    if success:
        lines.append(f"fresh as of {_when(success['started_at'], zone)} ({_ago(success['started_at'])})")
    if report.get("history_error"):
        lines.append(f"history    cannot be read: {report['history_error']}")
    recent = report.get("recent") or []
    if not recent:
        lines.append("runs       none yet")
        return lines
    lines.append("runs (newest first):")
    for index, run in enumerate(recent):
        lines.extend("  " + line for line in format_run(run, zone, details=index == 0))
    return lines


def format_summary(report: dict[str, Any]) -> list[str]:
    """The short form for `headwater status`: the status lines and the last run's headline and failures."""
    lines = format_status({**report, "recent": []})[:-1]  # without "runs  none yet"
    last = report.get("last_run")
    if last:
        headline, *failures = format_run(last, _zone(report), details=False)
        lines += ["  last " + headline, *("  " + line for line in failures)]
    return lines


# --- the commands --------------------------------------------------------------------------------


def _config(config_path: str | None) -> Config:
    from headwater.cli import load_or_exit

    config = load_or_exit(config_path)
    try:
        ModelsSettings.from_config(config)
    except ConfigError as exc:
        click.echo(f"headwater: config error: {exc}", err=True)
        sys.exit(2)
    return config


def _run_and_report(config: Config, request: RunRequest, wait: bool, as_json: bool) -> None:
    def queued(answer: dict[str, Any]) -> None:
        if not as_json and answer.get("ahead"):
            click.echo(f"queued behind {answer['ahead']} run(s): {answer['run_id']}", err=True)

    try:
        record = run_models(config, request, wait=wait, on_queued=queued)
    except WarehouseError as error:
        click.echo(f"headwater models: {error}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(orjson.dumps(record, default=encode_cell).decode())
    elif record.get("status") == "queued":
        click.echo(f"queued run {record['run_id']} (headwater models status shows it)")
    else:
        zone = ModelsSettings.from_config(config).zone
        click.echo("\n".join(format_run(record, zone)))
    if record.get("status") == "failed":
        sys.exit(1)


_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (default: $HEADWATER_CONFIG, else ./headwater.yaml, else embedded defaults).",
)
_select_option = click.option(
    "--select",
    "-s",
    "select",
    multiple=True,
    help="Only these models (dbt selector syntax, e.g. sessions+; repeatable).",
)
_wait_option = click.option(
    "--no-wait",
    "no_wait",
    is_flag=True,
    help="With `headwater up` running: queue the run and return at once.",
)
_DAY = click.DateTime(["%Y-%m-%d"])
_json_option = click.option("--json", "as_json", is_flag=True, help="Print the run record as JSON.")


@click.group("models")
def models() -> None:
    """Build the session, profile, summary and attribution tables (dbt) now, or see their runs."""


@models.command("run")
@_config_option
@click.option("--full-refresh", is_flag=True, help="Rebuild every table from all raw data.")
@_select_option
@_wait_option
@_json_option
def run_command(
    config_path: str | None, full_refresh: bool, select: tuple[str, ...], no_wait: bool, as_json: bool
) -> None:
    """Run the models now (incremental unless --full-refresh); exit 1 if the run fails."""
    config = _config(config_path)
    request = RunRequest(kind="full_refresh" if full_refresh else "incremental", trigger="cli", select=select)
    _run_and_report(config, request, not no_wait, as_json)


@models.command("backfill")
@_config_option
@click.option("--start", required=True, type=_DAY, help="First day (YYYY-MM-DD).")
@click.option("--end", required=True, type=_DAY, help="Day after the last one (exclusive).")
@_select_option
@_wait_option
@_json_option
def backfill_command(
    config_path: str | None,
    start: datetime,
    end: datetime,
    select: tuple[str, ...],
    no_wait: bool,
    as_json: bool,
) -> None:
    """Reprocess raw events with timestamps in [start, end) through the incremental models."""
    config = _config(config_path)
    try:
        request = RunRequest(
            kind="backfill", trigger="cli", select=select, start=start.date(), end=end.date()
        )
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    _run_and_report(config, request, not no_wait, as_json)


@models.command("status")
@_config_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def status_command(config_path: str | None, as_json: bool) -> None:
    """Run history (durations, rows, failures and why), what runs now, and the next scheduled runs."""
    config = _config(config_path)
    try:
        report = models_status(config)
    except WarehouseError as error:
        click.echo(f"headwater models: {error}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(orjson.dumps(report, default=encode_cell).decode())
        return
    click.echo("\n".join(format_status(report)))


@models.command("airflow-dag")
@_config_option
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the DAG file here (default: print it).",
)
def airflow_dag_command(config_path: str | None, output: Path | None) -> None:
    """Write an Airflow DAG file that runs these models with dbt on the same schedules."""
    from headwater.models.airflow import render_dag

    config = _config(config_path)
    text = render_dag(ModelsSettings.from_config(config), WarehouseSettings.from_config(config))
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text)
    click.echo(f"wrote {output}", err=True)
