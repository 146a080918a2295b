"""What the loader takes in and reports: the items it loads, each load's outcome, running totals.

Kept apart from the loader so the worker, the metrics and `headwater replay` can read them
without the loading machinery.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from headwater.warehouse.bookkeeping import FailedEvent

__all__ = ["Item", "LoadOutcome", "LoaderStats", "ReplayReport"]


@dataclass(slots=True)
class Item:
    """One event to load: its stored bytes and where it came from (partition/offset None on replay)."""

    payload: bytes
    source_id: str
    partition: int | None = None
    offset: int | None = None
    replay_of: FailedEvent | None = None


@dataclass(slots=True)
class LoadOutcome:
    """What one committed load did."""

    load_id: str
    events: int
    loaded: int
    duplicates: int
    failed: int
    rows: int
    discards: int
    staged_files: int
    staged_bytes: int
    seconds: float
    tables: dict[str, int]
    failures: list[FailedEvent] = field(default_factory=list)


@dataclass
class LoaderStats:
    """Running totals for `headwater status` and the metrics; updated by the loader thread only."""

    loads: int = 0
    events_loaded: int = 0
    duplicates: int = 0
    failed: int = 0
    discards: int = 0
    rows: int = 0
    staged_files: int = 0
    staged_bytes: int = 0
    retries: int = 0
    last_load_at: float | None = None
    last_load_id: str | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    failures_by_reason: dict[str, int] = field(default_factory=dict)
    state: str = "starting"

    def record(self, outcome: LoadOutcome) -> None:
        """Add one committed load to the totals."""
        self.state = "running"
        self.loads += 1
        self.events_loaded += outcome.loaded
        self.duplicates += outcome.duplicates
        self.failed += outcome.failed
        self.discards += outcome.discards
        self.rows += outcome.rows
        self.staged_files += outcome.staged_files
        self.staged_bytes += outcome.staged_bytes
        self.last_load_at = time.time()
        self.last_load_id = outcome.load_id
        for failure in outcome.failures:
            # counted by the reason up to its first detail
            key = failure.reason.split(":", 1)[0][:60]
            self.failures_by_reason[key] = self.failures_by_reason.get(key, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "loads": self.loads,
            "events_loaded": self.events_loaded,
            "duplicates": self.duplicates,
            "failed": self.failed,
            "discards": self.discards,
            "rows": self.rows,
            "staged_files": self.staged_files,
            "staged_bytes": self.staged_bytes,
            "retries": self.retries,
            "last_load_at": self.last_load_at,
            "last_load_id": self.last_load_id,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "failures_by_reason": dict(self.failures_by_reason),
        }


@dataclass(slots=True)
class ReplayReport:
    """What `headwater replay` did: how many were chosen, loaded again, and still failing (with why)."""

    selected: int
    loaded: int
    still_failing: list[tuple[str | None, str]]
    load_id: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "selected": self.selected,
            "loaded": self.loaded,
            "still_failing": [{"message_id": m, "reason": r} for m, r in self.still_failing],
            "load_id": self.load_id,
        }
