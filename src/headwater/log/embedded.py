"""The embedded event log: partitioned segment files on one machine.

Each ingest process takes its own partition (`open_writer`), so producers share no lock on the hot
path. Any process may read any partition concurrently with its writer: a read returns checksum-valid
records below the partition's watermark (the writer's published durable end) and treats anything
invalid at the tail as "no more data yet". Readers keep small caches (segment lists, open files,
the byte position of the next offset of each recent read) so a sequential consumer costs two preads
per poll and an occasional directory listing.
"""

from __future__ import annotations

import bisect
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

from headwater.log.base import Consumer, EventLog, LogWriter, Record, RetentionReport
from headwater.log.consumer import EmbeddedConsumer
from headwater.log.errors import CorruptRecordError, PartitionBusyError
from headwater.log.offsets import consumer_names, load_offsets
from headwater.log.partition import recover, try_lock
from headwater.log.record import MISMATCH
from headwater.log.retention import enforce_retention
from headwater.log.segment import (
    END,
    TORN,
    WATERMARK_NAME,
    fsync_dir,
    has_valid_frame_after,
    list_partitions,
    list_segments,
    partition_dir,
    read_watermark,
    scan,
    segment_name,
)
from headwater.log.settings import LogSettings
from headwater.log.writer import PartitionWriter

__all__ = ["MAX_PARTITIONS", "EmbeddedLog"]

logger = logging.getLogger("headwater.log")

MAX_PARTITIONS: Final = 1024
_LISTING_TTL: Final = 1.0  # seconds a segment listing is trusted before retention elsewhere is noticed
_MAX_OPEN_SEGMENTS: Final = 64
_MAX_HINTS: Final = 4096
_NOTHING: Final = 1 << 64


