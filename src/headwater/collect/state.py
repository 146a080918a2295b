"""What every handler shares: settings, the live source registry, the persister, metrics, logs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from headwater.collect.metrics import CollectMetrics
from headwater.collect.persist import Persister
from headwater.collect.refusals import RefusalLog
from headwater.collect.settings import CollectSettings
from headwater.collect.timestamps import format_time
from headwater.control import SourceRegistry

__all__ = ["AppState"]


def _now_text() -> str:
    return format_time(datetime.now(UTC).replace(tzinfo=None))


@dataclass(slots=True)
class AppState:
    """Per-app state. `sources` is looked up per request: the lead's reload swaps its contents in place."""

    settings: CollectSettings
    sources: SourceRegistry
    persister: Persister
    metrics: CollectMetrics
    refusals: RefusalLog = field(default_factory=RefusalLog)
    started_at: str = field(default_factory=_now_text)
