"""Deliver the planned requests to a data plane over real HTTP, the way the SDKs do.

Basic auth with the write key as user and an empty password; bodies gzipped where that SDK would;
429, 5xx and network errors retried with exponential backoff (honouring Retry-After), 401 and 404
fatal with a message that says which key or source to fix. Requests of one device go in order on
one lane; up to `concurrency` lanes are in flight at once, so a few hundred devices finish in
seconds without reordering anyone's events.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx
import orjson

from headwater.demo.batches import Request, plan_requests
from headwater.demo.errors import (
    DeliveryError,
    DeliveryFailedError,
    RequestRejectedError,
    SourceDisabledError,
    WriteKeyRejectedError,
)
from headwater.demo.traffic import Event

__all__ = ["SendReport", "send", "send_requests"]

RETRY_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
MAX_RETRY_AFTER = 30.0


@dataclass(frozen=True, slots=True)
class SendReport:
    """What one run delivered."""

    events: int
    requests: int
    retries: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float(self.events)


def _basic(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def _encode(request: Request) -> bytes:
    data = orjson.dumps(request.body)
    return gzip.compress(data, mtime=0) if request.gzip else data


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return min(MAX_RETRY_AFTER, max(0.0, float(value)))
    except ValueError:
        return None


class _Delivery:
    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        write_key: str,
        max_attempts: int,
        backoff: float,
        progress: Callable[[int], None] | None,
    ) -> None:
        self.client = client
        self.url = url.rstrip("/")
        self.auth = _basic(write_key)
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.progress = progress
        self.events = 0
        self.requests = 0
        self.retries = 0

    async def lane(self, requests: list[Request]) -> None:
        for request in requests:
            await self.post(request)
            self.events += request.events
            self.requests += 1
            if self.progress is not None:
                self.progress(self.events)

    async def post(self, request: Request) -> None:
        target = self.url + request.path
        content = _encode(request)
        headers = {**request.headers, "Authorization": self.auth}
        first_try = time.monotonic()
        reason = ""
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1 and request.platform == "web":
                # The JS SDK labels its retries; the server may count them.
                headers.update(
                    {
                        "Rsa-Retry-Attempt": str(attempt - 1),
                        "Rsa-Retry-Reason": reason,
                        "Rsa-Since-First-Attempt": str(int((time.monotonic() - first_try) * 1000)),
                    }
                )
            wait: float | None = None
            try:
                response = await self.client.post(target, content=content, headers=headers)
            except httpx.TransportError as exc:
                reason = "client-network"
                last = f"{type(exc).__name__}: {exc}"
                status = None
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return
                body = response.text.strip()
                self._refuse(status, body, target)
                reason = f"server-{status}"
                last = f"HTTP {status} {body[:200]!r}"
                wait = _retry_after(response)
            if attempt == self.max_attempts:
                raise DeliveryFailedError(
                    f"gave up on {target} after {attempt} attempts (last: {last}): is `headwater up` running "
                    f"there and healthy? Check --url and the server's log.",
                    url=target,
                    status=status,
                )
            self.retries += 1
            if wait is None:
                wait = min(5.0, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            await asyncio.sleep(wait)

    def _refuse(self, status: int, body: str, target: str) -> None:
        if status == 401:
            raise WriteKeyRejectedError(
                f"{target} refused the write key (401 {body!r}): pass the write key of an enabled source "
                "with --write-key, or leave it out to use the key `headwater up` made for the demo source.",
                url=target,
                status=status,
                body=body,
            )
        if status == 404:
            raise SourceDisabledError(
                f"{target} answered 404 ({body!r}): the source of this write key is disabled; set "
                "`enabled: true` for it in the config (or check that --url points at the data plane, path "
                "prefix included).",
                url=target,
                status=status,
                body=body,
            )
        if status not in RETRY_STATUSES:
            raise RequestRejectedError(
                f"{target} refused a request with HTTP {status} ({body[:300]!r}); the demo's payloads should "
                "always be accepted, so this is a bug in the demo or the server: please report it.",
                url=target,
                status=status,
                body=body,
            )


async def send_requests(
    requests: Sequence[Request],
    url: str,
    write_key: str,
    *,
    concurrency: int = 8,
    max_attempts: int = 8,
    backoff: float = 0.25,
    timeout: float = 30.0,
    progress: Callable[[int], None] | None = None,
) -> SendReport:
    """Send every request; raises a DeliveryError subclass on the first request that cannot be delivered."""
    lanes: dict[str, list[Request]] = {}
    for request in requests:
        lanes.setdefault(request.lane, []).append(request)
    # Longest lanes first, so the run does not end waiting on one busy device.
    queue: asyncio.Queue[list[Request]] = asyncio.Queue()
    for lane in sorted(lanes.values(), key=lambda lane: -sum(r.events for r in lane)):
        queue.put_nowait(lane)
    started = time.monotonic()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        delivery = _Delivery(client, url, write_key, max_attempts, backoff, progress)

        async def worker() -> None:
            while True:
                try:
                    lane = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await delivery.lane(lane)

        tasks = [asyncio.create_task(worker()) for _ in range(max(1, min(concurrency, len(lanes))))]
        try:
            await asyncio.gather(*tasks)
        except DeliveryError:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
    return SendReport(delivery.events, delivery.requests, delivery.retries, time.monotonic() - started)


def send(
    events: Sequence[Event],
    url: str,
    write_key: str,
    *,
    concurrency: int = 8,
    max_attempts: int = 8,
    backoff: float = 0.25,
    timeout: float = 30.0,
    progress: Callable[[int], None] | None = None,
) -> SendReport:
    """Deliver generated events through the real HTTP API; blocks until done (runs its own event loop)."""
    return asyncio.run(
        send_requests(
            plan_requests(events),
            url,
            write_key,
            concurrency=concurrency,
            max_attempts=max_attempts,
            backoff=backoff,
            timeout=timeout,
            progress=progress,
        )
    )
