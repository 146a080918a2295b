"""Committed consumer positions: one small JSON file per consumer, replaced atomically.

    <log dir>/consumers/<name>.json
    {"consumer": name, "positions": {"<partition>": next_offset}, "committed_at_ms": t}

A commit writes a temporary file, fsyncs it, renames it over the old one and fsyncs the directory, so
after a crash the file is either the old commit or the new one, never a mix. A file's existence is
what registers a consumer: retention waits for every registered consumer.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import orjson

from headwater.log.errors import ConsumerNameError, LogError
from headwater.log.segment import fsync_dir

__all__ = ["CONSUMERS_DIR", "check_name", "consumer_names", "load_offsets", "store_offsets"]

CONSUMERS_DIR: Final = "consumers"
_NAME_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SUFFIX: Final = ".json"


def check_name(name: str) -> str:
    """Names become file names, so they are limited to letters, digits, '.', '_' and '-'."""
    if not _NAME_RE.match(name):
        raise ConsumerNameError(
            f"consumer name {name!r} must be 1-128 letters, digits, '.', '_' or '-' "
            "and start with a letter or digit"
        )
    return name


def _path(root: Path, name: str) -> Path:
    return root / CONSUMERS_DIR / f"{name}{_SUFFIX}"


def load_offsets(root: Path, name: str) -> dict[int, int]:
    """The committed next-offset per partition; empty for a consumer that never committed."""
    path = _path(root, name)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    try:
        document = orjson.loads(raw)
        return {int(partition): int(offset) for partition, offset in document["positions"].items()}
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise LogError(
            f"{path}: unreadable committed offsets ({exc}); restore or delete the file "
            "(deleting it restarts the consumer from the log's start)"
        ) from None


def store_offsets(root: Path, name: str, positions: Mapping[int, int], *, fsync: bool = True) -> None:
    """Replace the consumer's committed offsets durably (tmp file, fsync, rename, fsync dir)."""
    directory = root / CONSUMERS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    document = {
        "consumer": name,
        "positions": {str(partition): int(offset) for partition, offset in sorted(positions.items())},
        "committed_at_ms": time.time_ns() // 1_000_000,
    }
    tmp = directory / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, orjson.dumps(document, option=orjson.OPT_INDENT_2))
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, _path(root, name))
    if fsync:
        fsync_dir(directory)


def consumer_names(root: Path) -> list[str]:
    try:
        names = os.listdir(root / CONSUMERS_DIR)
    except FileNotFoundError:
        return []
    return sorted(n[: -len(_SUFFIX)] for n in names if n.endswith(_SUFFIX) and not n.startswith("."))
