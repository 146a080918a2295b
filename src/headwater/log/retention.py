"""Retention: delete whole closed segments that are too old or over the size cap, once everyone has read them.

A segment may go only if (1) it is not the last segment of its partition (the active one, or the one
the next writer will append to), (2) every registered consumer's committed offset for the partition
is at or past the segment's end (the next segment's first offset), and (3) it is the oldest remaining
segment of its partition, so the offsets held always stay one contiguous range and `start_offsets`
is simply the first remaining segment's name. Age is judged by the file's mtime, which is the time of
its last append, so no segment has to be read.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from headwater.log.base import RetentionReport
from headwater.log.segment import fsync_dir, list_partitions, list_segments, partition_dir, segment_name

__all__ = ["enforce_retention"]


@dataclass(slots=True)
class _Segment:
    partition: int
    base: int
    end: int  # first offset of the next segment
    size: int
    mtime: float


def _closed_segments(root: Path, partition: int) -> tuple[list[_Segment], int]:
    """The partition's closed segments oldest first, and the byte size of its last one."""
    directory = partition_dir(root, partition)
    bases = list_segments(directory)
    closed: list[_Segment] = []
    last_size = 0
    for index, base in enumerate(bases):
        try:
            info = os.stat(directory / segment_name(base))
        except FileNotFoundError:  # another process's retention got there first
            continue
        if index == len(bases) - 1:
            last_size = info.st_size
        else:
            closed.append(_Segment(partition, base, bases[index + 1], info.st_size, info.st_mtime))
    return closed, last_size


def enforce_retention(
    root: Path,
    *,
    retention_hours: float,
    retention_bytes: int,
    committed: Sequence[dict[int, int]],
    now: float | None = None,
    fsync: bool = True,
) -> RetentionReport:
    """Apply the age limit, then the size cap, to every partition under `root`; `committed` is one map per
    registered consumer (no consumers: nothing holds segments back)."""
    now = time.time() if now is None else now
    cutoff = now - retention_hours * 3600 if retention_hours > 0 else None
    queues: dict[int, list[_Segment]] = {}
    total = 0
    for partition in list_partitions(root):
        closed, last_size = _closed_segments(root, partition)
        floor = min((c.get(partition, -1) for c in committed), default=None)
        queues[partition] = _prefix_passed(closed, floor)
        total += last_size + sum(s.size for s in closed)

    deleted = 0
    freed = 0
    touched: set[int] = set()

    def delete(segment: _Segment) -> None:
        nonlocal deleted, freed, total
        try:
            os.unlink(partition_dir(root, segment.partition) / segment_name(segment.base))
        except FileNotFoundError:
            pass
        else:
            deleted += 1
            freed += segment.size
        total -= segment.size
        touched.add(segment.partition)

    if cutoff is not None:
        for queue in queues.values():
            while queue and queue[0].mtime < cutoff:
                delete(queue.pop(0))
    if retention_bytes > 0:
        while total > retention_bytes:
            heads = [queue[0] for queue in queues.values() if queue]
            if not heads:
                break
            oldest = min(heads, key=lambda s: (s.mtime, s.partition))
            delete(queues[oldest.partition].pop(0))
    if fsync:
        for partition in touched:
            fsync_dir(partition_dir(root, partition))
    return RetentionReport(segments_deleted=deleted, bytes_deleted=freed)


def _prefix_passed(closed: list[_Segment], floor: int | None) -> list[_Segment]:
    """The leading run of segments every consumer has read past (all of them when none is registered)."""
    if floor is None:
        return list(closed)
    out: list[_Segment] = []
    for segment in closed:
        if floor < segment.end:
            break
        out.append(segment)
    return out
