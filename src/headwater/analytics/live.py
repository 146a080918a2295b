"""Live events: the newest records of the event log as server-sent events, then new ones as they land.

The stream starts with the last `last` events across partitions (read from just before each
partition's end, merged by append time), then polls every partition from where it left off. Reads
are file reads, so they run in a worker thread; a comment line every few seconds keeps proxies from
closing an idle stream. The payload is the event as collect stored it (JSON), with where it sits.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson

from headwater.log.base import EventLog, Record

__all__ = ["event_stream", "frame"]

_READ_BATCH = 1000
_HEARTBEAT_SECONDS = 10.0


def frame(record: Record) -> bytes:
    """One SSE message: `id` is partition:offset so a client can tell where it is."""
    try:
        event: Any = orjson.loads(record.payload)
    except orjson.JSONDecodeError:
        event = record.payload.decode("utf-8", errors="replace")
    body = {
        "partition": record.partition,
        "offset": record.offset,
        "received_at": datetime.fromtimestamp(record.timestamp_ms / 1000, UTC).isoformat(),
        "source_id": record.source_id,
        "event": event,
    }
    return b"id: %d:%d\nevent: event\ndata: %s\n\n" % (record.partition, record.offset, orjson.dumps(body))


def _read_range(log: EventLog, partition: int, offset: int, end: int | None) -> list[Record]:
    out: list[Record] = []
    while end is None or offset < end:
        batch = log.read(partition, offset, _READ_BATCH)
        if not batch:
            break
        out.extend(record for record in batch if end is None or record.offset < end)
        offset = batch[-1].offset + 1
    return out


def _tail(log: EventLog, last: int) -> tuple[list[Record], dict[int, int]]:
    ends = log.end_offsets()
    starts = log.start_offsets()
    recent: list[Record] = []
    for partition, end in ends.items():
        begin = max(starts.get(partition, 0), end - last)
        recent.extend(_read_range(log, partition, begin, end) if last else [])
    recent.sort(key=lambda r: (r.timestamp_ms, r.partition, r.offset))
    return recent[-last:] if last else [], dict(ends)


def _poll(log: EventLog, positions: dict[int, int]) -> list[Record]:
    fresh: list[Record] = []
    starts = log.start_offsets()
    for partition in log.partitions():
        offset = max(positions.get(partition, starts.get(partition, 0)), starts.get(partition, 0))
        batch = log.read(partition, offset, _READ_BATCH)
        if batch:
            positions[partition] = batch[-1].offset + 1
            fresh.extend(batch)
    fresh.sort(key=lambda r: (r.timestamp_ms, r.partition, r.offset))
    return fresh


async def event_stream(
    log: EventLog, last: int, follow: bool, stop: threading.Event, poll_seconds: float = 0.5
) -> AsyncIterator[bytes]:
    recent, positions = await asyncio.to_thread(_tail, log, last)
    yield b": headwater live events\n\n"
    for record in recent:
        yield frame(record)
    if not follow:
        return
    quiet = 0.0
    while not stop.is_set():
        fresh = await asyncio.to_thread(_poll, log, positions)
        for record in fresh:
            yield frame(record)
        if fresh:
            quiet = 0.0
            continue
        await asyncio.sleep(poll_seconds)
        quiet += poll_seconds
        if quiet >= _HEARTBEAT_SECONDS:
            quiet = 0.0
            yield b": keep-alive\n\n"
