"""Consumers: at-least-once positions, durable commits that survive a restart, lag and fairness."""

from __future__ import annotations

import orjson
import pytest

from headwater.log import ConsumerNameError, LogError

from .helpers import append, close, make_entries


def _fill(log, counts):
    """One writer per partition, `counts[p]` records each; returns the payloads per partition."""
    writers = [log.open_writer() for _ in counts]
    for writer, count in zip(writers, counts, strict=True):
        append(writer, make_entries(count, f"p{writer.partition}"))
    for writer in writers:
        close(writer)
    return {
        w.partition: [p for _, p in make_entries(c, f"p{w.partition}")]
        for w, c in zip(writers, counts, strict=True)
    }


def _drain(consumer, batch=7):
    out = []
    while records := consumer.poll(batch):
        out.extend(records)
    return out


def test_a_new_consumer_reads_everything_from_the_start(make_log):
    log = make_log()
    expected = _fill(log, [20, 5])
    records = _drain(log.consumer("loader"))
    for partition, payloads in expected.items():
        assert [r.payload for r in records if r.partition == partition] == payloads


def test_commit_survives_a_restart_and_uncommitted_reads_are_replayed(make_log):
    log = make_log()
    _fill(log, [30])
    first = log.consumer("loader")
    assert [r.offset for r in first.poll(10)] == list(range(10))
    first.commit()
    assert [r.offset for r in first.poll(5)] == list(range(10, 15))  # polled, never committed
    # The process restarts: a new object (even a new log handle) continues from the commit.
    again = make_log().consumer("loader")
    assert again.committed() == {0: 10}
    assert [r.offset for r in again.poll(5)] == list(range(10, 15))


def test_commit_of_explicit_positions_merges_with_earlier_ones(make_log):
    log = make_log()
    _fill(log, [10, 10])
    consumer = log.consumer("c")
    consumer.commit({0: 4})
    consumer.commit({1: 6})
    assert consumer.committed() == {0: 4, 1: 6}
    assert consumer.positions() == {}  # committing does not move what poll reads next


def test_lag_is_end_minus_committed(make_log):
    log = make_log()
    _fill(log, [12, 3])
    consumer = log.consumer("c")
    assert consumer.lag() == {0: 12, 1: 3}
    consumer.poll(100)
    assert consumer.lag() == {0: 12, 1: 3}  # polling alone commits nothing
    consumer.commit({0: 10})
    assert consumer.lag() == {0: 2, 1: 3}
    consumer.commit()
    assert consumer.lag() == {0: 0, 1: 0}


def test_poll_shares_between_partitions(make_log):
    log = make_log()
    _fill(log, [500, 500, 500])
    consumer = log.consumer("c")
    for _ in range(3):
        counts = {p: 0 for p in range(3)}
        for record in consumer.poll(90):
            counts[record.partition] += 1
        assert counts == {0: 30, 1: 30, 2: 30}


def test_poll_fills_up_from_busy_partitions_when_others_are_dry(make_log):
    log = make_log()
    _fill(log, [200, 3])
    records = log.consumer("c").poll(100)
    assert len(records) == 100
    assert sum(r.partition == 1 for r in records) == 3


def test_seek_moves_only_the_in_memory_position(make_log):
    log = make_log()
    _fill(log, [20])
    consumer = log.consumer("c")
    consumer.seek(0, 15)
    assert [r.offset for r in consumer.poll(100)] == list(range(15, 20))
    assert consumer.committed() == {}


def test_a_partition_created_later_is_read_from_its_start(make_log):
    log = make_log()
    writer = log.open_writer()
    append(writer, make_entries(3))
    consumer = log.consumer("c")
    assert len(_drain(consumer)) == 3
    second = log.open_writer()
    append(second, make_entries(2, "late"))
    append(writer, make_entries(1, "more"))
    assert sorted((r.partition, r.payload) for r in consumer.poll(10)) == [
        (0, b"more-0"),
        (1, b"late-0"),
        (1, b"late-1"),
    ]
    close(writer)
    close(second)


def test_only_consumers_that_committed_are_registered(make_log):
    log = make_log()
    _fill(log, [3])
    log.consumer("reader-only").poll(10)
    log.consumer("warehouse").commit()
    assert log.consumer_names() == ["warehouse"]


def test_the_offsets_file_is_the_documented_json(make_log):
    log = make_log()
    _fill(log, [5, 5])
    consumer = log.consumer("warehouse")
    consumer.poll(4)
    consumer.commit()
    document = orjson.loads((log.directory / "consumers" / "warehouse.json").read_bytes())
    assert document["consumer"] == "warehouse"
    assert document["positions"] == {"0": 2, "1": 2}
    assert isinstance(document["committed_at_ms"], int)
    assert not [p for p in (log.directory / "consumers").iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("name", ["", "../escape", ".hidden", "a/b", "x" * 200, "with space"])
def test_consumer_names_must_be_file_names(make_log, name):
    with pytest.raises(ConsumerNameError):
        make_log().consumer(name)


def test_an_unreadable_offsets_file_says_how_to_fix_it(make_log):
    log = make_log()
    (log.directory / "consumers").mkdir()
    (log.directory / "consumers" / "broken.json").write_bytes(b"{not json")
    with pytest.raises(LogError, match="restore or delete"):
        log.consumer("broken")
