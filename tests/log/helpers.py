"""Small helpers shared by the log's tests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from headwater.log import EmbeddedLog, LogWriter, Record

Entries = Sequence[tuple[str, bytes]]


def append(writer: LogWriter, entries: Entries) -> int:
    """Append from synchronous test code (each call runs its own event loop)."""
    return asyncio.run(writer.append(entries))


def close(writer: LogWriter) -> None:
    asyncio.run(writer.aclose())


def read_all(log: EmbeddedLog, partition: int, offset: int = 0) -> list[Record]:
    out: list[Record] = []
    while True:
        batch = log.read(partition, offset, 500)
        if not batch:
            return out
        out.extend(batch)
        offset = batch[-1].offset + 1


def make_entries(n: int, prefix: str = "e", source: str = "src") -> list[tuple[str, bytes]]:
    return [(source, f"{prefix}-{i}".encode()) for i in range(n)]


def segment_files(log: EmbeddedLog, partition: int = 0) -> list[str]:
    return sorted(p.name for p in (log.directory / f"partition-{partition:05d}").glob("*.seg"))
