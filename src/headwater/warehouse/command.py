"""`headwater query` and `headwater replay`: a person's window into the warehouse.

Both ask the running warehouse process when `headwater up` is running (it owns the DuckDB file)
and otherwise open the warehouse themselves: read-only for `query`.
"""

from __future__ import annotations

import csv
import io
import sys
from typing import Any

import click
import orjson

from headwater.config import Config
from headwater.warehouse.cells import encode_cell
from headwater.warehouse.client import WarehouseClient, socket_path
from headwater.warehouse.engines.base import QueryResult
from headwater.warehouse.errors import WarehouseError
from headwater.warehouse.settings import WarehouseSettings

__all__ = ["format_result", "replay_events", "run_query", "warehouse_status"]


def run_query(config: Config, statement: str, limit: int | None = None) -> QueryResult:
    """Run read-only SQL wherever the warehouse is reachable from here."""
    client = WarehouseClient(socket_path(config.data_dir))
    if client.available():
        return client.query(statement, limit)
    from headwater.warehouse.engines.open import open_engine

    settings = WarehouseSettings.from_config(config)
    if settings.engine == "duckdb" and not settings.duckdb_path.exists():
        raise WarehouseError(
            f"no warehouse at {settings.duckdb_path} yet: start `headwater up` and send some events"
        )
    engine = open_engine(settings, read_only=True)
    engine.open()
    try:
        return engine.query(statement, limit=limit)
    finally:
        engine.close()


def replay_events(
    config: Config, *, reason: str | None, message_ids: list[str], limit: int | None, dry_run: bool
) -> dict[str, Any]:
    """Send chosen failed events through the loader again, in the running process if there is one."""
    client = WarehouseClient(socket_path(config.data_dir))
    if client.available():
        return client.replay(reason=reason, message_ids=message_ids, limit=limit, dry_run=dry_run)
    from headwater.log import open_log
    from headwater.log.settings import LogSettings
    from headwater.warehouse.engines.open import open_engine
    from headwater.warehouse.loader import Loader
    from headwater.warehouse.staging import open_stage

    settings = WarehouseSettings.from_config(config)
    engine = open_engine(settings)
    event_log = open_log(LogSettings.from_config(config))
    loader = Loader(settings, engine, open_stage(settings), event_log)
    try:
        loader.open_engine()
        report = loader.replay(reason=reason, message_ids=message_ids, limit=limit, dry_run=dry_run)
    finally:
        engine.close()
        event_log.close()
    return report.as_dict()


def warehouse_status(config: Config) -> dict[str, Any] | None:
    """The running loader's report, or None when no warehouse process answers."""
    client = WarehouseClient(socket_path(config.data_dir), timeout=5.0)
    if not client.available():
        return None
    return client.status()


def format_result(result: QueryResult, output: str) -> str:
    """Render rows as an aligned table, CSV with a header, or one JSON array of objects."""
    if output == "json":
        return orjson.dumps(list(result.records()), default=encode_cell).decode()
    if output == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(result.columns)
        for record in result.rows:
            writer.writerow(["" if cell is None else _plain(cell) for cell in record])
        return buffer.getvalue().rstrip("\n")
    cells = [[_plain(cell) if cell is not None else "NULL" for cell in row] for row in result.rows]
    widths = [len(name) for name in result.columns]
    for line in cells:
        for index, text in enumerate(line):
            widths[index] = min(max(widths[index], len(text)), 60)
    lines = [
        "  ".join(name.ljust(widths[i]) for i, name in enumerate(result.columns)),
        "  ".join("-" * width for width in widths),
    ]
    for line in cells:
        lines.append("  ".join(_clip(text, widths[i]).ljust(widths[i]) for i, text in enumerate(line)))
    count = len(result.rows)
    lines.append(f"({count} row{'s' if count != 1 else ''})")
    return "\n".join(lines)


def _plain(cell: object) -> str:
    value = encode_cell(cell) if not isinstance(cell, str | int | float | bool) else cell
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _clip(text: str, width: int) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 1] + "…"


@click.command("query")
@click.argument("statement")
@click.option("--config", "config_path", default=None, help="Config file (default: ./headwater.yaml).")
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="table for people, csv with a header, json as one array of objects.",
)
@click.option("--limit", type=click.IntRange(min=0), default=None, help="Return at most this many rows.")
def query(statement: str, config_path: str | None, output: str, limit: int | None) -> None:
    """Run read-only SQL against the warehouse (works while `headwater up` runs)."""
    from headwater.cli import load_or_exit

    config = load_or_exit(config_path)
    try:
        result = run_query(config, statement, limit)
    except (WarehouseError, ValueError) as error:
        click.echo(f"headwater query: {error}", err=True)
        sys.exit(1)
    click.echo(format_result(result, output))


@click.command("replay")
@click.option("--config", "config_path", default=None, help="Config file (default: ./headwater.yaml).")
@click.option("--reason", default=None, help="Only failed events whose reason contains this text.")
@click.option("--message-id", "message_ids", multiple=True, help="Only this messageId (repeatable).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many events.")
@click.option("--dry-run", is_flag=True, help="List what would be replayed; load nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def replay(
    config_path: str | None,
    reason: str | None,
    message_ids: tuple[str, ...],
    limit: int | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Load failed events again (after fixing their cause); those that load leave the failed list."""
    from headwater.cli import load_or_exit

    config = load_or_exit(config_path)
    try:
        report = replay_events(
            config, reason=reason, message_ids=list(message_ids), limit=limit, dry_run=dry_run
        )
    except WarehouseError as error:
        click.echo(f"headwater replay: {error}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(orjson.dumps(report).decode())
        return
    verb = "would replay" if dry_run else "replayed"
    click.echo(f"selected {report['selected']} failed events; {verb} {report['loaded']}")
    for entry in report["still_failing"]:
        label = "selected" if dry_run else "still failing"
        click.echo(f"  {label}: {entry['message_id'] or '(no messageId)'}: {entry['reason']}")
