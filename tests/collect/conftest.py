"""Fixtures for the data plane's wire tests: an app on an in-memory log, and a client to drive it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from headwater.collect import CollectApp, CollectMetrics, CollectSettings, create_app
from headwater.control import Source, SourceRegistry
from tests.collect.asgi import Client, Response

WEB_KEY = "2dUZ8nGkWebKey0000000000001"
OFF_KEY = "2dUZ8nGkOffKey0000000000002"
LENIENT_KEY = "2dUZ8nGkLenKey0000000000003"
RUDDER_KEY = "2dUZ8nGkRudKey0000000000004"
SEGMENT_KEY = "2dUZ8nGkSegKey0000000000005"
UNKNOWN_KEY = "2dUZ8nGkNopeKey000000000006"

SOURCES = (
    Source("web", WEB_KEY, id="src-web"),
    Source("off", OFF_KEY, enabled=False, id="src-off"),
    Source("lenient", LENIENT_KEY, id="src-lenient", validation="lenient"),
    Source("rudder", RUDDER_KEY, id="src-rudder", timestamp_mode="rudder"),
    Source("segment", SEGMENT_KEY, id="src-segment", timestamp_mode="segment"),
)

GOOD_EVENT = {"type": "track", "event": "Signed Up", "anonymousId": "anon-1", "properties": {"plan": "pro"}}


class MemoryWriter:
    """The LogWriter Protocol in memory; can be told to fail or to hold appends behind a gate."""

    def __init__(self, partition: int = 0) -> None:
        self._partition = partition
        self.batches: list[list[tuple[str, bytes]]] = []
        self.fail: BaseException | None = None
        self.gate: asyncio.Event | None = None
        self.calls = 0
        self.closed = False

    @property
    def partition(self) -> int:
        return self._partition

    async def append(self, entries: Sequence[tuple[str, bytes]]) -> int:
        """Like the real writer: the entries are taken at the call, then durability is awaited."""
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        first = len(self.records)
        self.batches.append(list(entries))
        await self.sync()
        return first

    async def sync(self) -> None:
        if self.gate is not None:
            await self.gate.wait()

    async def aclose(self) -> None:
        self.closed = True

    @property
    def records(self) -> list[tuple[str, bytes]]:
        return [entry for batch in self.batches for entry in batch]

    def events(self) -> list[Any]:
        return [orjson.loads(payload) for _source, payload in self.records]

    def last(self) -> Any:
        assert self.records, "nothing was appended"
        return orjson.loads(self.records[-1][1])


@dataclass
class Harness:
    app: CollectApp
    client: Client
    writer: MemoryWriter
    quarantine: MemoryWriter
    registry: SourceRegistry

    def post(self, path: str, **kwargs: Any) -> Response:
        return self.client.post(path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.client.get(path, **kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> Response:
        return self.client.request(method, path, **kwargs)

    def track(self, event: dict[str, Any] | None = None, **kwargs: Any) -> Response:
        kwargs.setdefault("auth", WEB_KEY)
        return self.post("/v1/track", json=event if event is not None else GOOD_EVENT, **kwargs)

    def assert_still_serves(self) -> None:
        """After any bad request, a good one is still accepted and stored."""
        before = len(self.writer.records)
        marker = f"still-serves-{before}"
        response = self.post("/v1/track", auth=WEB_KEY, json={**GOOD_EVENT, "messageId": marker})
        assert (response.status, response.body) == (200, b"ok")
        assert len(self.writer.records) == before + 1
        assert self.writer.last()["messageId"] == marker


def build(sources: Sequence[Source] = SOURCES, *, quarantine: bool = True, **settings: Any) -> Harness:
    collect_settings = dataclasses.replace(CollectSettings(), **settings)
    writer = MemoryWriter()
    quarantine_writer = MemoryWriter(partition=1)
    registry = SourceRegistry(list(sources))
    app = create_app(
        collect_settings,
        registry,
        writer,
        quarantine=quarantine_writer if quarantine else None,
        metrics=CollectMetrics(),
    )
    return Harness(app, Client(app), writer, quarantine_writer, registry)


@pytest.fixture
def make() -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def factory(*args: Any, **kwargs: Any) -> Harness:
        harness = build(*args, **kwargs)
        made.append(harness)
        return harness

    yield factory
    for harness in made:
        harness.client.close()


@pytest.fixture
def hw(make: Callable[..., Harness]) -> Harness:
    return make()
