"""The record frame: round trips, the documented byte layout, and how decoding stops."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headwater.log import InvalidEntryError
from headwater.log.record import (
    BAD,
    DONE,
    HEADER_SIZE,
    MISMATCH,
    SHORT,
    decode,
    encode,
    find_valid_frame,
)

source_ids = st.text(min_size=0, max_size=40)
payloads = st.binary(min_size=0, max_size=2000)
batches = st.lists(st.tuples(source_ids, payloads), min_size=1, max_size=30)


@given(batch=batches, first=st.integers(0, 2**40), timestamp=st.integers(0, 2**50))
def test_encode_then_decode_returns_every_field(batch, first, timestamp):
    buf = bytes(encode(batch, first, timestamp, {}))
    records, position, next_offset, status, _ = decode(buf, 0, first, partition=3)
    assert status == SHORT and position == len(buf)  # ends exactly at a frame boundary
    assert next_offset == first + len(batch)
    assert [(r.source_id, r.payload) for r in records] == [(s, p) for s, p in batch]
    assert [r.offset for r in records] == list(range(first, first + len(batch)))
    assert {r.timestamp_ms for r in records} == {timestamp}
    assert {r.partition for r in records} == {3}


def test_frame_layout_is_the_documented_one():
    """Parse with nothing but docs/log-format.md: little-endian header, crc over everything after it."""
    buf = bytes(encode([("web", b"hello")], 7, 1_700_000_000_123, {}))
    payload_len, crc, offset, timestamp, sid_len = struct.unpack_from("<IIQQH", buf, 0)
    assert HEADER_SIZE == 26
    assert (payload_len, offset, timestamp, sid_len) == (5, 7, 1_700_000_000_123, 3)
    assert buf[26:29] == b"web" and buf[29:34] == b"hello" and len(buf) == 34
    assert crc == zlib.crc32(buf[8:34])


def test_a_hand_made_frame_decodes():
    body = struct.pack("<QQH", 41, 5, 2) + b"ab" + b"xyz"
    frame = struct.pack("<II", 3, zlib.crc32(body)) + body
    records, _, _, _, _ = decode(frame, 0, 41, partition=0)
    assert [(r.offset, r.timestamp_ms, r.source_id, r.payload) for r in records] == [(41, 5, "ab", b"xyz")]


@given(batch=batches, data=st.data())
def test_every_cut_of_the_last_frame_is_short_and_needs_the_rest(batch, data):
    buf = bytes(encode(batch, 0, 1, {}))
    last_start = len(bytes(encode(batch[:-1], 0, 1, {}))) if len(batch) > 1 else 0
    cut = data.draw(st.integers(last_start, len(buf) - 1))
    records, position, next_offset, status, need = decode(buf[:cut], 0, 0, partition=0)
    assert status == SHORT
    assert position == last_start and next_offset == len(batch) - 1
    assert len(records) == len(batch) - 1
    assert position + need > cut  # what it asks for is more than is there


@given(batch=batches, data=st.data())
def test_any_flipped_bit_in_a_frame_is_caught(batch, data):
    buf = bytearray(encode(batch, 0, 1, {}))
    index = data.draw(st.integers(0, len(buf) - 1))
    buf[index] ^= 1 << data.draw(st.integers(0, 7))
    records, position, _, status, _ = decode(bytes(buf), 0, 0, partition=0)
    assert status in (BAD, SHORT, MISMATCH)
    # Whatever was returned is intact and stops before the damaged frame.
    assert [r.payload for r in records] == [p for _, p in batch[: len(records)]]
    assert position <= index


def test_decode_limits():
    buf = bytes(encode([("s", b"x" * 100)] * 10, 0, 1, {}))
    assert decode(buf, 0, 0, partition=0, max_records=3)[3] == DONE
    assert len(decode(buf, 0, 0, partition=0, max_records=3)[0]) == 3
    records, _, next_offset, status, _ = decode(buf, 0, 0, partition=0, stop_at=4)
    assert (len(records), next_offset, status) == (4, 4, DONE)
    # Below `skip_below` records are checked and stepped over, not returned.
    records, _, _, _, _ = decode(buf, 0, 0, partition=0, skip_below=8)
    assert [r.offset for r in records] == [8, 9]
    # max_bytes counts frames; the first record always comes back so a big one cannot stall a reader.
    assert len(decode(buf, 0, 0, partition=0, max_bytes=1)[0]) == 1
    assert len(decode(buf, 0, 0, partition=0, max_bytes=1, first_may_exceed=False)[0]) == 0
    assert len(decode(buf, 0, 0, partition=0, max_bytes=3 * 127)[0]) == 3


def test_a_valid_frame_with_an_unexpected_offset_is_a_mismatch():
    buf = bytes(encode([("s", b"x")], 5, 1, {}))
    assert decode(buf, 0, 4, partition=0)[3] == MISMATCH


def test_find_valid_frame_after_damage():
    good = bytes(encode([("s", b"a" * 50), ("s", b"b" * 50), ("s", b"c" * 50)], 10, 1, {}))
    damaged = bytearray(good)
    damaged[HEADER_SIZE + 5] ^= 0xFF  # inside the first record's payload
    second = HEADER_SIZE + 1 + 50
    assert find_valid_frame(bytes(damaged), 0, 10) == second
    assert find_valid_frame(bytes(damaged)[:second], 0, 10) is None
    assert find_valid_frame(b"\x00" * 4096, 0, 10) is None


def test_entries_too_large_for_the_frame_are_refused():
    with pytest.raises(InvalidEntryError):
        encode([("s" * 70_000, b"x")], 0, 1, {})
