"""The group-commit writer: grouping, offsets, segment roll, closing and failing writes."""

from __future__ import annotations

import asyncio
import errno
import os
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.log import InvalidEntryError, LogClosedError, LogError, LogWriteError
from headwater.log.segment import HEADER_SIZE

from .helpers import append, close, make_entries, read_all, segment_files


def test_concurrent_appends_share_fsyncs(make_log):
    log = make_log()
    writer = log.open_writer()

    async def main():
        return await asyncio.gather(*(writer.append(make_entries(3, f"r{i}")) for i in range(50)))

    firsts = asyncio.run(main())
    assert writer.stats.appends == 50
    assert writer.stats.fsyncs < writer.stats.appends
    assert writer.stats.groups < writer.stats.appends
    assert sorted(firsts) == list(range(0, 150, 3))
    close(writer)


def test_appends_during_an_fsync_form_the_next_group(make_log, monkeypatch):
    """The event loop keeps accepting appends while a group is in fsync; they are committed together."""
    log = make_log()
    writer = log.open_writer()
    in_fsync, release = threading.Event(), threading.Event()
    real = os.fdatasync
    calls = []

    def slow_fdatasync(fd):
        calls.append(fd)
        if len(calls) == 1:
            in_fsync.set()
            release.wait(30)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", slow_fdatasync)

    async def main():
        loop = asyncio.get_running_loop()
        first = asyncio.ensure_future(writer.append(make_entries(1, "first")))
        await loop.run_in_executor(None, in_fsync.wait)
        later = [asyncio.ensure_future(writer.append(make_entries(2, f"later{i}"))) for i in range(20)]
        await asyncio.sleep(0)
        assert not first.done() and not any(f.done() for f in later)
        release.set()
        return await first, await asyncio.gather(*later)

    first, later = asyncio.run(main())
    assert first == 0 and sorted(later) == list(range(1, 41, 2))
    assert (writer.stats.groups, writer.stats.fsyncs) == (2, 2)
    close(writer)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 40), min_size=1, max_size=40))
def test_offsets_are_dense_and_each_request_is_contiguous(make_log, sizes):
    log = make_log(fsync=False, segment_bytes=4096)
    writer = log.open_writer()
    base = writer.next_offset

    async def main():
        return await asyncio.gather(*(writer.append(make_entries(n, f"req{i}")) for i, n in enumerate(sizes)))

    firsts = asyncio.run(main())
    close(writer)
    records = read_all(log, writer.partition, base)
    assert [r.offset for r in records] == list(range(base, base + sum(sizes)))
    for i, (first, n) in enumerate(zip(firsts, sizes, strict=True)):
        got = [r.payload for r in records[first - base : first - base + n]]
        assert got == [f"req{i}-{j}".encode() for j in range(n)]


def test_an_acknowledged_append_is_visible_to_another_reader(make_log):
    writer = make_log().open_writer()
    other = make_log()
    first = append(writer, make_entries(5))
    assert other.end_offsets() == {0: 5}
    assert [r.payload for r in other.read(0, first)] == [p for _, p in make_entries(5)]
    close(writer)


def test_segments_roll_and_are_named_by_their_first_offset(make_log):
    log = make_log(segment_bytes=4096)
    writer = log.open_writer()
    for i in range(40):
        append(writer, [("src", bytes([i]) * 100)] * 5)
    close(writer)
    names = segment_files(log)
    assert len(names) > 3
    directory = log.directory / "partition-00000"
    for name in names:
        size = (directory / name).stat().st_size
        assert size <= 4096
        first = log.read(0, int(name[:-4]), 1)[0]
        assert first.offset == int(name[:-4])
    assert [r.offset for r in read_all(log, 0)] == list(range(200))


def test_a_request_larger_than_a_segment_gets_a_segment_of_its_own(make_log):
    log = make_log(segment_bytes=4096)
    writer = log.open_writer()
    append(writer, make_entries(3))
    append(writer, [("src", b"x" * 1000)] * 10)
    append(writer, make_entries(3))
    close(writer)
    assert segment_files(log) == [f"{0:020d}.seg", f"{3:020d}.seg", f"{13:020d}.seg"]
    assert len(read_all(log, 0)) == 16


def test_writer_made_outside_a_loop_serves_successive_loops(make_log):
    log = make_log()
    writer = log.open_writer()  # no event loop is running here
    assert append(writer, make_entries(2)) == 0
    assert append(writer, make_entries(2)) == 2  # a new asyncio.run, a new loop
    close(writer)


