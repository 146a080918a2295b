"""The warehouse process `headwater up` runs: it owns the warehouse, runs the loader, serves the local API.

One process owns the embedded DuckDB file for writing (DuckDB allows one writing process), so the
loader, the scheduled model runs (dbt in-process, on the models scheduler's thread), the analytics
API and every read that `headwater query` or the console makes go through this process: the
loader on its own thread, reads on their own cursors. With PostgreSQL the same process layout is
kept so operators see one shape whatever the engine.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from headwater.config import Config, ConfigError, load_config
from headwater.log import open_log
from headwater.log.base import EventLog
from headwater.log.settings import LogSettings
from headwater.logs import configure_logging, get_logger
from headwater.models.history import RunHistory
from headwater.models.runner import ModelRunner
from headwater.models.schedule import ModelScheduler
from headwater.models.settings import ModelsSettings
from headwater.warehouse.client import socket_path
from headwater.warehouse.engines.base import Engine
from headwater.warehouse.engines.open import open_engine
from headwater.warehouse.errors import WarehouseError
from headwater.warehouse.loader import Loader, LoadOutcome
from headwater.warehouse.server import WarehouseServer
from headwater.warehouse.settings import WarehouseSettings
from headwater.warehouse.staging import open_stage

try:  # the analytics API is optional in this process: a build without it still loads and models
    from headwater.analytics.server import start_analytics
except ImportError:  # pragma: no cover - only while the analytics package is absent
    start_analytics = None  # type: ignore[assignment]

__all__ = ["main", "serve"]

log = get_logger("headwater.warehouse.worker")

_LAG_INTERVAL = 2.0


def serve(config: Config, stop: threading.Event) -> None:
    """Run until `stop` is set; then finish the batch in hand and close everything."""
    from headwater.models.metrics import ModelMetrics
    from headwater.warehouse.metrics import LoaderMetrics

    settings = WarehouseSettings.from_config(config)
    models_settings = ModelsSettings.from_config(config)
    engine = open_engine(settings)
    stage = open_stage(settings)
    event_log = open_log(LogSettings.from_config(config))
    metrics = LoaderMetrics()
    loader: Loader
    # Model runs and their history use an engine of their own: the loader's connection is the
    # loader's (its transactions do not nest), and on DuckDB a second connection of this process
    # opened with the same options shares the very database the loader holds.
    history_engine = open_engine(settings)
    history = RunHistory(history_engine)
    runner = ModelRunner(models_settings, settings, history, wait=stop.wait, on_finish=ModelMetrics().observe)
    scheduler = ModelScheduler(models_settings, runner, history)

    def on_load(outcome: LoadOutcome) -> None:
        metrics.observe(outcome, loader.stats.retries, time.time())
        if outcome.rows:
            scheduler.notify_loads()

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
            "models": scheduler.status(),
        }

    server = WarehouseServer(socket_path(config.data_dir), loader, engine, status, models=scheduler)
    server.start()
    thread = threading.Thread(target=_run_loader, args=(loader, stop), name="loader", daemon=True)
    thread.start()
    scheduler.start()
    analytics = _start_analytics(config, engine, event_log, status, scheduler.status)
    try:
        while not stop.wait(_LAG_INTERVAL):
            if not thread.is_alive():
                raise WarehouseError("the loader thread stopped unexpectedly")
            if loader._consumer is not None:
                metrics.set_lag(loader.consumer.lag())
    finally:
        stop.set()
        thread.join(timeout=60)
        scheduler.close(timeout=10)
        if analytics is not None:
            analytics.close()
        server.close()
        history_engine.close()
        engine.close()
        event_log.close()
    log.info("warehouse process stopped")


def _start_analytics(
    config: Config,
    engine: Engine,
    event_log: EventLog,
    status: Callable[[], dict[str, Any]],
    models: Callable[[], dict[str, Any]],
) -> Any:
    """The analytics API beside the loader, when it is built and `analytics.enabled`; None otherwise."""
    if start_analytics is None or not config.values.get("analytics.enabled", False):
        return None

    def health() -> dict[str, Any]:
        warehouse = status()
        return {"warehouse": warehouse, "models": warehouse.pop("models", None) or models()}

    try:
        return start_analytics(config, engine, event_log, health)
    except Exception:  # a taken port must not stop loading: the API is the optional part
        log.exception("the analytics API could not start")
        return None


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
    except ConfigError as exc:
        print(f"headwater: {exc}", file=sys.stderr)
        return 2
    except WarehouseError as error:
        log.error("warehouse process failed", extra={"error": str(error)})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
