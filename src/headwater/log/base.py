"""The event log's interface: what collect appends to and what every consumer reads from.

The embedded segment-file log implements it today; a NATS JetStream log will implement the same
calls, so no caller names a backend. Offsets are per partition and only ever grow; callers may
assume `next = last.offset + 1` for resuming but must not assume offsets are dense across
partitions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Consumer", "EventLog", "LogWriter", "Record", "RetentionReport"]


@dataclass(frozen=True, slots=True)
class Record:
    """One event as stored: which partition and offset, when it was appended, from which source."""

    partition: int
    offset: int
    timestamp_ms: int
    source_id: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """What a retention pass removed, for logs and metrics."""

    segments_deleted: int
    bytes_deleted: int


class LogWriter(Protocol):
    """A producer's handle on one partition; only this process appends to it while it is open."""

    @property
    def partition(self) -> int:
        """The partition this writer owns."""
        ...

    async def append(self, entries: Sequence[tuple[str, bytes]]) -> int:
        """Append (source_id, payload) entries as one unit; return the first offset once they are durable.

        Cancelling the caller's wait does not withdraw the entries: they are written all the same.
        """
        ...

    async def sync(self) -> None:
        """Return once everything appended before this call is durable (a barrier; appends nothing)."""
        ...

    async def aclose(self) -> None:
        """Flush and fsync what is pending, then release the partition."""
        ...


class Consumer(Protocol):
    """A named reader with its own committed position per partition (at-least-once)."""

    @property
    def name(self) -> str:
        """The consumer's name; its committed positions survive restarts."""
        ...

    def poll(self, max_records: int = 1000) -> list[Record]:
        """Return the next records after the in-memory position, advancing it (not the committed one)."""
        ...

    def commit(self, positions: Mapping[int, int] | None = None) -> None:
        """Durably record next-offsets per partition (default: everything polled so far)."""
        ...

    def committed(self) -> dict[int, int]:
        """The durably committed next-offset per partition."""
        ...

    def seek(self, partition: int, offset: int) -> None:
        """Move the in-memory position of one partition; nothing is committed."""
        ...

    def lag(self) -> dict[int, int]:
        """Records per partition between the committed position and the end of the log."""
        ...


class EventLog(Protocol):
    """The whole log: partitions, readers, consumers and retention."""

    def open_writer(self) -> LogWriter:
        """Take ownership of a partition no live process holds, recovering its tail first."""
        ...

    def partitions(self) -> list[int]:
        """Every partition that exists."""
        ...

    def end_offsets(self) -> dict[int, int]:
        """The next offset to be written, per partition."""
        ...

    def start_offsets(self) -> dict[int, int]:
        """The oldest offset still held, per partition (retention moves it)."""
        ...

    def read(
        self, partition: int, offset: int, max_records: int = 1000, max_bytes: int = 16 << 20
    ) -> list[Record]:
        """Complete, checksum-valid records from `offset` on; never a torn or unwritten one."""
        ...

    def consumer(self, name: str) -> Consumer:
        """A consumer positioned at its committed offsets (the log's start for a new name)."""
        ...

    def consumer_names(self) -> list[str]:
        """Consumers that have committed at least once; retention waits for all of them."""
        ...

    def enforce_retention(self) -> RetentionReport:
        """Delete whole segments past the age or size limit that every consumer has passed."""
        ...

    def close(self) -> None:
        """Release files and handles."""
        ...