def test_empty_append_returns_the_next_offset_and_writes_nothing(make_log):
    log = make_log()
    writer = log.open_writer()
    append(writer, make_entries(2))
    assert append(writer, []) == 2
    assert writer.stats.appends == 1
    close(writer)


def test_closed_writer_refuses_appends_and_frees_its_partition(make_log):
    log = make_log()
    writer = log.open_writer()
    append(writer, make_entries(1))
    close(writer)
    assert writer.closed
    with pytest.raises(LogClosedError):
        append(writer, make_entries(1))
    again = log.open_writer()
    assert again.partition == writer.partition and again.next_offset == 1
    again.close()


def test_two_writers_in_one_process_get_two_partitions(make_log):
    log = make_log()
    first, second = log.open_writer(), log.open_writer()
    assert {first.partition, second.partition} == {0, 1}
    append(first, make_entries(1, "a"))
    append(second, make_entries(1, "b"))
    assert log.end_offsets() == {0: 1, 1: 1}
    first.close()
    second.close()


def test_entries_that_cannot_be_framed_raise(make_log):
    writer = make_log().open_writer()
    with pytest.raises(InvalidEntryError):
        append(writer, [("s" * 70_000, b"x")])
    assert append(writer, make_entries(1)) == 0  # nothing was consumed by the refused request
    close(writer)


def test_sync_close_refuses_while_appends_are_in_flight(make_log):
    writer = make_log().open_writer()

    async def main():
        pending = asyncio.ensure_future(writer.append(make_entries(1)))
        await asyncio.sleep(0)
        with pytest.raises(LogError):
            writer.close()
        await pending
        await writer.aclose()

    asyncio.run(main())
    assert writer.closed


# A failing disk -------------------------------------------------------------------------------------


def _fail_once(monkeypatch, name):
    real = getattr(os, name)
    state = {"left": 1}

    def flaky(*args):
        if state["left"]:
            state["left"] -= 1
            raise OSError(errno.EIO, "simulated I/O error")
        return real(*args)

    monkeypatch.setattr(os, name, flaky)


def test_a_failed_fsync_fails_the_group_and_the_writer_continues_without_it(make_log, monkeypatch):
    log = make_log()
    writer = log.open_writer()
    append(writer, make_entries(3, "kept"))
    _fail_once(monkeypatch, "fdatasync")

    async def main():
        return await asyncio.gather(
            *(writer.append(make_entries(2, "lost")) for _ in range(4)), return_exceptions=True
        )

    results = asyncio.run(main())
    assert all(isinstance(r, LogWriteError) and r.writer_usable for r in results)
    assert writer.stats.failed_groups == 1
    assert log.end_offsets() == {0: 3}
    assert append(writer, make_entries(2, "after")) == 3  # the failed offsets are reused: no gap
    payloads = [r.payload for r in read_all(log, 0)]
    assert payloads == [b"kept-0", b"kept-1", b"kept-2", b"after-0", b"after-1"]
    close(writer)
    size = (log.directory / "partition-00000" / f"{0:020d}.seg").stat().st_size
    assert size == sum(HEADER_SIZE + 3 + len(p) for p in payloads)


def test_a_short_write_then_enospc_is_cut_back(make_log, monkeypatch):
    log = make_log()
    writer = log.open_writer()
    append(writer, make_entries(2, "kept"))
    real = os.pwritev
    state = {"calls": 0}

    def short_then_full(fd, buffers, position):
        state["calls"] += 1
        if state["calls"] == 1:
            return real(fd, [bytes(buffers[0])[:7]], position)
        if state["calls"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, buffers, position)

    monkeypatch.setattr(os, "pwritev", short_then_full)
    with pytest.raises(LogWriteError):
        append(writer, make_entries(5, "lost"))
    assert append(writer, make_entries(1, "after")) == 2
    assert [r.payload for r in read_all(log, 0)] == [b"kept-0", b"kept-1", b"after-0"]
    close(writer)


