"""Prometheus metrics of model runs, beside the loader's in the warehouse process's multiprocess files.

Freshness is what an operator alerts on: `headwater_models_last_success_timestamp_seconds` older
than two schedule periods means the summaries are stale, whatever the reason.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from headwater.models.history import RunRecord

__all__ = ["ModelMetrics"]

_RUN_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class ModelMetrics:
    """Updated once per finished run (`observe` is the runner's `on_finish`)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.runs = Counter(
            "headwater_models_runs",
            "Finished model runs by kind, trigger and status (success|failed).",
            ["kind", "trigger", "status"],
            registry=r,
        )
        self.retries = Counter(
            "headwater_models_run_retries", "Attempts beyond the first, over all runs.", registry=r
        )
        self.seconds = Histogram(
            "headwater_models_run_seconds",
            "Wall time of a model run, retries included.",
            ["kind"],
            buckets=_RUN_BUCKETS,
            registry=r,
        )
        self.last_success = Gauge(
            "headwater_models_last_success_timestamp_seconds",
            "When the last successful run of the whole project finished (Unix time).",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.last_failed = Gauge(
            "headwater_models_last_run_failed",
            "1 if the last finished run failed, else 0.",
            registry=r,
            multiprocess_mode="mostrecent",
        )

    def observe(self, record: RunRecord) -> None:
        self.runs.labels(record.kind, record.trigger, record.status).inc()
        if record.attempt > 1:
            self.retries.inc(record.attempt - 1)
        if record.duration_s is not None:
            self.seconds.labels(record.kind).observe(record.duration_s)
        if record.refreshes_all and record.finished_at is not None:
            self.last_success.set(record.finished_at)
        self.last_failed.set(0 if record.status == "success" else 1)
