"""The record frame: how one event is laid out on disk, and the codec for runs of frames.

Every frame is self-checking (length + CRC-32), so a reader can tell a complete record from a torn
write without any other file. Layout, little-endian (see docs/log-format.md):

    u32 payload_len | u32 crc32 | u64 offset | u64 timestamp_ms | u16 source_id_len | source_id | payload

The CRC (zlib's CRC-32, the IEEE polynomial) covers every byte after the crc field. Encoding packs a
whole request into one exact-size bytearray, because the data plane appends ~100 events per call and
the per-record cost is what bounds ingest throughput.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import Final

from headwater.log.base import Record
from headwater.log.errors import InvalidEntryError

__all__ = [
    "BAD",
    "DONE",
    "HEADER",
    "HEADER_SIZE",
    "MISMATCH",
    "SHORT",
    "Decoded",
    "decode",
    "encode",
    "find_valid_frame",
    "frame_size",
]

HEADER: Final = struct.Struct("<IIQQH")
HEADER_SIZE: Final = HEADER.size  # 26
_CRC: Final = struct.Struct("<I")
_U64: Final = struct.Struct("<Q")
_CRC_FROM: Final = 8  # the crc covers bytes [8, frame end)
MAX_PAYLOAD: Final = 0xFFFFFFFF
MAX_SOURCE_ID: Final = 0xFFFF

# Why decoding stopped.
DONE: Final = 0  # a limit was reached (records, bytes or the visible end)
SHORT: Final = 1  # the buffer ends inside a frame (or exactly at a frame boundary)
BAD: Final = 2  # a complete-looking frame failed its checksum
MISMATCH: Final = 3  # a checksum-valid frame carries an unexpected offset


def frame_size(source_id: bytes, payload: bytes) -> int:
    return HEADER_SIZE + len(source_id) + len(payload)


def encode(
    entries: Sequence[tuple[str, bytes]],
    first_offset: int,
    timestamp_ms: int,
    source_ids: dict[str, bytes],
) -> bytearray:
    """Frame `entries` with consecutive offsets into one buffer; `source_ids` caches encoded ids."""
    sids: list[bytes] = []
    total = 0
    for source_id, payload in entries:
        sid = source_ids.get(source_id)
        if sid is None:
            sid = source_id.encode()
            if len(sid) > MAX_SOURCE_ID:
                raise InvalidEntryError(f"source id of {len(sid)} bytes is longer than {MAX_SOURCE_ID}")
            if len(source_ids) >= 4096:
                source_ids.clear()
            source_ids[source_id] = sid
        if len(payload) > MAX_PAYLOAD:
            raise InvalidEntryError(f"payload of {len(payload)} bytes is larger than {MAX_PAYLOAD}")
        sids.append(sid)
        total += HEADER_SIZE + len(sid) + len(payload)
    buf = bytearray(total)
    view = memoryview(buf)
    pack_header = HEADER.pack_into
    pack_crc = _CRC.pack_into
    crc32 = zlib.crc32
    pos = 0
    offset = first_offset
    for (_, payload), sid in zip(entries, sids, strict=True):
        sid_at = pos + HEADER_SIZE
        payload_at = sid_at + len(sid)
        end = payload_at + len(payload)
        view[sid_at:payload_at] = sid
        view[payload_at:end] = payload
        pack_header(buf, pos, len(payload), 0, offset, timestamp_ms, len(sid))
        pack_crc(buf, pos + 4, crc32(view[pos + _CRC_FROM : end]))
        pos = end
        offset += 1
    view.release()
    return buf


Decoded = tuple[list[Record], int, int, int, int]
"""(records, position after the last whole valid frame, offset expected there, stop reason, bytes needed)."""


def decode(
    buf: bytes,
    start: int,
    expected: int,
    *,
    partition: int,
    skip_below: int = 0,
    stop_at: int = 1 << 64,
    max_records: int = 1 << 62,
    max_bytes: int = 1 << 62,
    first_may_exceed: bool = True,
) -> Decoded:
    """Walk frames from `start`, checking each checksum and that offsets run on from `expected`.

    Frames below `skip_below` are verified but not materialised (seeking inside a segment);
    decoding stops before `stop_at` (the durable end), after `max_records`, or before the frame that
    would pass `max_bytes` (unless it is the first and `first_may_exceed`, so a large record cannot
    stall a reader).
    On SHORT the last element says how many bytes from the returned position the next frame needs.
    """
    view = memoryview(buf)
    unpack = HEADER.unpack_from
    crc32 = zlib.crc32
    end = len(buf)
    pos = start
    out: list[Record] = []
    used = 0
    try:
        while True:
            if expected >= stop_at or len(out) >= max_records:
                return out, pos, expected, DONE, 0
            if end - pos < HEADER_SIZE:
                return out, pos, expected, SHORT, HEADER_SIZE
            payload_len, crc, offset, timestamp_ms, sid_len = unpack(buf, pos)
            size = HEADER_SIZE + sid_len + payload_len
            if end - pos < size:
                return out, pos, expected, SHORT, size
            frame_end = pos + size
            if crc32(view[pos + _CRC_FROM : frame_end]) != crc:
                return out, pos, expected, BAD, 0
            if offset != expected:
                return out, pos, expected, MISMATCH, 0
            if offset >= skip_below:
                if used + size > max_bytes and (out or not first_may_exceed):
                    return out, pos, expected, DONE, 0
                sid_at = pos + HEADER_SIZE
                payload_at = sid_at + sid_len
                source_id = buf[sid_at:payload_at].decode("utf-8", "replace")
                out.append(Record(partition, offset, timestamp_ms, source_id, buf[payload_at:frame_end]))
                used += size
            pos = frame_end
            expected += 1
    finally:
        view.release()


def _valid_at(buf: bytes, pos: int, offset: int) -> bool:
    if pos < 0 or len(buf) - pos < HEADER_SIZE:
        return False
    payload_len, crc, found, _, sid_len = HEADER.unpack_from(buf, pos)
    end = pos + HEADER_SIZE + sid_len + payload_len
    if found != offset or end > len(buf):
        return False
    with memoryview(buf) as view:
        return bool(zlib.crc32(view[pos + _CRC_FROM : end]) == crc)


def find_valid_frame(buf: bytes, after: int, expected: int, window: int = 16) -> int | None:
    """Position of a checksum-valid frame past `after` carrying one of the next `window` offsets.

    This is what tells corruption from a torn tail: a writer only ever appends, so a bad frame
    followed by good ones cannot be a write in progress. The search keys on the 8-byte offset field,
    which bytes.find locates at memory speed, and confirms each hit by its checksum.
    """
    for offset in range(expected, expected + window):
        pattern = _U64.pack(offset)
        hit = buf.find(pattern, after + 1 + _CRC_FROM)
        while hit != -1:
            candidate = hit - _CRC_FROM
            if candidate > after and _valid_at(buf, candidate, offset):
                return candidate
            hit = buf.find(pattern, hit + 1)
    return None
