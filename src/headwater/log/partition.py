"""Taking a partition for writing: the flock that makes one live writer per partition, and tail recovery.

The lock is a non-blocking `flock` on `writer.lock`: the kernel drops it when the holder dies, even by
SIGKILL, so a restarted worker finds its partition free again without any lease or heartbeat. Recovery
runs while holding the lock and before any append, so it never races a writer; it may race readers,
which is safe because it only cuts bytes past the published watermark.
"""

from __future__ import annotations

import fcntl
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from headwater.log.errors import CorruptRecordError
from headwater.log.record import MISMATCH
from headwater.log.segment import (
    END,
    LOCK_NAME,
    WATERMARK_NAME,
    fsync_dir,
    has_valid_frame_after,
    list_segments,
    pack_watermark,
    read_watermark,
    scan,
    segment_name,
)

__all__ = ["Recovered", "recover", "try_lock"]

logger = logging.getLogger("headwater.log")


def try_lock(directory: Path) -> int | None:
    """The lock file's descriptor if this process now owns the partition, None if a live process does."""
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


@dataclass(slots=True)
class Recovered:
    """A partition's state once its tail is clean: the open active segment and where appends go next."""

    segment_base: int
    segment_fd: int
    segment_size: int
    next_offset: int
    watermark_fd: int
    truncated_bytes: int


def recover(directory: Path, partition: int, *, fsync: bool) -> Recovered:
    """Validate the last segment, cut a torn tail, make the rest durable and publish the watermark.

    Raises CorruptRecordError (leaving the files untouched) when a bad frame has valid ones after it:
    cutting there would throw away records that were acknowledged.
    """
    watermark_fd = os.open(directory / WATERMARK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        published = read_watermark(watermark_fd)
        segments = list_segments(directory)
        if segments:
            base = segments[-1]
            fd = os.open(directory / segment_name(base), os.O_RDWR | os.O_CLOEXEC)
        else:
            base = published or 0
            fd = os.open(directory / segment_name(base), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            fsync_dir(directory)
        try:
            found = scan(fd, partition=partition, position=0, expected=base, skip_below=1 << 64)
            size = os.fstat(fd).st_size
            if found.status == MISMATCH or (
                found.status != END and has_valid_frame_after(fd, found.position, found.next_offset)
            ):
                raise CorruptRecordError(partition, segment_name(base), found.position)
            cut = size - found.position
            if cut:
                logger.warning(
                    "log partition %d: cut a torn tail of %d bytes at %s byte %d (offset %d)",
                    partition,
                    cut,
                    segment_name(base),
                    found.position,
                    found.next_offset,
                )
                os.ftruncate(fd, found.position)
            if fsync:
                os.fsync(fd)
                fsync_dir(directory)  # the segment, lock and watermark names themselves
            if published is not None and found.next_offset < published:
                logger.warning(
                    "log partition %d: records %d..%d were published but are gone; consumers that "
                    "read them will skip as many new records",
                    partition,
                    found.next_offset,
                    published - 1,
                )
            os.pwrite(watermark_fd, pack_watermark(found.next_offset), 0)
        except BaseException:
            os.close(fd)
            raise
    except BaseException:
        os.close(watermark_fd)
        raise
    return Recovered(base, fd, found.position, found.next_offset, watermark_fd, cut)
