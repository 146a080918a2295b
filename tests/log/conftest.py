"""Fixtures for the event log's tests: a fresh log directory and logs that are always closed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from headwater.log import EmbeddedLog, LogSettings, open_log


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "log"


@pytest.fixture
def make_log(log_dir: Path) -> Iterator[Callable[..., EmbeddedLog]]:
    """Open logs on one directory (as several processes would); every one is closed after the test."""
    opened: list[EmbeddedLog] = []

    def make(**overrides: object) -> EmbeddedLog:
        log = open_log(LogSettings(directory=log_dir, **overrides))  # type: ignore[arg-type]
        opened.append(log)
        return log

    yield make
    for log in opened:
        log.close()
