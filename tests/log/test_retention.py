"""Retention deletes whole closed segments by age or total size, never ahead of any registered consumer."""

from __future__ import annotations

import os
import time

from headwater.log import RetentionReport

from .helpers import append, close, read_all, segment_files

DAY = 24 * 3600


def _segmented(make_log, **settings):
    """A partition of 10 requests of 4 x 1000 bytes with 4 KiB segments: one request per segment."""
    log = make_log(segment_bytes=4096, **settings)
    writer = log.open_writer()
    for i in range(10):
        append(writer, [("src", bytes([i]) * 1000)] * 4)
    close(writer)
    names = segment_files(log)
    assert [int(n[:-4]) for n in names] == list(range(0, 40, 4))
    return log, names


def _age(log, names, seconds):
    for name in names:
        path = log.directory / "partition-00000" / name
        os.utime(path, (time.time() - seconds, time.time() - seconds))


def test_age_deletes_old_closed_segments_but_never_the_last(make_log):
    log, names = _segmented(make_log, retention_hours=24, retention_bytes=0)
    _age(log, names, 2 * DAY)
    report = log.enforce_retention()
    assert report.segments_deleted == 9
    assert report.bytes_deleted == 9 * 4 * (26 + 3 + 1000)
    assert segment_files(log) == names[-1:]
    assert log.start_offsets() == {0: 36}
    # Reading below the start reads from the start.
    assert [r.offset for r in log.read(0, 0)] == [36, 37, 38, 39]


def test_age_spares_young_segments(make_log):
    log, names = _segmented(make_log, retention_hours=24, retention_bytes=0)
    _age(log, names[:3], 2 * DAY)
    assert log.enforce_retention() == RetentionReport(segments_deleted=3, bytes_deleted=3 * 4 * 1029)
    assert log.start_offsets() == {0: 12}


def test_age_waits_for_the_slowest_consumer(make_log):
    log, names = _segmented(make_log, retention_hours=24, retention_bytes=0)
    _age(log, names, 2 * DAY)
    log.consumer("fast").commit({0: 40})
    log.consumer("slow").commit({0: 14})  # inside the segment starting at 12
    log.consumer("never-committed").poll(10)  # not registered: does not hold anything back
    assert log.enforce_retention().segments_deleted == 3
    assert log.start_offsets() == {0: 12}
    slow = log.consumer("slow")
    assert [r.offset for r in slow.poll(2)] == [14, 15]


def test_a_registered_consumer_without_a_position_holds_the_partition(make_log):
    log, names = _segmented(make_log, retention_hours=24, retention_bytes=0)
    _age(log, names, 2 * DAY)
    log.consumer("new").commit()  # registered at the start: has read nothing yet
    assert log.enforce_retention().segments_deleted == 0
    assert len(read_all(log, 0)) == 40


def test_size_cap_deletes_oldest_segments_until_under_it(make_log):
    log, names = _segmented(make_log, retention_hours=0, retention_bytes=4 * 4 * 1029)
    report = log.enforce_retention()
    assert report.segments_deleted == 6
    assert segment_files(log) == names[6:]
    assert log.start_offsets() == {0: 24}


def test_size_cap_respects_consumers_and_the_active_segment(make_log):
    log, names = _segmented(make_log, retention_hours=0, retention_bytes=1)
    log.consumer("warehouse").commit({0: 21})
    assert log.enforce_retention().segments_deleted == 5  # segments 0..19 are passed; 20..23 is not
    log.consumer("warehouse").commit({0: 40})
    assert log.enforce_retention().segments_deleted == 4
    assert segment_files(log) == names[-1:]  # over the cap still, but the last segment stays


def test_no_limits_delete_nothing(make_log):
    log, names = _segmented(make_log, retention_hours=0, retention_bytes=0)
    _age(log, names, 400 * DAY)
    assert log.enforce_retention() == RetentionReport(0, 0)
    assert segment_files(log) == names


def test_another_reader_sees_the_new_start(make_log):
    log, names = _segmented(make_log, retention_hours=24, retention_bytes=0)
    other = make_log()
    assert len(read_all(other, 0)) == 40  # it has files open and listings cached
    _age(log, names, 2 * DAY)
    log.enforce_retention()
    assert other.start_offsets() == {0: 36}
    assert [r.offset for r in other.read(0, 0)] == [36, 37, 38, 39]


def test_the_writer_keeps_appending_after_retention(make_log):
    log, names = _segmented(make_log, retention_hours=24, retention_bytes=0)
    _age(log, names, 2 * DAY)
    log.enforce_retention()
    writer = log.open_writer()
    assert append(writer, [("src", b"after")]) == 40
    close(writer)
    assert [r.offset for r in read_all(log, 0)] == [36, 37, 38, 39, 40]
