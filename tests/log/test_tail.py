"""`tail` and `follow`, the helpers behind `headwater log tail`."""

from __future__ import annotations

import itertools
import time

from .helpers import append, close, make_entries


def test_tail_returns_the_newest_records_of_all_partitions_by_time(make_log, monkeypatch):
    clock = itertools.count(1_700_000_000_000_000_000, 1_000_000)  # each append a millisecond later
    monkeypatch.setattr(time, "time_ns", lambda: next(clock))
    log = make_log()
    first, second = log.open_writer(), log.open_writer()
    append(first, make_entries(5, "old"))
    append(second, make_entries(5, "mid"))
    append(first, make_entries(2, "new"))
    tail = log.tail(4)
    assert [r.payload for r in tail][-2:] == [b"new-0", b"new-1"]
    assert len(tail) == 4
    assert all(r.payload.startswith((b"mid", b"new")) for r in tail)
    assert [r.timestamp_ms for r in tail] == sorted(r.timestamp_ms for r in tail)
    assert log.tail(0) == []
    assert len(log.tail(100)) == 12
    close(first)
    close(second)


def test_follow_yields_what_is_appended_after_it_starts(make_log):
    log = make_log()
    writer = log.open_writer()
    append(writer, make_entries(3, "before"))
    stream = log.follow(interval=0.01)
    append(writer, make_entries(2, "after"))
    assert [r.payload for r in itertools.islice(stream, 2)] == [b"after-0", b"after-1"]
    from_start = log.follow(from_end=False, interval=0.01)
    assert [r.payload for r in itertools.islice(from_start, 3)] == [b"before-0", b"before-1", b"before-2"]
    stream.close()
    from_start.close()
    close(writer)