def test_a_failure_across_a_roll_removes_the_new_segment(make_log, monkeypatch):
    log = make_log(segment_bytes=4096)
    writer = log.open_writer()
    append(writer, [("src", b"a" * 3000)])
    real = os.pwritev
    state = {"calls": 0}

    def fail_second_segment(fd, buffers, position):
        state["calls"] += 1
        if state["calls"] == 2:
            raise OSError(errno.EIO, "simulated I/O error")
        return real(fd, buffers, position)

    monkeypatch.setattr(os, "pwritev", fail_second_segment)

    async def main():
        # One group: the first request fits the segment, the second rolls to a new one and fails.
        return await asyncio.gather(
            writer.append([("src", b"b" * 500)]),
            writer.append([("src", b"c" * 3000)]),
            return_exceptions=True,
        )

    results = asyncio.run(main())
    assert all(isinstance(r, LogWriteError) for r in results)
    assert segment_files(log) == [f"{0:020d}.seg"]
    assert append(writer, [("src", b"d" * 10)]) == 1
    assert [r.payload[:1] for r in read_all(log, 0)] == [b"a", b"d"]
    close(writer)


def test_a_writer_that_cannot_cut_back_refuses_everything_after(make_log, monkeypatch):
    log = make_log()
    writer = log.open_writer()
    append(writer, make_entries(2, "kept"))

    def broken(*args):
        raise OSError(errno.EIO, "simulated I/O error")

    monkeypatch.setattr(os, "fdatasync", broken)
    monkeypatch.setattr(os, "ftruncate", broken)
    with pytest.raises(LogWriteError) as first:
        append(writer, make_entries(1, "lost"))
    assert not first.value.writer_usable
    with pytest.raises(LogWriteError) as later:
        append(writer, make_entries(1, "refused"))
    assert not later.value.writer_usable
    monkeypatch.undo()
    close(writer)
    # A new writer re-validates the tail before trusting it.
    again = log.open_writer()
    assert again.partition == 0
    payloads = [r.payload for r in read_all(log, 0)]
    # The written-but-unacknowledged record may survive recovery if it is intact; nothing else may.
    assert payloads in ([b"kept-0", b"kept-1"], [b"kept-0", b"kept-1", b"lost-0"])
    assert again.next_offset == len(payloads)
    again.close()


def test_a_reader_follows_a_live_writer_across_rolls(make_log):
    log = make_log(segment_bytes=4096)
    writer = log.open_writer()
    consumer = make_log().consumer("live")  # another handle, as another process would have
    seen = []
    for i in range(30):
        append(writer, [("src", f"{i}-{j}".encode() * 40) for j in range(3)])
        seen.extend(consumer.poll(1000))
        assert [r.offset for r in seen] == list(range(3 * (i + 1)))
    close(writer)
    assert len(segment_files(log)) >= 4


def test_when_every_partition_is_held_open_writer_says_so(make_log, monkeypatch):
    from headwater.log import PartitionBusyError, embedded

    monkeypatch.setattr(embedded, "MAX_PARTITIONS", 2)
    log = make_log()
    writers = [log.open_writer(), log.open_writer()]
    with pytest.raises(PartitionBusyError):
        log.open_writer()
    for writer in writers:
        writer.close()


def test_sync_waits_for_the_group_in_flight_and_returns_at_once_when_idle(make_log, monkeypatch):
    """sync() is a barrier: it returns only after everything appended before it is durable."""
    log = make_log()
    writer = log.open_writer()
    in_fsync, release = threading.Event(), threading.Event()
    real = os.fdatasync

    def slow_fdatasync(fd):
        in_fsync.set()
        release.wait(30)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", slow_fdatasync)

    async def main():
        loop = asyncio.get_running_loop()
        append = asyncio.ensure_future(writer.append(make_entries(3, "x")))
        await loop.run_in_executor(None, in_fsync.wait)
        barrier = asyncio.ensure_future(writer.sync())
        for _ in range(5):
            await asyncio.sleep(0)
        waited = not barrier.done()
        visible_before = log.end_offsets()[writer.partition]
        release.set()
        await barrier
        visible_after = log.end_offsets()[writer.partition]
        await append
        return waited, visible_before, visible_after

    waited, before, after = asyncio.run(main())
    assert waited, "sync returned while the group was still being fsynced"
    assert (before, after) == (0, 3)
    monkeypatch.setattr(os, "fdatasync", real)
    asyncio.run(writer.sync())  # nothing pending: returns at once
    close(writer)


def test_a_cancelled_wait_does_not_withdraw_the_entries(make_log):
    log = make_log()
    writer = log.open_writer()

    async def main():
        task = asyncio.ensure_future(writer.append(make_entries(2, "kept")))
        await asyncio.sleep(0)
        task.cancel()
        await writer.sync()

    asyncio.run(main())
    assert [r.offset for r in log.read(writer.partition, 0)] == [0, 1]
    close(writer)
