"""Torn tails after a crash are cut exactly; corruption before the tail is reported, never skipped."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.log import CorruptRecordError, LogSettings, open_log
from headwater.log.record import HEADER_SIZE, encode

from .helpers import append, close, make_entries, read_all

SEGMENT = f"{0:020d}.seg"


def _valid_log(directory: Path, requests: list[list[tuple[str, bytes]]]) -> bytes:
    """Write `requests` through a real writer and return the segment's bytes."""
    with open_log(LogSettings(directory=directory)) as log:
        writer = log.open_writer()
        for entries in requests:
            append(writer, entries)
        close(writer)
    return (directory / "partition-00000" / SEGMENT).read_bytes()


def _frame_sizes(entries: list[tuple[str, bytes]]) -> list[int]:
    return [HEADER_SIZE + len(s.encode()) + len(p) for s, p in entries]


REQUESTS = [make_entries(2, "a"), make_entries(1, "b"), [("web", b'{"event":"last one","n":12345}')]]
ALL = [e for r in REQUESTS for e in r]


def test_a_log_cut_at_every_byte_of_its_last_record_recovers_to_the_record_before(tmp_path):
    template = tmp_path / "template"
    full = _valid_log(template, REQUESTS)
    last_start = sum(_frame_sizes(ALL[:-1]))
    assert len(full) == last_start + _frame_sizes(ALL)[-1]
    for cut in range(last_start, len(full)):
        directory = tmp_path / f"cut-{cut}"
        shutil.copytree(template, directory)
        with open(directory / "partition-00000" / SEGMENT, "r+b") as segment:
            segment.truncate(cut)
        with open_log(LogSettings(directory=directory)) as log:
            # A reader never returns the torn record and does not call it corruption.
            assert [r.payload for r in read_all(log, 0)] == [p for _, p in ALL[:-1]]
            writer = log.open_writer()
            assert writer.next_offset == len(ALL) - 1
            assert (directory / "partition-00000" / SEGMENT).stat().st_size == last_start
            assert append(writer, [("web", b"replacement")]) == len(ALL) - 1
            close(writer)
            assert [r.payload for r in read_all(log, 0)] == [p for _, p in ALL[:-1]] + [b"replacement"]
        shutil.rmtree(directory)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(min_size=1, max_size=300) | st.sampled_from([b"\x00" * 4096, b"\xff" * 64]))
def test_garbage_after_the_last_record_is_never_data_and_is_cut(tmp_path_factory, garbage):
    directory = tmp_path_factory.mktemp("garbage")
    full = _valid_log(directory, REQUESTS)
    with open(directory / "partition-00000" / SEGMENT, "ab") as segment:
        segment.write(garbage)
    with open_log(LogSettings(directory=directory)) as log:
        assert [r.payload for r in read_all(log, 0)] == [p for _, p in ALL]
        writer = log.open_writer()
        assert writer.next_offset == len(ALL)
        assert (directory / "partition-00000" / SEGMENT).read_bytes() == full
        assert append(writer, make_entries(1, "next")) == len(ALL)
        close(writer)


def test_a_crash_between_write_and_fsync_keeps_whole_records_and_cuts_the_torn_one(tmp_path):
    """As after kill -9 mid-group: one whole unpublished frame, then half of the next."""
    directory = tmp_path / "log"
    _valid_log(directory, REQUESTS)
    n = len(ALL)
    unpublished = bytes(encode([("web", b"whole"), ("web", b"halved-record")], n, 1, {}))
    with open(directory / "partition-00000" / SEGMENT, "ab") as segment:
        segment.write(unpublished[: len(unpublished) - 5])
    with open_log(LogSettings(directory=directory)) as log:
        # Readers stop at the published watermark: the unacknowledged group is invisible.
        assert log.end_offsets() == {0: n}
        assert len(read_all(log, 0)) == n
        writer = log.open_writer()
        assert writer.next_offset == n + 1  # the whole frame survives recovery, the torn one does not
        assert [r.payload for r in read_all(log, 0)][-1] == b"whole"
        close(writer)


