"""The warehouse process `headwater up` runs: it owns the warehouse, runs the loader, serves the local API.

One process owns the embedded DuckDB file for writing (DuckDB allows one writing process), so the
loader, later the scheduled model runs, and every read that `headwater query` or the console makes
go through this process: the loader on its own thread, reads on their own cursors. With
PostgreSQL the same process layout is kept so operators see one shape whatever the engine.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

from headwater.config import Config, ConfigError, load_config
from headwater.log import open_log
from headwater.log.settings import LogSettings
from headwater.logs import configure_logging, get_logger
from headwater.warehouse.client import socket_path
from headwater.warehouse.engines.base import Engine
from headwater.warehouse.engines.open import open_engine
from headwater.warehouse.errors import WarehouseError
from headwater.warehouse.loader import Loader, LoadOutcome
from headwater.warehouse.server import WarehouseServer
from headwater.warehouse.settings import WarehouseSettings
from headwater.warehouse.staging import open_stage

__all__ = ["main", "serve"]

log = get_logger("headwater.warehouse.worker")

_LAG_INTERVAL = 2.0


def serve(config: Config, stop: threading.Event) -> None:
    """Run until `stop` is set; then finish the batch in hand and close everything."""
    from headwater.warehouse.metrics import LoaderMetrics

    settings = WarehouseSettings.from_config(config)
    engine = open_engine(settings)
    stage = open_stage(settings)
    event_log = open_log(LogSettings.from_config(config))
    metrics = LoaderMetrics()
    loader: Loader

    def on_load(outcome: LoadOutcome) -> None:
        metrics.observe(outcome, loader.stats.retries, time.time())

    loader = Loader(settings, engine, stage, event_log, on_load=on_load)

    def status() -> dict[str, Any]:
        lag: dict[int, int] = {}
        if loader._consumer is not None:
            lag = loader.consumer.lag()
        return {
            "failed_pending": _pending_failures(engine),
            "engine": engine.kind,
            "namespace": settings.namespace,
            "stage": stage.describe(),
            "loader": loader.stats.as_dict(),
            "lag": {str(k): v for k, v in lag.items()},
            "lag_total": sum(lag.values()),
        }

    server = WarehouseServer(socket_path(config.data_dir), loader, engine, status)
    server.start()
    thread = threading.Thread(target=_run_loader, args=(loader, stop), name="loader", daemon=True)
    thread.start()
    try:
        while not stop.wait(_LAG_INTERVAL):
            if not thread.is_alive():
                raise WarehouseError("the loader thread stopped unexpectedly")
            if loader._consumer is not None:
                metrics.set_lag(loader.consumer.lag())
    finally:
        stop.set()
        thread.join(timeout=60)
        server.close()
        engine.close()
        event_log.close()
    log.info("warehouse process stopped")


def _pending_failures(engine: Engine) -> dict[str, int] | None:
    """Failed events not yet replayed, by reason, as the warehouse holds them (None while it is down)."""
    try:
        result = engine.query(
            "SELECT reason, count(*) FROM _headwater.failed_events WHERE replayed_at IS NULL "
            "GROUP BY reason ORDER BY 2 DESC",
            limit=50,
        )
    except Exception:  # status must answer even when the warehouse cannot
        return None
    return {str(reason): int(count) for reason, count in result.rows}


def _run_loader(loader: Loader, stop: threading.Event) -> None:
    try:
        loader.run(stop)
    except WarehouseError as error:
        if not stop.is_set():
            log.error("loader stopped", extra={"error": str(error)})
    except Exception:
        log.exception("loader crashed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="headwater-warehouse-worker")
    parser.add_argument("--config", default=None)
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config or None)
    except ConfigError as exc:
        print(f"headwater: {exc}", file=sys.stderr)
        return 2
    configure_logging(config["log_level"])
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        serve(config, stop)
    except WarehouseError as error:
        log.error("warehouse process failed", extra={"error": str(error)})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
