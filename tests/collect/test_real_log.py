"""The data plane on the real embedded log (in a temporary directory), not the in-memory fake."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from headwater.collect import CollectMetrics, CollectSettings, create_app
from headwater.control import SourceRegistry
from headwater.log import open_log
from headwater.log.settings import LogSettings
from tests.collect.asgi import Client
from tests.collect.conftest import GOOD_EVENT, LENIENT_KEY, SOURCES, WEB_KEY


@dataclasses.dataclass
class LiveLog:
    client: Client
    directory: Path
    writer: Any
    quarantine: Any

    def read_all(self, directory: Path) -> list[Any]:
        event_log = open_log(LogSettings(directory=directory))
        try:
            records = []
            for partition in event_log.partitions():
                records.extend(
                    event_log.read(partition, event_log.start_offsets().get(partition, 0), 100_000)
                )
            return records
        finally:
            event_log.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveLog]:
    event_log = open_log(LogSettings(directory=tmp_path / "log"))
    quarantine_log = open_log(LogSettings(directory=tmp_path / "quarantine"))
    writer = event_log.open_writer()
    quarantine = quarantine_log.open_writer()
    app = create_app(
        CollectSettings(),
        SourceRegistry(list(SOURCES)),
        writer,
        quarantine=quarantine,
        metrics=CollectMetrics(),
    )
    client = Client(app)
    yield LiveLog(client, tmp_path, writer, quarantine)
    client.run(writer.aclose())
    client.run(quarantine.aclose())
    client.close()
    event_log.close()
    quarantine_log.close()


def test_accepted_batch_is_readable_from_the_log_as_sent(live: LiveLog) -> None:
    batch = [{**GOOD_EVENT, "messageId": f"m-{i}"} for i in range(20)]
    response = live.client.post("/v1/batch", auth=WEB_KEY, json={"batch": batch})
    assert (response.status, response.body) == (200, b"ok")
    records = live.read_all(live.directory / "log")
    assert [r.offset for r in records] == list(range(20))
    assert {r.source_id for r in records} == {"src-web"}
    stored = [orjson.loads(r.payload) for r in records]
    assert [e["messageId"] for e in stored] == [f"m-{i}" for i in range(20)]
    assert all(e["properties"] == GOOD_EVENT["properties"] for e in stored)


def test_concurrent_requests_each_land_contiguously(live: LiveLog) -> None:
    async def burst() -> list[int]:
        requests = [
            live.client.arequest(
                "POST",
                "/v1/batch",
                auth=WEB_KEY,
                json={"batch": [{**GOOD_EVENT, "messageId": f"r{r}-e{e}"} for e in range(5)]},
            )
            for r in range(30)
        ]
        return [response.status for response in await asyncio.gather(*requests)]

    assert live.client.run(burst()) == [200] * 30
    records = live.read_all(live.directory / "log")
    assert len(records) == 150
    ids = [orjson.loads(r.payload)["messageId"] for r in records]
    for start in range(0, 150, 5):
        request = {i.split("-")[0] for i in ids[start : start + 5]}
        assert len(request) == 1, "a request's events are contiguous in the log"
    assert live.writer.stats.fsyncs < 30, "concurrent requests share fsyncs"


def test_lenient_refusals_land_in_the_quarantine_log(live: LiveLog) -> None:
    response = live.client.post(
        "/v1/batch", auth=LENIENT_KEY, json={"batch": [GOOD_EVENT, {"event": "no ids"}]}
    )
    assert response.status == 200
    assert len(live.read_all(live.directory / "log")) == 1
    (quarantined,) = live.read_all(live.directory / "quarantine")
    assert orjson.loads(quarantined.payload) == {"reason": "has_identifier", "event": {"event": "no ids"}}


def test_closed_writer_answers_503_not_500(live: LiveLog) -> None:
    live.client.run(live.writer.aclose())
    response = live.client.post("/v1/track", auth=WEB_KEY, json=GOOD_EVENT)
    assert (response.status, response.body) == (503, b"service unavailable\n")
    assert live.client.get("/health").status == 200, "a shutdown race is not a storage failure"
