"""`headwater demo`: realistic shop traffic through the real HTTP API of a running data plane.

The write key defaults to the one `headwater up` uses: the first enabled source of the config file,
or, when the file lists no sources, the demo source `up` created in
`<data_dir>/control/demo-source.yaml`. The URL defaults to this machine on `collect.port`.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path

import click
import orjson
import yaml

from headwater.config import Config, ConfigError, load_config
from headwater.demo.batches import plan_requests
from headwater.demo.errors import DeliveryError, DemoError, DemoSetupError
from headwater.demo.sender import send
from headwater.demo.traffic import (
    DEFAULT_DAYS,
    DEFAULT_EVENTS,
    DEFAULT_SEED,
    DEFAULT_START,
    generate,
    summarize,
)

__all__ = ["demo", "resolve_target"]


def _config(config_path: str | None) -> Config:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        click.echo(f"headwater: config error: {exc}", err=True)
        sys.exit(2)


def resolve_target(config_path: str | None, url: str | None, write_key: str | None) -> tuple[str, str, str]:
    """(url, write key, where the key came from); the config is read only for what the flags leave out."""
    if url is not None and write_key is not None:
        return url, write_key, "--write-key"
    config = _config(config_path)
    if url is None:
        host = config["collect.host"]
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        url = f"http://{host}:{config['collect.port']}{config['collect.path_prefix'].rstrip('/')}"
    if write_key is not None:
        return url, write_key, "--write-key"
    enabled = [source for source in config.sources if source.enabled]
    if config.sources:
        if not enabled:
            raise DemoSetupError("every source in the config is disabled: enable one, or pass --write-key")
        return url, enabled[0].write_key, f"source {enabled[0].name!r} of {config.path}"
    path = Path(config.data_dir) / "control" / "demo-source.yaml"
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise DemoSetupError(
            f"no write key: {path} does not exist yet. Start `headwater up` (it creates the demo source "
            "there) or pass --write-key."
        ) from None
    except (OSError, yaml.YAMLError) as exc:
        raise DemoSetupError(
            f"cannot read the demo source key from {path}: {exc}; pass --write-key"
        ) from None
    key = document.get("write_key") if isinstance(document, dict) else None
    if not isinstance(key, str) or not key:
        raise DemoSetupError(
            f"{path} has no `write_key`; delete it and restart `headwater up`, or pass --write-key"
        )
    return url, key, str(path)


@click.command("demo")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (default: $HEADWATER_CONFIG, else ./headwater.yaml, else embedded defaults).",
)
@click.option(
    "-n",
    "--events",
    type=click.IntRange(min=1),
    default=DEFAULT_EVENTS,
    show_default=True,
    help="Exactly this many events.",
)
@click.option(
    "--days",
    type=click.IntRange(1, 3650),
    default=DEFAULT_DAYS,
    show_default=True,
    help="Simulated days the traffic spreads over.",
)
@click.option(
    "--start",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    default=DEFAULT_START.isoformat(),
    show_default=True,
    help="First simulated day (UTC).",
)
@click.option(
    "--seed",
    type=int,
    default=DEFAULT_SEED,
    show_default=True,
    help="Same seed, events, days and start: the same events, byte for byte.",
)
@click.option(
    "--url",
    default=None,
    help="Data plane URL (default: this machine on collect.port, plus collect.path_prefix).",
)
@click.option(
    "--write-key",
    default=None,
    help="Write key (default: the config's first enabled source, else the demo source of `up`).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=8,
    show_default=True,
    help="Devices sending at the same time.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Also write every event to FILE as one JSON line.",
)
@click.option("--dry-run", is_flag=True, help="Generate and summarise; send nothing.")
def demo(
    config_path: str | None,
    events: int,
    days: int,
    start: datetime,
    seed: int,
    url: str | None,
    write_key: str | None,
    concurrency: int,
    output: str | None,
    dry_run: bool,
) -> None:
    """Send realistic shop traffic (web, mobile, server) through the real HTTP API."""
    try:
        began = time.monotonic()
        generated = generate(seed=seed, events=events, days=days, start=start.date())
        summary = summarize(generated)
        if output is not None:
            with open(output, "wb") as handle:
                for event in generated:
                    handle.write(orjson.dumps(event.payload) + b"\n")
        devices = ", ".join(f"{count} {platform}" for platform, count in summary.devices.items())
        click.echo(
            f"generated {summary.events:,} events in {time.monotonic() - began:.1f} s: "
            f"{summary.people:,} people ({summary.identified:,} identified), devices {devices}; "
            f"{summary.first_day} to {summary.last_day}; {summary.orders:,} orders, "
            f"revenue {summary.revenue:,.2f} USD; seed {seed}"
        )
        if dry_run:
            click.echo(f"dry run: {len(plan_requests(generated)):,} requests not sent")
            return
        target, key, origin = resolve_target(config_path, url, write_key)
        click.echo(f"sending to {target} with the write key of {origin} ...")
        report = send(generated, target, key, concurrency=concurrency)
    except DeliveryError as exc:
        click.echo(f"headwater demo: {exc}", err=True)
        sys.exit(1)
    except DemoError as exc:
        click.echo(f"headwater demo: {exc}", err=True)
        sys.exit(2)
    click.echo(
        f"sent {report.events:,} events in {report.requests:,} requests ({report.retries} retries) "
        f"for {summary.people:,} users in {report.seconds:.1f} s: {report.events_per_second:,.0f} events/s"
    )
