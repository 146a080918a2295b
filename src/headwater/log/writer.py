"""The group-commit writer: many concurrent appends in one event loop share one write and one fsync.

An append frames its entries at once in the event loop (offsets are assigned there, so a request's
records are contiguous) and waits for the group it joined. One flush task drains groups: it hands the
whole group to a worker thread, which does one `pwritev` per segment and one `fdatasync`, then
publishes the new durable end in the `watermark` file; only then are the group's appends released.
Appends that arrive while a flush is in the thread form the next group, so the event loop never waits
on the disk and the fsync rate adapts to the load.

Because readers only see records below the watermark, a request becomes visible all at once and only
after it is durable; a group that fails is cut back without any reader having seen it, so its offsets
can be reused without a consumer skipping anything.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from headwater.log.errors import LogClosedError, LogError, LogWriteError
from headwater.log.partition import Recovered
from headwater.log.record import encode
from headwater.log.segment import fsync_dir, list_segments, pack_watermark, segment_name

__all__ = ["PartitionWriter", "WriterStats"]

logger = logging.getLogger("headwater.log")
_IOV_MAX = 1024


@dataclass(slots=True)
class WriterStats:
    """Counters for metrics and for tests that check grouping without timing anything."""

    appends: int = 0
    records: int = 0
    groups: int = 0
    fsyncs: int = 0
    bytes: int = 0
    failed_groups: int = 0


class PartitionWriter:
    """The LogWriter of the embedded log: owns one partition (its flock) until closed."""

    def __init__(
        self,
        partition: int,
        directory: Path,
        lock_fd: int,
        recovered: Recovered,
        *,
        segment_bytes: int,
        fsync: bool,
        on_close: Callable[[PartitionWriter], None] | None = None,
    ) -> None:
        self._partition = partition
        self._dir = directory
        self._lock_fd = lock_fd
        self._segment_bytes = segment_bytes
        self._fsync = fsync
        self._on_close = on_close
        self.stats = WriterStats()
        # Called from the flush thread with each fsync's duration in seconds (the data plane's histogram).
        self.on_fsync: Callable[[float], None] | None = None
        # Thread side: touched only by the flush job in the worker thread, or when no flush is running.
        self._fd = recovered.segment_fd
        self._fd_base = recovered.segment_base
        self._fd_size = recovered.segment_size
        self._wm_fd = recovered.watermark_fd
        # Loop side: the logical end, including framed but not yet written groups.
        self._next_offset = recovered.next_offset
        self._batch_first = recovered.next_offset
        self._seg_base = recovered.segment_base
        self._seg_size = recovered.segment_size
        self._pieces: list[tuple[int, list[bytearray]]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._source_ids: dict[str, bytes] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._broken: str | None = None
        self._closing = False
        self._closed = False

    def __repr__(self) -> str:
        return f"<PartitionWriter partition={self._partition} next_offset={self._next_offset}>"

    @property
    def partition(self) -> int:
        return self._partition

    @property
    def next_offset(self) -> int:
        """The offset the next append will start at."""
        return self._next_offset

    async def append(self, entries: Sequence[tuple[str, bytes]]) -> int:
        """Append entries as one unit; return their first offset once they are written and fsynced."""
        if self._closing:
            raise LogClosedError(
                f"partition {self._partition}: the writer is closed; the process is shutting down"
            )
        if self._broken is not None:
            raise LogWriteError(self._partition, self._broken, writer_usable=False)
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._bind(loop)
        first = self._next_offset
        if not entries:
            return first
        data = encode(entries, first, time.time_ns() // 1_000_000, self._source_ids)
        if self._seg_size and self._seg_size + len(data) > self._segment_bytes:
            self._seg_base, self._seg_size = first, 0  # a request never straddles two segments
        if self._pieces and self._pieces[-1][0] == self._seg_base:
            self._pieces[-1][1].append(data)
        else:
            self._pieces.append((self._seg_base, [data]))
        self._seg_size += len(data)
        self._next_offset = first + len(entries)
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        self.stats.appends += 1
        self.stats.records += len(entries)
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        await waiter
        return first

    async def sync(self) -> None:
        """Wait until everything appended so far is durable: joins the queued group, or the one in flight."""
        if self._flusher is None:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Adopt the running loop; the writer may be made before any loop exists, or outlive one."""
        if self._flusher is not None or self._pieces:
            raise LogError(
                f"partition {self._partition}: the writer is busy in another event loop; "
                "use one writer per loop"
            )
        self._loop = loop

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        waiters: list[asyncio.Future[None]] = []
        try:
            while self._pieces:
                pieces, waiters = self._pieces, self._waiters
                first, end = self._batch_first, self._next_offset
                self._pieces, self._waiters, self._batch_first = [], [], end
                good = (self._fd_base, self._fd_size)
                try:
                    await loop.run_in_executor(None, self._write_group, pieces, end)
                except OSError as exc:
                    await self._after_failure(loop, exc, waiters, first, good)
                    continue
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
                waiters = []
            # Barriers (sync) that arrived while the last group was in flight and found nothing queued.
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
            waiters = []
        except asyncio.CancelledError:
            self._broken = "the event loop cancelled a flush in progress"
            _fail(waiters + self._waiters, LogWriteError(self._partition, self._broken, writer_usable=False))
            self._pieces, self._waiters = [], []
            raise
        finally:
            self._flusher = None

    async def _after_failure(
        self,
        loop: asyncio.AbstractEventLoop,
        exc: OSError,
        waiters: list[asyncio.Future[None]],
        first: int,
        good: tuple[int, int],
    ) -> None:
        """Cut the file back to the last durable record, then fail this group and everything queued."""
        self.stats.failed_groups += 1
        problem = f"writing offsets from {first} failed: {exc}"
        try:
            await loop.run_in_executor(None, self._rewind, good, first)
        except OSError as again:
            self._broken = f"{problem}; cutting the tail back also failed: {again}"
            logger.error("log partition %d: %s", self._partition, self._broken)
            error = LogWriteError(self._partition, self._broken, writer_usable=False)
        else:
            logger.warning(
                "log partition %d: %s; the tail was cut back to offset %d", self._partition, problem, first
            )
            error = LogWriteError(self._partition, problem, writer_usable=True)
        # Appends framed after the failed group carry offsets that no longer follow on: fail them too.
        _fail(waiters + self._waiters, error)
        self._pieces, self._waiters = [], []
        self._next_offset = self._batch_first = first
        self._seg_base, self._seg_size = good

    # Worker-thread side --------------------------------------------------------------------------

    def _write_group(self, pieces: list[tuple[int, list[bytearray]]], end: int) -> None:
        for base, buffers in pieces:
            if base != self._fd_base:
                self._roll(base)
            written = _pwrite_all(self._fd, buffers, self._fd_size)
            self._fd_size += written
            self.stats.bytes += written
        if self._fsync:
            started = time.perf_counter()
            os.fdatasync(self._fd)
            self.stats.fsyncs += 1
            if self.on_fsync is not None:
                self.on_fsync(time.perf_counter() - started)
        os.pwrite(self._wm_fd, pack_watermark(end), 0)
        self.stats.groups += 1

    def _roll(self, base: int) -> None:
        """Close the full segment durably, then start the next one named by its first offset."""
        old, self._fd = self._fd, -1
        try:
            if self._fsync:
                os.fdatasync(old)
                self.stats.fsyncs += 1
        finally:
            os.close(old)
        self._fd = os.open(
            self._dir / segment_name(base), os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644
        )
        self._fd_base, self._fd_size = base, 0
        if self._fsync:
            fsync_dir(self._dir)

    def _rewind(self, good: tuple[int, int], first: int) -> None:
        good_base, good_size = good
        if self._fd >= 0 and self._fd_base != good_base:
            os.close(self._fd)
            self._fd = -1
        # Newer segments go first: were we to die in between, a cut file plus a later segment would
        # leave a gap in the offsets, whereas a torn tail alone is what recovery repairs.
        for base in list_segments(self._dir):
            if base > good_base:
                os.unlink(self._dir / segment_name(base))
        if self._fsync:
            fsync_dir(self._dir)
        if self._fd < 0:
            self._fd = os.open(self._dir / segment_name(good_base), os.O_RDWR | os.O_CLOEXEC)
            self._fd_base = good_base
        os.ftruncate(self._fd, good_size)
        if self._fsync:
            os.fdatasync(self._fd)
        self._fd_size = good_size
        os.pwrite(self._wm_fd, pack_watermark(first), 0)

    def _release(self) -> None:
        try:
            if self._fd >= 0 and self._broken is None and self._fsync:
                os.fdatasync(self._fd)
        finally:
            for fd in (self._fd, self._wm_fd, self._lock_fd):  # closing the lock file drops the flock
                if fd >= 0:
                    os.close(fd)
            self._fd = self._wm_fd = self._lock_fd = -1
            self._closed = True
            if self._on_close is not None:
                self._on_close(self)

    # Closing -------------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Wait for the groups in flight, fsync, and release the partition for another process."""
        if self._closed:
            return
        self._closing = True
        if self._flusher is not None:
            await asyncio.shield(self._flusher)
        await asyncio.get_running_loop().run_in_executor(None, self._release)

    def close(self) -> None:
        """Release the partition from synchronous code; only when no append is in flight."""
        if self._closed:
            return
        if self._flusher is not None or self._pieces:
            raise LogError(
                f"partition {self._partition}: appends are still in flight; await aclose() instead"
            )
        self._closing = True
        self._release()

    @property
    def closed(self) -> bool:
        return self._closed


def _fail(waiters: list[asyncio.Future[None]], error: Exception) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_exception(error)


def _pwrite_all(fd: int, buffers: list[bytearray], position: int) -> int:
    """Write every buffer at `position` with as few syscalls as the kernel allows, resuming short writes."""
    pending: list[bytearray | memoryview] = list(buffers)
    index = 0
    total = 0
    while index < len(pending):
        written = os.pwritev(fd, pending[index : index + _IOV_MAX], position + total)
        if written <= 0:
            raise OSError(errno.ENOSPC, "the file system accepted no bytes")  # rather than spin
        total += written
        while written:  # skip what was written; keep the rest of a partly written buffer
            head = len(pending[index])
            if written >= head:
                written -= head
                index += 1
            else:
                pending[index] = memoryview(pending[index])[written:]
                written = 0
    return total