class EmbeddedLog:
    """The EventLog backed by `<data_dir>/log`: see docs/log-format.md for every byte on disk."""

    def __init__(self, settings: LogSettings) -> None:
        self.settings = settings
        self._root = Path(settings.directory)
        self._root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._listings: dict[int, tuple[float, list[int]]] = {}
        self._segment_fds: OrderedDict[tuple[int, int], int] = OrderedDict()
        self._watermark_fds: dict[int, int] = {}
        self._hints: OrderedDict[tuple[int, int], tuple[int, int]] = OrderedDict()
        self._writers: set[PartitionWriter] = set()

    def __repr__(self) -> str:
        return f"<EmbeddedLog {str(self._root)!r}>"

    def __enter__(self) -> EmbeddedLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def directory(self) -> Path:
        return self._root

    # Writing -------------------------------------------------------------------------------------

    def open_writer(self) -> PartitionWriter:
        """Lock the lowest-numbered partition no live process holds (making one if all are held) and
        recover its tail. A partition whose tail is corrupt is skipped with an error in the logs.

        Call it in the process that will append, after any fork: a forked child would share the lock.
        """
        with self._lock:
            for partition in range(MAX_PARTITIONS):
                directory = partition_dir(self._root, partition)
                if not directory.is_dir():
                    directory.mkdir(exist_ok=True)
                    if self.settings.fsync:
                        fsync_dir(self._root)
                lock_fd = try_lock(directory)
                if lock_fd is None:
                    continue
                try:
                    recovered = recover(directory, partition, fsync=self.settings.fsync)
                except CorruptRecordError as exc:
                    os.close(lock_fd)
                    logger.error("log: not writing to partition %d: %s", partition, exc)
                    continue
                except BaseException:
                    os.close(lock_fd)
                    raise
                writer = PartitionWriter(
                    partition,
                    directory,
                    lock_fd,
                    recovered,
                    segment_bytes=self.settings.segment_bytes,
                    fsync=self.settings.fsync,
                    on_close=self._writers.discard,
                )
                self._writers.add(writer)
                self._listings.pop(partition, None)
                return writer
        raise PartitionBusyError(
            f"all {MAX_PARTITIONS} partitions under {self._root} are held by live writers "
            "or corrupt; stop some writer processes or run `headwater log check`"
        )

    # Positions -----------------------------------------------------------------------------------

    def partitions(self) -> list[int]:
        return list_partitions(self._root)

    def end_offsets(self) -> dict[int, int]:
        """The next offset per partition as readers see it: the published watermark."""
        with self._lock:
            return {partition: self._end(partition) for partition in self.partitions()}

    def start_offsets(self) -> dict[int, int]:
        """The oldest offset held per partition: the first remaining segment's name."""
        with self._lock:
            out: dict[int, int] = {}
            for partition in self.partitions():
                bases = self._bases(partition, refresh=True)
                out[partition] = bases[0] if bases else self._end(partition)
            return out

    def _end(self, partition: int) -> int:
        published = self._watermark(partition)
        if published is not None:
            return published
        # No watermark (a log not written by this code, or one mid-creation): count what is valid.
        bases = self._bases(partition, refresh=True)
        if not bases:
            return 0
        fd = self._segment_fd(partition, bases[-1])
        return scan(fd, partition=partition, position=0, expected=bases[-1], skip_below=_NOTHING).next_offset

    def _watermark(self, partition: int) -> int | None:
        fd = self._watermark_fds.get(partition)
        if fd is None:
            try:
                fd = os.open(
                    partition_dir(self._root, partition) / WATERMARK_NAME, os.O_RDONLY | os.O_CLOEXEC
                )
            except FileNotFoundError:
                return None
            self._watermark_fds[partition] = fd
        return read_watermark(fd)

    def _bases(self, partition: int, *, refresh: bool = False) -> list[int]:
        now = time.monotonic()
        cached = self._listings.get(partition)
        if cached is not None and not refresh and now - cached[0] < _LISTING_TTL:
            return cached[1]
        bases = list_segments(partition_dir(self._root, partition))
        self._listings[partition] = (now, bases)
        if cached is not None and cached[1] and (not bases or bases[0] != cached[1][0]):
            self._forget_below(partition, bases[0] if bases else _NOTHING)
        return bases

    def _forget_below(self, partition: int, start: int) -> None:
        """Close files of segments retention removed, so their disk space is really freed."""
        for key in [k for k in self._segment_fds if k[0] == partition and k[1] < start]:
            os.close(self._segment_fds.pop(key))

    def _segment_fd(self, partition: int, base: int) -> int:
        key = (partition, base)
        fd = self._segment_fds.get(key)
        if fd is not None:
            self._segment_fds.move_to_end(key)
            return fd
        fd = os.open(partition_dir(self._root, partition) / segment_name(base), os.O_RDONLY | os.O_CLOEXEC)
        self._segment_fds[key] = fd
        while len(self._segment_fds) > _MAX_OPEN_SEGMENTS:
            os.close(self._segment_fds.popitem(last=False)[1])
        return fd

    def _remember(self, partition: int, offset: int, base: int, position: int) -> None:
        self._hints[(partition, offset)] = (base, position)
        if len(self._hints) > _MAX_HINTS:
            self._hints.popitem(last=False)

    # Reading -------------------------------------------------------------------------------------

    def read(
        self, partition: int, offset: int, max_records: int = 1000, max_bytes: int = 16 << 20
    ) -> list[Record]:
        """Complete, checksum-valid records from `offset` on, never past the watermark.

        An offset below the partition's start reads from the start (retention removed the rest); an
        offset at or past the end returns []. A bad record that valid records follow is corruption:
        the records before it are returned, and a read that starts at it raises CorruptRecordError.
        """
        with self._lock:
            return self._read(partition, offset, max_records, max_bytes)

    def _read(self, partition: int, offset: int, max_records: int, max_bytes: int) -> list[Record]:
        published = self._watermark(partition)
        stop = _NOTHING if published is None else published
        if max_records <= 0 or offset >= stop:
            return []
        out: list[Record] = []
        spent = 0
        refreshed = False
        chunk = min(max(max_records * 512, 64 << 10), 4 << 20)
        bases = self._bases(partition)
        while len(out) < max_records and offset < stop and bases:
            index = bisect.bisect_right(bases, offset) - 1
            if index < 0:  # below the start: retention removed it, so read from the start
                offset = bases[0]
                continue
            base = bases[index]
            hint = self._hints.get((partition, offset))
            position, expected = (hint[1], offset) if hint is not None and hint[0] == base else (0, base)
            try:
                fd = self._segment_fd(partition, base)
            except FileNotFoundError:  # retention elsewhere removed it: look again
                if refreshed:
                    break
                bases, refreshed = self._bases(partition, refresh=True), True
                continue
            found = scan(
                fd,
                partition=partition,
                position=position,
                expected=expected,
                skip_below=offset,
                stop_at=stop,
                max_records=max_records - len(out),
                max_bytes=max_bytes - spent,
                chunk=chunk,
            )
            if found.records:
                out.extend(found.records)
                spent += sum(len(r.payload) + len(r.source_id) + 26 for r in found.records)
            offset = max(offset, found.next_offset)
            self._remember(partition, found.next_offset, base, found.position)
            if found.status == MISMATCH:
                return _corrupt(out, partition, base, found.position)
            if found.status == TORN:
                if has_valid_frame_after(fd, found.position, found.next_offset):
                    return _corrupt(out, partition, base, found.position)
                if base == bases[-1]:
                    bases, refreshed = self._bases(partition, refresh=True), True
                if not bases or base >= bases[-1]:
                    break  # the tail: a write in progress, or torn by a crash; not data either way
                again = scan(
                    fd,
                    partition=partition,
                    position=found.position,
                    expected=found.next_offset,
                    skip_below=_NOTHING,
                    max_records=1,
                )
                if again.position == found.position:  # a closed segment cannot end in a partial write
                    return _corrupt(out, partition, base, found.position)
                continue
            if found.status == END:
                if index < len(bases) - 1:
                    offset = max(offset, bases[index + 1])  # on to the next segment (skipping any gap)
                    continue
                if refreshed or (published is not None and offset >= stop):
                    break
                bases, refreshed = self._bases(partition, refresh=True), True  # the writer may have rolled
                continue
            # DONE: a limit was reached.
            break
        return out

    def tail(self, n: int = 10) -> list[Record]:
        """The newest `n` records of all partitions, oldest first by append time (`headwater log tail`)."""
        if n <= 0:
            return []
        newest: list[Record] = []
        starts = self.start_offsets()
        for partition, end in self.end_offsets().items():
            newest.extend(self.read(partition, max(starts.get(partition, 0), end - n), n))
        newest.sort(key=lambda r: (r.timestamp_ms, r.partition, r.offset))
        return newest[-n:]

    def follow(self, *, from_end: bool = True, interval: float = 0.25) -> Iterator[Record]:
        """Yield records as they are appended, forever (for `headwater log tail --follow`).

        The starting point (the end, or the start) is fixed when `follow` is called, not at the
        first `next()`, so nothing appended in between is missed.
        """
        positions = self.end_offsets() if from_end else self.start_offsets()
        return self._follow(positions, interval)

    def _follow(self, positions: dict[int, int], interval: float) -> Iterator[Record]:
        while True:
            found = False
            for partition in self.partitions():
                records = self.read(partition, positions.get(partition, 0), 1000)
                if records:
                    found = True
                    positions[partition] = records[-1].offset + 1
                    yield from records
            if not found:
                time.sleep(interval)

    def check(self) -> list[CorruptRecordError]:
        """Read every segment in full and report each corrupt spot (a torn tail is not one)."""
        problems: list[CorruptRecordError] = []
        with self._lock:
            for partition in self.partitions():
                published = self._watermark(partition)
                bases = self._bases(partition, refresh=True)
                for index, base in enumerate(bases):
                    last = index == len(bases) - 1
                    fd = self._segment_fd(partition, base)
                    found = scan(
                        fd,
                        partition=partition,
                        position=0,
                        expected=base,
                        skip_below=_NOTHING,
                        stop_at=published if last and published is not None else _NOTHING,
                    )
                    bad = found.status == MISMATCH or (
                        found.status == TORN
                        and (not last or has_valid_frame_after(fd, found.position, found.next_offset))
                    )
                    if bad:
                        problems.append(CorruptRecordError(partition, segment_name(base), found.position))
        return problems

    # Consumers and retention ---------------------------------------------------------------------

    def consumer(self, name: str) -> EmbeddedConsumer:
        return EmbeddedConsumer(self, name)

    def consumer_names(self) -> list[str]:
        return consumer_names(self._root)

    def enforce_retention(self, now: float | None = None) -> RetentionReport:
        """Delete old or excess closed segments that every registered consumer has committed past."""
        committed = [load_offsets(self._root, name) for name in self.consumer_names()]
        with self._lock:
            report = enforce_retention(
                self._root,
                retention_hours=self.settings.retention_hours,
                retention_bytes=self.settings.retention_bytes,
                committed=committed,
                now=now,
                fsync=self.settings.fsync,
            )
            for partition in list(self._listings):
                self._bases(partition, refresh=True)
        return report

    def close(self) -> None:
        """Close reader files, and writers with nothing in flight (await `aclose` on busy ones first)."""
        with self._lock:
            for writer in list(self._writers):
                try:
                    writer.close()
                except Exception:
                    logger.warning("log: %r still had appends in flight at close", writer)
            for fd in list(self._segment_fds.values()) + list(self._watermark_fds.values()):
                os.close(fd)
            self._segment_fds.clear()
            self._watermark_fds.clear()
            self._listings.clear()
            self._hints.clear()


def _corrupt(records: list[Record], partition: int, base: int, position: int) -> list[Record]:
    """Hand back the good records before a corrupt one; the next read, starting at it, raises."""
    if records:
        return records
    raise CorruptRecordError(partition, segment_name(base), position)


if TYPE_CHECKING:  # mypy proves the embedded classes satisfy the interfaces callers are typed against

    def _conforms(
        log: EmbeddedLog, writer: PartitionWriter, consumer: EmbeddedConsumer
    ) -> tuple[EventLog, LogWriter, Consumer]:
        return log, writer, consumer
