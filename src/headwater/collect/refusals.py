"""Structured log lines for refused requests, at most one per check per second.

Refusals are client mistakes, and a misconfigured fleet can send thousands a second; the log says
which check refused, on which route, for which source (by name: write keys are never logged), and
how many similar refusals the limiter held back since the last line.
"""

from __future__ import annotations

import time

from headwater.logs import get_logger

__all__ = ["RefusalLog"]

log = get_logger("headwater.collect")


class RefusalLog:
    def __init__(self, interval_seconds: float = 1.0) -> None:
        self.interval = interval_seconds
        self._next: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def refused(self, check: str, route: str, status: int, source: str, events: int = 1) -> None:
        now = time.monotonic()
        if now < self._next.get(check, 0.0):
            self._held[check] = self._held.get(check, 0) + 1
            return
        self._next[check] = now + self.interval
        held = self._held.pop(check, 0)
        log.info(
            "request refused",
            extra={
                "check": check,
                "route": route,
                "status": status,
                "source": source or None,
                "events": events,
                "held_back": held,
            },
        )