def test_a_damaged_payload_mid_segment_is_corruption(tmp_path):
    directory = tmp_path / "log"
    full = bytearray(_valid_log(directory, REQUESTS))
    second = _frame_sizes(ALL)[0]
    full[second + HEADER_SIZE + 4] ^= 0x01  # the payload of record 1; records 2 and 3 follow intact
    (directory / "partition-00000" / SEGMENT).write_bytes(full)
    with open_log(LogSettings(directory=directory)) as log:
        # The good record before it is still served; reading at the damaged one raises.
        assert [r.offset for r in log.read(0, 0)] == [0]
        with pytest.raises(CorruptRecordError) as error:
            log.read(0, 1)
        assert (error.value.partition, error.value.segment, error.value.position) == (0, SEGMENT, second)
        assert [(p.partition, p.position) for p in log.check()] == [(0, second)]
        # A writer will not cut acknowledged records away: it takes another partition.
        writer = log.open_writer()
        assert writer.partition == 1
        writer.close()
    assert (directory / "partition-00000" / SEGMENT).read_bytes() == full


def test_a_damaged_length_field_mid_segment_is_corruption(tmp_path):
    directory = tmp_path / "log"
    full = bytearray(_valid_log(directory, REQUESTS))
    full[_frame_sizes(ALL)[0] + 1] ^= 0x40  # record 1 now claims a 16 KiB payload: frames no longer line up
    (directory / "partition-00000" / SEGMENT).write_bytes(full)
    with open_log(LogSettings(directory=directory)) as log, pytest.raises(CorruptRecordError):
        log.read(0, 1)


def test_a_closed_segment_that_ends_early_is_corruption(tmp_path):
    directory = tmp_path / "log"
    with open_log(LogSettings(directory=directory, segment_bytes=4096)) as log:
        writer = log.open_writer()
        for i in range(10):
            append(writer, [("src", bytes([i]) * 1500)])
        close(writer)
        first = directory / "partition-00000" / SEGMENT
        data = first.read_bytes()
        first.write_bytes(data[:-10])
        records = log.read(0, 0)
        assert records and records[-1].offset < 1  # only what precedes the damage
        with pytest.raises(CorruptRecordError):
            log.read(0, records[-1].offset + 1)


def test_a_segment_whose_name_does_not_match_its_records_is_corruption(tmp_path):
    directory = tmp_path / "log"
    _valid_log(directory, REQUESTS)
    (directory / "partition-00000" / SEGMENT).rename(directory / "partition-00000" / f"{2:020d}.seg")
    with open_log(LogSettings(directory=directory)) as log, pytest.raises(CorruptRecordError):
        log.read(0, 2)


def test_a_clean_log_checks_clean(make_log):
    log = make_log(segment_bytes=4096)
    writer = log.open_writer()
    for i in range(20):
        append(writer, [("src", bytes([i]) * 700)] * 2)
    close(writer)
    assert log.check() == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    requests=st.lists(
        st.lists(
            st.tuples(st.sampled_from(["a", "web", "ios-app"]), st.binary(max_size=300)),
            min_size=1,
            max_size=6,
        ),
        min_size=1,
        max_size=6,
    ),
    data=st.data(),
)
def test_a_random_cut_keeps_exactly_the_whole_records_before_it(tmp_path_factory, requests, data):
    directory = tmp_path_factory.mktemp("random-cut")
    full = _valid_log(directory, requests)
    flat = [e for r in requests for e in r]
    cut = data.draw(st.integers(0, len(full)))
    with open(directory / "partition-00000" / SEGMENT, "r+b") as segment:
        segment.truncate(cut)
    ends = list(itertools.accumulate(_frame_sizes(flat)))
    whole = sum(end <= cut for end in ends)
    with open_log(LogSettings(directory=directory)) as log:
        assert [r.payload for r in read_all(log, 0)] == [p for _, p in flat[:whole]]
        writer = log.open_writer()
        assert writer.next_offset == whole
        assert (directory / "partition-00000" / SEGMENT).stat().st_size == (ends[whole - 1] if whole else 0)
        writer.close()


def test_without_a_watermark_readers_fall_back_to_the_valid_records(tmp_path):
    directory = tmp_path / "log"
    _valid_log(directory, REQUESTS)
    (directory / "partition-00000" / "watermark").unlink()
    with open(directory / "partition-00000" / SEGMENT, "ab") as segment:
        segment.write(b"\x07" * 40)
    with open_log(LogSettings(directory=directory)) as log:
        assert log.end_offsets() == {0: len(ALL)}
        assert len(read_all(log, 0)) == len(ALL)
        writer = log.open_writer()  # recovery publishes a watermark again
        writer.close()
    assert (directory / "partition-00000" / "watermark").stat().st_size == 16
