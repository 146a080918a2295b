"""Code that runs in child processes of the multi-process tests (spawned, so it must be importable)."""

from __future__ import annotations

import asyncio
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from headwater.log import LogSettings, open_log


def payload(tag: str, index: int) -> bytes:
    """Deterministic, varied-length payloads so the parent can check every acknowledged byte."""
    return (f"{tag}-{index}|" * (1 + (len(tag) * 7 + index * 31) % 400)).encode()


def hold_and_append(directory: str, name: str, count: int, barrier: Any, results: Any) -> None:
    """Open a writer, wait until the other process holds one too, append, report, then close."""
    with open_log(LogSettings(directory=Path(directory))) as log:
        writer = log.open_writer()
        barrier.wait(60)
        first = asyncio.run(writer.append([(name, payload(name, i)) for i in range(count)]))
        results.put((name, writer.partition, first))
        barrier.wait(60)
        asyncio.run(writer.aclose())


def append_until_killed(directory: str, acks: Connection) -> None:
    """Several concurrent producers append forever; each acknowledged append is reported at once."""
    log = open_log(LogSettings(directory=Path(directory), segment_bytes=512 * 1024))
    writer = log.open_writer()
    acks.send(("partition", writer.partition, writer.next_offset))

    async def producer(k: int) -> None:
        i = 0
        while True:
            tag = f"w{writer.next_offset}-{k}-{i}"
            count = 1 + (i * 5 + k) % 9
            first = await writer.append([("src", payload(tag, j)) for j in range(count)])
            acks.send((tag, first, count))
            i += 1

    async def main() -> None:
        await asyncio.gather(*(producer(k) for k in range(6)))

    asyncio.run(main())
