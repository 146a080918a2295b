"""Sources: who may send events, with which write key.

The registry is read on every request, so a lookup is one dict access; a reload swaps the whole map
at once so a request never sees half of an update. Write keys are secrets: `repr` hides them and
nothing here logs them.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from headwater.control.errors import SourceConfigError

TimestampMode = Literal["auto", "rudder", "segment"]
Validation = Literal["strict", "lenient"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SOURCE_KEYS = {"name", "write_key", "enabled", "id", "timestamp_mode", "validation"}


@dataclass(frozen=True, slots=True)
class Source:
    """One event source.

    `timestamp_mode` picks how the event time is derived (see docs/ingest-api.md): `rudder` keeps an
    explicit `timestamp` and corrects `originalTimestamp` for clock skew; `segment` treats a client
    `timestamp` as the original time and always corrects it; `auto` applies the segment rule only to
    client SDKs (web, mobile). `validation: lenient` stores the good events of a request, sets aside
    the bad ones and answers 200, for mobile SDKs that resend a refused batch forever.
    """

    name: str
    write_key: str = field(repr=False)
    enabled: bool = True
    id: str = ""
    timestamp_mode: TimestampMode = "auto"
    validation: Validation = "strict"

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", self.name)


class SourceRegistry:
    """Write key → source, swapped whole on reload."""

    def __init__(self, sources: Sequence[Source] = ()) -> None:
        self._by_key: dict[str, Source] = {}
        self.replace(sources)

    def replace(self, sources: Sequence[Source]) -> None:
        """Install a new set of sources; readers see either the old map or the new one."""
        self._by_key = {source.write_key: source for source in sources}

    def by_write_key(self, write_key: str) -> Source | None:
        return self._by_key.get(write_key)

    def __iter__(self) -> Iterator[Source]:
        return iter(list(self._by_key.values()))

    def __len__(self) -> int:
        return len(self._by_key)


def new_write_key() -> str:
    """A 27-character key, the length and alphabet RudderStack's keys have, so SDK validators accept it."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(27))


def parse_sources(raw: Any) -> list[Source]:
    """Validate the `sources:` list of the config file; raise SourceConfigError naming the bad key."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise SourceConfigError("sources", f"expected a list of sources, got {type(raw).__name__}")
    sources: list[Source] = []
    names: set[str] = set()
    keys: set[str] = set()
    ids: set[str] = set()
    for index, entry in enumerate(raw):
        where = f"sources[{index}]"
        if not isinstance(entry, dict):
            raise SourceConfigError(where, "expected a mapping with name, write_key and enabled")
        unknown = sorted(set(entry) - _SOURCE_KEYS)
        if unknown:
            raise SourceConfigError(
                f"{where}.{unknown[0]}", f"unknown key; allowed: {', '.join(sorted(_SOURCE_KEYS))}"
            )
        name = entry.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise SourceConfigError(f"{where}.name", "required: letters, digits, '_', '-' or '.', at most 64")
        write_key = entry.get("write_key")
        if isinstance(write_key, int) and not isinstance(write_key, bool):
            write_key = str(write_key)
        if not isinstance(write_key, str) or not write_key.strip() or write_key != write_key.strip():
            raise SourceConfigError(
                f"{where}.write_key", "required: a non-empty string without surrounding spaces"
            )
        if ":" in write_key:
            raise SourceConfigError(
                f"{where}.write_key", "must not contain ':' (it travels as a Basic-auth user)"
            )
        enabled = entry.get("enabled", True)
        if not isinstance(enabled, bool):
            raise SourceConfigError(f"{where}.enabled", f"expected true or false, got {enabled!r}")
        source_id = str(entry.get("id") or name)
        mode = entry.get("timestamp_mode", "auto")
        if mode not in ("auto", "rudder", "segment"):
            raise SourceConfigError(
                f"{where}.timestamp_mode", f"expected auto, rudder or segment, got {mode!r}"
            )
        validation = entry.get("validation", "strict")
        if validation not in ("strict", "lenient"):
            raise SourceConfigError(f"{where}.validation", f"expected strict or lenient, got {validation!r}")
        if name in names:
            raise SourceConfigError(f"{where}.name", f"duplicate source name {name!r}")
        if write_key in keys:
            raise SourceConfigError(
                f"{where}.write_key", f"the same write key is used by two sources ({name!r})"
            )
        if source_id in ids:
            raise SourceConfigError(f"{where}.id", f"duplicate source id {source_id!r}")
        names.add(name)
        keys.add(write_key)
        ids.add(source_id)
        sources.append(Source(name, write_key, enabled, source_id, mode, validation))
    return sources


def ensure_demo_source(data_dir: Path) -> Source:
    """With no configured source, `up` makes one and keeps its key in the data dir for the next start."""
    path = data_dir / "control" / "demo-source.yaml"
    if path.exists():
        loaded = yaml.safe_load(path.read_text())
        return parse_sources([loaded])[0]
    source = Source(name="demo", write_key=new_write_key())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    body = yaml.safe_dump({"name": source.name, "write_key": source.write_key, "enabled": True})
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, body.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return source


def effective_sources(configured: Sequence[Source], data_dir: Path) -> list[Source]:
    """The configured sources, or the persisted demo source when none is configured (so `up` works bare)."""
    if configured:
        return list(configured)
    return [ensure_demo_source(data_dir)]
