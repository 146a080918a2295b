"""Prometheus metrics of the data plane, aggregated across worker processes.

The ingest workers are separate processes behind SO_REUSEPORT, so a scrape lands on one of them at
random. With `PROMETHEUS_MULTIPROC_DIR` set (the supervisor sets it for every worker, and it must
be set before prometheus_client is imported) each process writes its values to files there and
`/metrics` sums every process's files; without it, the metrics are this process's own.

The hot path touches a metric through a cached child per label set, so a request costs a few dict
lookups and additions, not a label resolution.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["CollectMetrics", "multiprocess_dir"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir") or None  # noqa: SIM112


class CollectMetrics:
    """The data plane's metrics on a registry of their own (so several apps can live in one process).

    `observe_fsync(seconds)` is for the log writer: pass it as the writer's fsync hook to get
    `headwater_log_fsync_seconds` next to the ack latency it explains.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "headwater_collect_requests",
            "HTTP requests answered, by route template and status.",
            ["route", "status"],
            registry=r,
        )
        self.events_accepted = Counter(
            "headwater_collect_events_accepted",
            "Events made durable in the event log, by source.",
            ["source"],
            registry=r,
        )
        self.refusals = Counter(
            "headwater_collect_refusals",
            "Refusals by the check that refused (a strict request counts once, a lenient one per event).",
            ["check"],
            registry=r,
        )
        self.events_quarantined = Counter(
            "headwater_collect_events_quarantined",
            "Events set aside by lenient sources, by source.",
            ["source"],
            registry=r,
        )
        self.event_warnings = Counter(
            "headwater_collect_event_warnings",
            "Accepted events that raised a validation warning.",
            ["warning"],
            registry=r,
        )
        self.request_bytes = Counter(
            "headwater_collect_request_bytes",
            "Decoded request body bytes read on event routes.",
            ["route"],
            registry=r,
        )
        self.append_failures = Counter(
            "headwater_collect_append_failures",
            "Appends to the event log that failed or timed out.",
            ["reason"],
            registry=r,
        )
        self.ack_seconds = Histogram(
            "headwater_collect_ack_seconds",
            "From the request's start to its events being durable.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.fsync_seconds = Histogram(
            "headwater_log_fsync_seconds",
            "Duration of the event log's fsyncs (fed by the log writer).",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self._request_children: dict[tuple[str, int], Counter] = {}
        self._source_children: dict[str, Counter] = {}
        self._bytes_children: dict[str, Counter] = {}

    def count_request(self, route: str, status: int) -> None:
        child = self._request_children.get((route, status))
        if child is None:
            child = self._request_children[(route, status)] = self.requests.labels(route, str(status))
        child.inc()

    def count_accepted(self, source: str, events: int) -> None:
        child = self._source_children.get(source)
        if child is None:
            child = self._source_children[source] = self.events_accepted.labels(source)
        child.inc(events)

    def count_bytes(self, route: str, size: int) -> None:
        child = self._bytes_children.get(route)
        if child is None:
            child = self._bytes_children[route] = self.request_bytes.labels(route)
        child.inc(size)

    def observe_ack(self, seconds: float) -> None:
        self.ack_seconds.observe(seconds)

    def observe_fsync(self, seconds: float) -> None:
        self.fsync_seconds.observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type: every worker's values in multiprocess mode."""
        path = multiprocess_dir()
        if path is not None:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
