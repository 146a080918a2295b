"""Making a request's events durable before it is acknowledged.

Each accepted request is one `append` of all its events, so a request is stored whole or not at
all. The request waits for it at most `collect.write_timeout_seconds`: on timeout the client gets
504 and retries. Cancelling the wait does not withdraw the entries (the log's writer frames them
when `append` is called and writes them whatever becomes of the caller), so a late append
finishes anyway and is at worst a duplicate, which at-least-once delivery allows. Awaiting the
append directly, with no task or shield per request, keeps this off the profile of the hot path.

A failed or late append marks the process unhealthy (`/health` answers 503) until an append
succeeds again, so a load balancer steers traffic away from a worker whose disk is failing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from headwater.collect.errors import LogUnavailable, PersistError, PersistTimeout
from headwater.collect.metrics import CollectMetrics
from headwater.collect.responses import GATEWAY_TIMEOUT, PERSIST_FAILED, SERVICE_UNAVAILABLE
from headwater.log.base import LogWriter
from headwater.log.errors import LogClosedError
from headwater.logs import get_logger

__all__ = ["Persister"]

log = get_logger("headwater.collect")

Entries = Sequence[tuple[str, bytes]]


class Persister:
    """Appends to the event log (and the quarantine log) with a deadline, and tracks storage health."""

    def __init__(
        self,
        writer: LogWriter,
        quarantine: LogWriter | None,
        timeout: float,
        metrics: CollectMetrics,
    ) -> None:
        self.writer = writer
        self.quarantine = quarantine
        self.timeout = timeout
        self.metrics = metrics
        self.healthy = True
        self.last_error = ""

    async def persist(self, entries: Entries, quarantined: Entries = ()) -> None:
        """Return once everything is durable; raise PersistError (500/503/504) otherwise."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        if quarantined and self.quarantine is not None:
            await self._append(self.quarantine, quarantined, deadline, "quarantine")
        if entries:
            await self._append(self.writer, entries, deadline, "log")

    async def _append(self, writer: LogWriter, entries: Entries, deadline: float, which: str) -> None:
        try:
            async with asyncio.timeout_at(deadline):
                await writer.append(entries)
        except TimeoutError:
            self._unhealthy("timeout", f"the {which} append did not finish within {self.timeout:g}s")
            asyncio.ensure_future(writer.sync()).add_done_callback(self._late)
            raise PersistTimeout(GATEWAY_TIMEOUT, f"{which} append took over {self.timeout:g}s") from None
        except LogClosedError:
            self.metrics.append_failures.labels("closed").inc()
            raise LogUnavailable(SERVICE_UNAVAILABLE, f"the {which} writer is closed") from None
        except Exception as exc:
            self._unhealthy("error", f"{which} append failed: {type(exc).__name__}: {exc}")
            log.error("append to the %s failed", which, exc_info=exc)
            raise PersistError(PERSIST_FAILED, f"{which} append failed: {exc}") from exc
        self.healthy = True

    def _unhealthy(self, reason: str, detail: str) -> None:
        self.metrics.append_failures.labels(reason).inc()
        if self.healthy:
            log.error("event log unhealthy: %s", detail)
        self.healthy = False
        self.last_error = detail

    def _late(self, barrier: asyncio.Future[None]) -> None:
        """The late append (and all before it) finished after all: its outcome decides health from now on."""
        if barrier.cancelled():
            return
        exc = barrier.exception()
        if exc is None:
            self.healthy = True
        elif not isinstance(exc, LogClosedError):
            self._unhealthy("error", f"late append failed: {type(exc).__name__}: {exc}")
