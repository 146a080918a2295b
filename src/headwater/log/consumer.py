"""A named consumer of the embedded log: in-memory positions, committed positions on disk.

Reading is at-least-once: `poll` moves only the in-memory position; a crash before `commit` replays
from the last commit. Consumers commit after their own output is durable, which is how the stages
downstream turn at-least-once in into exactly-once out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from headwater.log.base import Record
from headwater.log.offsets import check_name, load_offsets, store_offsets

if TYPE_CHECKING:
    from headwater.log.embedded import EmbeddedLog

__all__ = ["EmbeddedConsumer"]


class EmbeddedConsumer:
    """The Consumer of the embedded log; one live object per name (its offsets file is its state)."""

    def __init__(self, log: EmbeddedLog, name: str) -> None:
        self._log = log
        self._name = check_name(name)
        self._committed = load_offsets(log.directory, name)
        self._positions = dict(self._committed)
        self._turn = 0

    def __repr__(self) -> str:
        return f"<EmbeddedConsumer {self._name!r} positions={self._positions}>"

    @property
    def name(self) -> str:
        return self._name

    def positions(self) -> dict[int, int]:
        """The in-memory next offset per partition read so far (what a bare `commit()` would store)."""
        return dict(self._positions)

    def _position(self, partition: int, starts: dict[int, int]) -> int:
        position = self._positions.get(partition)
        if position is None:
            if not starts:
                starts.update(self._log.start_offsets())
            position = starts.get(partition, 0)
        return position

    def poll(self, max_records: int = 1000) -> list[Record]:
        """Up to `max_records` next records; each partition first gets an equal share, starting from a
        different partition each call, so one busy partition cannot starve the others."""
        partitions = self._log.partitions()
        if not partitions or max_records <= 0:
            return []
        turn = self._turn % len(partitions)
        self._turn += 1
        order = partitions[turn:] + partitions[:turn]
        share = max(1, max_records // len(order))
        starts: dict[int, int] = {}
        out: list[Record] = []
        drained: set[int] = set()
        for limit in (share, max_records):
            for partition in order:
                room = min(limit, max_records - len(out))
                if room <= 0:
                    break
                if partition in drained:
                    continue
                records = self._log.read(partition, self._position(partition, starts), room)
                if len(records) < room:
                    drained.add(partition)
                if records:
                    out.extend(records)
                    self._positions[partition] = records[-1].offset + 1
            if len(out) >= max_records or len(drained) == len(order):
                break
        return out

    def commit(self, positions: Mapping[int, int] | None = None) -> None:
        """Durably store next-offsets: the given ones, or every in-memory position; other partitions keep
        their earlier commit. Committing before the first poll registers the consumer for retention."""
        merged = dict(self._committed)
        merged.update(self._positions if positions is None else positions)
        store_offsets(self._log.directory, self._name, merged, fsync=self._log.settings.fsync)
        self._committed = merged

    def committed(self) -> dict[int, int]:
        """What is on disk now (re-read, so a status command sees the owner's latest commit)."""
        self._committed = load_offsets(self._log.directory, self._name)
        return dict(self._committed)

    def seek(self, partition: int, offset: int) -> None:
        """Move the in-memory position; reading below the log's start resumes from the start."""
        self._positions[partition] = offset

    def lag(self) -> dict[int, int]:
        """Records between the committed position (the start, if none) and the end, per partition."""
        ends = self._log.end_offsets()
        starts = self._log.start_offsets()
        committed = self.committed()
        lag: dict[int, int] = {}
        for partition, end in ends.items():
            start = starts.get(partition, 0)
            lag[partition] = max(0, end - max(committed.get(partition, start), start))
        return lag
