"""Real processes: producers share no lock on the hot path, and kill -9 loses nothing acknowledged."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time

import pytest

from headwater.log import LogSettings, open_log

from .helpers import append, close, read_all
from .workers import append_until_killed, hold_and_append, payload

pytestmark = pytest.mark.slow

spawn = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited locks or threads


def test_two_writer_processes_get_two_partitions_and_both_append(tmp_path):
    directory = tmp_path / "log"
    barrier, results = spawn.Barrier(2), spawn.Queue()
    processes = [
        spawn.Process(target=hold_and_append, args=(str(directory), name, 50, barrier, results))
        for name in ("alpha", "beta")
    ]
    for process in processes:
        process.start()
    reports = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    results.close()
    results.join_thread()
    assert sorted(partition for _, partition, _ in reports) == [0, 1]
    with open_log(LogSettings(directory=directory)) as log:
        for name, partition, first in reports:
            assert first == 0
            records = read_all(log, partition)
            assert [(r.source_id, r.payload) for r in records] == [
                (name, payload(name, i)) for i in range(50)
            ]


def _run_and_kill(directory, acks_wanted):
    """Start an appending child, take `acks_wanted` acknowledgements, SIGKILL it mid-stream."""
    receive, send = spawn.Pipe(duplex=False)
    child = spawn.Process(target=append_until_killed, args=(str(directory), send))
    child.start()
    send.close()
    try:
        assert receive.poll(60), "the child did not start"
        _, partition, start = receive.recv()
        # While the child lives, its partition is held.
        with open_log(LogSettings(directory=directory)) as log:
            other = log.open_writer()
            assert other.partition != partition
            other.close()
        acks = []
        while len(acks) < acks_wanted:
            assert receive.poll(60), "the child stopped acknowledging"
            acks.append(receive.recv())
        time.sleep(random.uniform(0, 0.02))  # land the kill at a random point of a write or an fsync
        os.kill(child.pid, signal.SIGKILL)
        while True:  # acknowledgements already in the pipe count too
            try:
                acks.append(receive.recv())
            except EOFError:
                break
    finally:
        child.join(60)
        receive.close()
    assert child.exitcode == -signal.SIGKILL
    return partition, start, acks


def test_a_writer_killed_mid_append_loses_nothing_acknowledged(tmp_path):
    directory = tmp_path / "log"
    resumed_at = 0
    for round_ in range(3):
        partition, start, acks = _run_and_kill(directory, acks_wanted=150 + 100 * round_)
        assert partition == 0  # each restart takes the dead writer's partition back
        assert start == resumed_at
        with open_log(LogSettings(directory=directory)) as log:
            acked_end = max(first + count for _, first, count in acks)
            assert log.end_offsets()[0] >= acked_end  # acknowledged means published
            for tag, first, count in acks:
                records = log.read(0, first, count)
                assert [r.offset for r in records] == list(range(first, first + count))
                assert [r.payload for r in records] == [payload(tag, j) for j in range(count)]
            # A new writer recovers the tail and continues on the same partition.
            writer = log.open_writer()
            assert writer.partition == 0
            assert writer.next_offset >= acked_end
            offset = append(writer, [("src", b"after the crash")])
            close(writer)
            everything = read_all(log, 0)
            assert [r.offset for r in everything] == list(range(offset + 1))
            assert everything[-1].payload == b"after the crash"
            resumed_at = offset + 1
            assert log.check() == []
