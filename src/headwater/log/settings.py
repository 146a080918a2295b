"""Settings of the event log."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from headwater.settings import declare

if TYPE_CHECKING:
    from headwater.config import Config

BACKEND = declare(
    "log.backend",
    "str",
    "embedded",
    "Where accepted events are kept: embedded segment files (one machine).",
    choices=("embedded",),
)
SEGMENT_BYTES = declare(
    "log.segment_bytes",
    "bytes",
    "64MiB",
    "Size at which a partition rolls to a new segment file.",
    minimum=4096,
)
FSYNC = declare(
    "log.fsync",
    "bool",
    True,
    "fsync before acknowledging; turning it off trades crash safety for speed (tests only).",
)
RETENTION_HOURS = declare(
    "log.retention_hours",
    "float",
    168.0,
    "Delete segments older than this once every consumer has read past them (0: keep).",
    minimum=0,
)
RETENTION_BYTES = declare(
    "log.retention_bytes",
    "bytes",
    "20GiB",
    "Delete the oldest read segments while the log is larger than this (0: no cap).",
    minimum=0,
)


@dataclass(frozen=True, slots=True)
class LogSettings:
    """The log's resolved settings; `directory` is `<data_dir>/log`."""

    directory: Path
    segment_bytes: int = 64 * 1024 * 1024
    fsync: bool = True
    retention_hours: float = 168.0
    retention_bytes: int = 20 * 1024**3

    @classmethod
    def from_config(cls, config: Config) -> LogSettings:
        return cls(
            directory=config.data_dir / "log",
            segment_bytes=config["log.segment_bytes"],
            fsync=config["log.fsync"],
            retention_hours=config["log.retention_hours"],
            retention_bytes=config["log.retention_bytes"],
        )
