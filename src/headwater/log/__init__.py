"""The event log: collect appends accepted events here; every downstream stage reads from it.

`open_log(settings)` picks the backend (only the embedded segment-file log today); callers use the
`EventLog`, `LogWriter` and `Consumer` interfaces from `headwater.log.base`. The on-disk format,
recovery and retention rules are in docs/log-format.md.
"""

from __future__ import annotations

from headwater.log.base import Consumer, EventLog, LogWriter, Record, RetentionReport
from headwater.log.consumer import EmbeddedConsumer
from headwater.log.embedded import EmbeddedLog
from headwater.log.errors import (
    ConsumerNameError,
    CorruptRecordError,
    InvalidEntryError,
    LogClosedError,
    LogError,
    LogWriteError,
    PartitionBusyError,
)
from headwater.log.settings import LogSettings
from headwater.log.writer import PartitionWriter, WriterStats

__all__ = [
    "Consumer",
    "ConsumerNameError",
    "CorruptRecordError",
    "EmbeddedConsumer",
    "EmbeddedLog",
    "EventLog",
    "InvalidEntryError",
    "LogClosedError",
    "LogError",
    "LogSettings",
    "LogWriteError",
    "LogWriter",
    "PartitionBusyError",
    "PartitionWriter",
    "Record",
    "RetentionReport",
    "WriterStats",
    "open_log",
]


def open_log(settings: LogSettings) -> EmbeddedLog:
    """The log the settings name; `log.backend` has one choice today, so this is the embedded log."""
    return EmbeddedLog(settings)
