"""The `headwater` command: one click group, verbs named for what an operator does.

Every command takes `--config FILE` (else $HEADWATER_CONFIG, else ./headwater.yaml). Config errors
end the command with exit code 2 and a message naming the file, the key and the problem.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
import orjson

from headwater import __version__
from headwater.config import Config, ConfigError, load_config
from headwater.demo.command import demo
from headwater.models.command import models
from headwater.settings import DECLARED
from headwater.warehouse.command import query, replay

F = TypeVar("F", bound=Callable[..., Any])


def config_option(func: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        default=None,
        help="Config file (default: $HEADWATER_CONFIG, else ./headwater.yaml, else embedded defaults).",
    )(func)


def load_or_exit(config_path: str | None, overrides: dict[str, Any] | None = None) -> Config:
    try:
        return load_config(config_path, overrides=overrides)
    except ConfigError as exc:
        click.echo(f"headwater: config error: {exc}", err=True)
        sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="headwater")
def main() -> None:
    """Headwater: collect behavioural events from your apps and keep them in your own warehouse."""


@main.command()
@config_option
@click.option("--port", type=int, default=None, help="Override collect.port.")
@click.option("--workers", type=int, default=None, help="Override collect.workers (0: one per core).")
@click.option("--data-dir", default=None, help="Override data_dir.")
def up(config_path: str | None, port: int | None, workers: int | None, data_dir: str | None) -> None:
    """Run every stage on this machine until stopped (Ctrl-C or SIGTERM stops it cleanly)."""
    from headwater.logs import configure_logging
    from headwater.supervisor import AlreadyRunningError, Supervisor

    config = load_or_exit(
        config_path, {"collect.port": port, "collect.workers": workers, "data_dir": data_dir}
    )
    configure_logging(config["log_level"])
    from headwater.models.settings import ModelsSettings
    from headwater.warehouse.engines.open import open_engine
    from headwater.warehouse.errors import WarehouseError
    from headwater.warehouse.settings import WarehouseSettings

    try:
        ModelsSettings.from_config(config)  # a bad cron or time zone stops `up` here, not in a restart loop
    except ConfigError as exc:
        click.echo(f"headwater: config error: {exc}", err=True)
        sys.exit(2)
    warehouse = WarehouseSettings.from_config(config)
    if warehouse.enabled:
        try:
            # Settings the warehouse process could only die on (no DSN, a bad one) stop `up` here.
            open_engine(warehouse)
        except WarehouseError as exc:
            click.echo(f"headwater: warehouse: {exc}", err=True)
            sys.exit(2)
    try:
        code = Supervisor(config).run()
    except AlreadyRunningError as exc:
        click.echo(f"headwater: {exc}", err=True)
        sys.exit(1)
    sys.exit(code)


@main.group("log")
def log_group() -> None:
    """Look into the event log."""


@log_group.command("tail")
@config_option
@click.option(
    "-n", "--lines", "count", type=int, default=20, show_default=True, help="How many of the newest events."
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events as they arrive.")
@click.option("--source", default=None, help="Only events of this source id.")
@click.option("--json", "as_json", is_flag=True, help="Print each stored event as one JSON line.")
def log_tail(config_path: str | None, count: int, follow: bool, source: str | None, as_json: bool) -> None:
    """Show the newest events in the log, to check that data arrives."""
    from headwater.log import open_log
    from headwater.log.settings import LogSettings

    config = load_or_exit(config_path)
    event_log = open_log(LogSettings.from_config(config))
    try:
        records = [r for r in event_log.tail(count if source is None else count * 20) if _keep(r, source)]
        for record in records[-count:]:
            click.echo(_format_record(record, as_json))
        if not follow:
            return
        positions = event_log.end_offsets()
        while True:
            time.sleep(0.5)
            for partition in event_log.partitions():
                start = positions.get(partition, event_log.start_offsets().get(partition, 0))
                batch = event_log.read(partition, start)
                for record in batch:
                    if _keep(record, source):
                        click.echo(_format_record(record, as_json))
                if batch:
                    positions[partition] = batch[-1].offset + 1
    except KeyboardInterrupt:
        pass
    finally:
        event_log.close()


def _keep(record: Any, source: str | None) -> bool:
    return source is None or record.source_id == source


def _format_record(record: Any, as_json: bool) -> str:
    if as_json:
        return str(record.payload.decode())
    try:
        event = orjson.loads(record.payload)
    except orjson.JSONDecodeError:
        return f"{record.partition}:{record.offset} <unreadable payload>"
    when = datetime.fromtimestamp(record.timestamp_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    kind = event.get("type", "?")
    name = event.get("event") or event.get("name") or (event.get("properties") or {}).get("name") or ""
    who = event.get("userId") or event.get("anonymousId") or ""
    return (
        f"{when}  {record.partition}:{record.offset:<8} {record.source_id:<10} {kind:<9} {name!s:<24} {who}"
    )


@main.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON object.")
def status(config_path: str | None, as_json: bool) -> None:
    """Is `headwater up` running, and how far has each consumer read the log?"""
    import os

    from headwater.log import open_log
    from headwater.log.settings import LogSettings

    config = load_or_exit(config_path)
    run_dir = config.data_dir / "run"
    workers: list[dict[str, Any]] = []
    for pid_file in sorted(run_dir.glob("*.pid")):
        try:
            pid = int(pid_file.read_text())
            os.kill(pid, 0)
            alive = True
        except (OSError, ValueError):
            pid, alive = 0, False
        workers.append({"worker": pid_file.stem, "pid": pid, "alive": alive})
    event_log = open_log(LogSettings.from_config(config))
    try:
        starts, ends = event_log.start_offsets(), event_log.end_offsets()
        partitions = [
            {"partition": p, "start": starts.get(p, 0), "end": ends.get(p, 0)} for p in event_log.partitions()
        ]
        consumers = []
        for name in event_log.consumer_names():
            lag = event_log.consumer(name).lag()
            consumers.append({"consumer": name, "lag": sum(lag.values()), "by_partition": lag})
    finally:
        event_log.close()
    from headwater.warehouse.command import warehouse_status

    report: dict[str, Any] = {
        "data_dir": str(config.data_dir),
        "running": any(w["alive"] for w in workers),
        "workers": workers,
        "partitions": partitions,
        "events": sum(p["end"] - p["start"] for p in partitions),
        "consumers": consumers,
        "warehouse": warehouse_status(config),
    }
    if as_json:
        click.echo(orjson.dumps(report, option=orjson.OPT_NON_STR_KEYS).decode())
        return
    living = len([w for w in workers if w["alive"] and w["worker"].startswith("collect-")])
    click.echo(f"data dir   {config.data_dir}")
    click.echo(f"up         {'running' if living else 'not running'} ({living} ingest workers alive)")
    click.echo(f"log        {report['events']:,} events held in {len(partitions)} partitions")
    for part in partitions:
        click.echo(f"  partition {part['partition']}: offsets {part['start']:,} to {part['end']:,}")
    if not consumers:
        click.echo("consumers  none yet")
    for consumer in consumers:
        click.echo(f"consumer   {consumer['consumer']}: {consumer['lag']:,} events behind")
    _echo_warehouse(report["warehouse"])


def _echo_warehouse(warehouse: dict[str, Any] | None) -> None:
    if warehouse is None:
        click.echo("warehouse  not running")
        return
    loader = warehouse["loader"]
    click.echo(
        f"warehouse  {warehouse['engine']} (schema {warehouse['namespace']}), loader {loader['state']}, "
        f"{warehouse['lag_total']:,} events behind"
    )
    click.echo(
        f"  loaded {loader['events_loaded']:,} events in {loader['loads']:,} loads "
        f"({loader['rows']:,} rows; {loader['duplicates']:,} duplicates dropped; "
        f"{loader['discards']:,} cells discarded)"
    )
    click.echo(
        f"  staged {loader['staged_files']:,} files ({loader['staged_bytes']:,} bytes)"
        f" in {warehouse['stage']}"
    )
    if loader["last_load_at"]:
        ago = time.time() - loader["last_load_at"]
        click.echo(f"  last load {ago:.1f} s ago ({loader['last_load_id']})")
    pending = warehouse.get("failed_pending")
    if pending is None:
        click.echo(f"  failed events: {loader['failed']:,} since start (the warehouse cannot be read now)")
    else:
        click.echo(f"  failed events awaiting replay: {sum(pending.values()):,}")
        for reason, count in pending.items():
            click.echo(f"    {count:,}  {reason}")
    if loader["last_error"]:
        click.echo(f"  last error: {loader['last_error']}")
    _echo_models(warehouse.get("models"))


def _echo_models(report: dict[str, Any] | None) -> None:
    """The models part of `headwater status`: schedule, freshness, what runs, the last run's failures."""
    if report is not None:
        from headwater.models.command import format_summary

        click.echo("\n".join(format_summary(report)))


@main.command("config")
@config_option
@click.option("--check", is_flag=True, help="Only validate; print nothing on success.")
def config_cmd(config_path: str | None, check: bool) -> None:
    """Print the resolved settings and where each came from (default, file, env, flag)."""
    config = load_or_exit(config_path)
    if check:
        return
    click.echo(f"# config file: {config.path or '(none)'}")
    for key in DECLARED:
        click.echo(f"{key} = {config[key]!r}  # {config.origins[key]}")
    click.echo(
        "sources = "
        + (", ".join(s.name + ("" if s.enabled else " (disabled)") for s in config.sources) or "(none)")
    )


main.add_command(demo)
main.add_command(models)
main.add_command(query)
main.add_command(replay)

__all__ = ["main"]
