"""The files of a partition: where they live, what they are called, and reading frames out of them.

    <log dir>/partition-00000/00000000000000000000.seg   records, named by the first offset they hold
    <log dir>/partition-00000/watermark                  the next offset readers may see (durable end)
    <log dir>/partition-00000/writer.lock                flock'ed by the one live writer

Readers and the writer's recovery share `scan`, so "what is a valid record" has one definition.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from headwater.log.base import Record
from headwater.log.record import BAD, DONE, HEADER_SIZE, SHORT, decode, find_valid_frame

__all__ = [
    "END",
    "LOCK_NAME",
    "TORN",
    "WATERMARK_NAME",
    "Scan",
    "fsync_dir",
    "has_valid_frame_after",
    "list_partitions",
    "list_segments",
    "pack_watermark",
    "partition_dir",
    "read_watermark",
    "scan",
    "segment_name",
]

PARTITION_PREFIX: Final = "partition-"
SEGMENT_SUFFIX: Final = ".seg"
LOCK_NAME: Final = "writer.lock"
WATERMARK_NAME: Final = "watermark"
_PARTITION_RE: Final = re.compile(r"^partition-(\d+)$")
_SEGMENT_RE: Final = re.compile(r"^(\d{20})\.seg$")

# Scan outcomes besides record.DONE and record.MISMATCH.
END: Final = 10  # the file ends exactly after the last valid frame
TORN: Final = 11  # bytes follow the last valid frame that are not a complete, valid frame

_WATERMARK: Final = struct.Struct("<4sIQ")
_WATERMARK_MAGIC: Final = b"HWWM"


def partition_dir(root: Path, partition: int) -> Path:
    return root / f"{PARTITION_PREFIX}{partition:05d}"


def list_partitions(root: Path) -> list[int]:
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(int(m.group(1)) for name in names if (m := _PARTITION_RE.match(name)))


def segment_name(base: int) -> str:
    return f"{base:020d}{SEGMENT_SUFFIX}"


def list_segments(directory: Path) -> list[int]:
    """First offsets of the partition's segments, oldest first."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(int(m.group(1)) for name in names if (m := _SEGMENT_RE.match(name)))


def fsync_dir(directory: Path) -> None:
    """Make a created, renamed or deleted entry durable; a file's fsync does not cover its name."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pack_watermark(next_offset: int) -> bytes:
    """16 bytes: magic, CRC-32 of the offset, the offset; a torn or foreign file fails the check."""
    raw = struct.pack("<Q", next_offset)
    return _WATERMARK.pack(_WATERMARK_MAGIC, zlib.crc32(raw), next_offset)


def read_watermark(fd: int) -> int | None:
    """The durable end a writer published, or None if the file holds no valid watermark (yet)."""
    for _ in range(3):  # a read racing the writer's 16-byte pwrite may see a mix; the next one will not
        data = os.pread(fd, _WATERMARK.size, 0)
        if len(data) < _WATERMARK.size:
            return None
        magic, crc, offset = _WATERMARK.unpack(data)
        if magic == _WATERMARK_MAGIC and zlib.crc32(data[8:16]) == crc:
            return int(offset)
    return None


@dataclass(slots=True)
class Scan:
    """What a scan of one segment found."""

    records: list[Record]
    position: int  # byte just after the last valid frame read
    next_offset: int  # offset the frame at `position` should carry
    status: int  # record.DONE, END, TORN or record.MISMATCH


def scan(
    fd: int,
    *,
    partition: int,
    position: int,
    expected: int,
    skip_below: int = 0,
    stop_at: int = 1 << 64,
    max_records: int = 1 << 62,
    max_bytes: int = 1 << 62,
    chunk: int = 1 << 20,
) -> Scan:
    """Read valid frames from `position`, one pread per chunk, until a limit or the first non-frame."""
    size = os.fstat(fd).st_size
    out: list[Record] = []
    spent = 0
    want = chunk
    while True:
        avail = size - position
        if avail <= 0:
            return Scan(out, position, expected, END if avail == 0 else TORN)
        data = os.pread(fd, min(want, avail), position)
        records, used, expected, status, need = decode(
            data,
            0,
            expected,
            partition=partition,
            skip_below=skip_below,
            stop_at=stop_at,
            max_records=max_records - len(out),
            max_bytes=max_bytes - spent,
            first_may_exceed=not out,
        )
        if records:
            out.extend(records)
            spent += sum(HEADER_SIZE + len(r.source_id) + len(r.payload) for r in records)
        position += used
        if status == DONE:
            return Scan(out, position, expected, DONE)
        if status == SHORT:
            if len(data) < min(want, avail):  # the file shrank under us: treat what we have as the end
                size = position + (len(data) - used)
            if position + need > size:
                return Scan(out, position, expected, END if position == size else TORN)
            want = max(chunk, need)
            continue
        return Scan(out, position, expected, TORN if status == BAD else status)


def has_valid_frame_after(fd: int, position: int, expected: int) -> bool:
    """True if a valid frame follows the bad bytes at `position`: corruption, not a torn tail."""
    size = os.fstat(fd).st_size
    if size <= position:
        return False
    rest = os.pread(fd, size - position, position)
    return find_valid_frame(rest, 0, expected) is not None
