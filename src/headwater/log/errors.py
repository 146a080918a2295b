"""Errors of the event log.

    HeadwaterError
    └── LogError
        ├── PartitionBusyError     every partition is held by a live writer and no new one may be made
        ├── CorruptRecordError     a checksum failed before the tail (not a torn write); data needs attention
        └── LogClosedError         append after close (a shutdown race; the caller answers 503)
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
        super().__init__(f"partition {partition}, segment {segment}, byte {position}: checksum mismatch "
                         "before the tail; the segment needs inspection (`headwater log check`)")
        self.partition = partition
        self.segment = segment
        self.position = position


class LogClosedError(LogError):
    """The writer was closed while a request still wanted to append."""
