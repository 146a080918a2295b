"""Prometheus metrics of the loader, written to the multiprocess directory the supervisor sets.

The loader runs in its own process, so its counters land in the same `PROMETHEUS_MULTIPROC_DIR`
the ingest workers use, and any worker's `/metrics` shows them beside the data plane's.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from headwater.warehouse.loader import LoadOutcome

__all__ = ["LoaderMetrics"]

_LOAD_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class LoaderMetrics:
    """Counters per load, plus gauges for lag that the worker refreshes every few seconds."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.events_loaded = Counter(
            "headwater_warehouse_events_loaded", "Events loaded into the warehouse.", registry=r
        )
        self.duplicates = Counter(
            "headwater_warehouse_duplicates_dropped",
            "Events dropped because their messageId was already loaded within the dedup window.",
            registry=r,
        )
        self.failed = Counter(
            "headwater_warehouse_events_failed",
            "Events written to _headwater.failed_events, by reason.",
            ["reason"],
            registry=r,
        )
        self.discards = Counter(
            "headwater_warehouse_discards", "Cells written to rudder_discards (type conflicts).", registry=r
        )
        self.rows = Counter("headwater_warehouse_rows_loaded", "Rows loaded, all tables.", registry=r)
        self.loads = Counter(
            "headwater_warehouse_loads", "Committed loads (warehouse transactions).", registry=r
        )
        self.staged_files = Counter(
            "headwater_warehouse_staged_files", "Parquet files written to the stage.", registry=r
        )
        self.staged_bytes = Counter(
            "headwater_warehouse_staged_bytes", "Bytes of Parquet written to the stage.", registry=r
        )
        self.retries = Counter(
            "headwater_warehouse_load_retries",
            "Loads retried because the warehouse or the stage was down or refusing.",
            registry=r,
        )
        self.load_seconds = Histogram(
            "headwater_warehouse_load_seconds", "Wall time of one load.", buckets=_LOAD_BUCKETS, registry=r
        )
        self.lag = Gauge(
            "headwater_warehouse_consumer_lag",
            "Events in the log not yet loaded, per partition.",
            ["partition"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.last_load = Gauge(
            "headwater_warehouse_last_load_timestamp_seconds",
            "When the last load committed (Unix time).",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self._retries_seen = 0

    def observe(self, outcome: LoadOutcome, retries_total: int, committed_at: float) -> None:
        self.loads.inc()
        self.events_loaded.inc(outcome.loaded)
        self.duplicates.inc(outcome.duplicates)
        self.discards.inc(outcome.discards)
        self.rows.inc(outcome.rows)
        self.staged_files.inc(outcome.staged_files)
        self.staged_bytes.inc(outcome.staged_bytes)
        self.load_seconds.observe(outcome.seconds)
        for failure in outcome.failures:
            self.failed.labels(failure.reason.split(":", 1)[0][:60]).inc()
        if retries_total > self._retries_seen:
            self.retries.inc(retries_total - self._retries_seen)
            self._retries_seen = retries_total
        self.last_load.set(committed_at)

    def set_lag(self, lag: dict[int, int]) -> None:
        for partition, behind in lag.items():
            self.lag.labels(str(partition)).set(behind)
