"""Errors of the event log.

HeadwaterError
└── LogError
    ├── PartitionBusyError     every partition is held by a live writer and no new one may be made
    ├── CorruptRecordError     a checksum failed before the tail (not a torn write); data needs attention
    ├── LogClosedError         append after close (a shutdown race; the caller answers 503)
    ├── LogWriteError          a write or fsync failed; the append was not stored (the caller answers 5xx,
    │                          the SDK retries)
    ├── InvalidEntryError      an entry cannot be framed (source id over 65535 bytes, payload over 4 GiB)
    └── ConsumerNameError      a consumer name that cannot be a file name
"""

from __future__ import annotations

from headwater.errors import HeadwaterError


class LogError(HeadwaterError):
    """Base for event-log errors."""


class PartitionBusyError(LogError):
    """No partition could be taken for writing."""


class CorruptRecordError(LogError):
    """A record in the middle of a segment failed its checksum."""

    def __init__(self, partition: int, segment: str, position: int) -> None:
        super().__init__(
            f"partition {partition}, segment {segment}, byte {position}: checksum mismatch "
            "before the tail; the segment needs inspection (`headwater log check`)"
        )
        self.partition = partition
        self.segment = segment
        self.position = position


class LogClosedError(LogError):
    """The writer was closed while a request still wanted to append."""


class LogWriteError(LogError):
    """Writing or fsyncing a group failed; none of the group's appends is acknowledged.

    Retry-able when the writer could cut the file back to its last durable record (`writer_usable`);
    otherwise the writer refuses every later append and the process must open a new writer, whose
    recovery re-validates the tail.
    """

    def __init__(self, partition: int, problem: str, *, writer_usable: bool) -> None:
        fix = (
            "the append was not stored; retry it"
            if writer_usable
            else "this writer refuses further appends; close it and open a new one (recovery checks the tail)"
        )
        super().__init__(f"partition {partition}: {problem}; {fix}")
        self.partition = partition
        self.problem = problem
        self.writer_usable = writer_usable


class InvalidEntryError(LogError, ValueError):
    """An entry is too large for the record frame."""


class ConsumerNameError(LogError, ValueError):
    """A consumer name must be usable as a file name."""
