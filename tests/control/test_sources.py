"""Sources: the registry the data plane consults on every request, and the demo source of a bare `up`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from headwater.control import (
    Source,
    SourceConfigError,
    SourceRegistry,
    effective_sources,
    ensure_demo_source,
    new_write_key,
    parse_sources,
)


def test_registry_lookup_and_swap() -> None:
    registry = SourceRegistry([Source("web", "k1"), Source("app", "k2", enabled=False)])
    assert registry.by_write_key("k1").name == "web"  # type: ignore[union-attr]
    assert registry.by_write_key("k2").enabled is False  # type: ignore[union-attr]
    assert registry.by_write_key("nope") is None
    registry.replace([Source("web", "k3")])
    assert registry.by_write_key("k1") is None
    assert registry.by_write_key("k3").name == "web"  # type: ignore[union-attr]
    assert len(registry) == 1


def test_write_key_never_in_repr() -> None:
    assert "sekrit-key" not in repr(Source("web", "sekrit-key"))


def test_new_write_keys_look_like_rudderstack_keys() -> None:
    keys = {new_write_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(len(k) == 27 and k.isalnum() for k in keys)


def test_demo_source_is_kept_for_the_next_start(tmp_path: Path) -> None:
    first = ensure_demo_source(tmp_path)
    again = ensure_demo_source(tmp_path)
    assert first.write_key == again.write_key
    stored = yaml.safe_load((tmp_path / "control" / "demo-source.yaml").read_text())
    assert stored["write_key"] == first.write_key
    assert (tmp_path / "control" / "demo-source.yaml").stat().st_mode & 0o077 == 0


def test_configured_sources_win_over_the_demo(tmp_path: Path) -> None:
    configured = [Source("web", "k1")]
    assert effective_sources(configured, tmp_path) == configured
    assert not (tmp_path / "control").exists()
    assert effective_sources([], tmp_path)[0].name == "demo"


def test_numeric_write_key_is_text() -> None:
    assert parse_sources([{"name": "a", "write_key": 12345}])[0].write_key == "12345"


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "a b", "write_key": "k"},
        {"name": "a", "write_key": " k"},
        {"name": "a", "write_key": "k:x"},
        {"name": "a", "write_key": "k", "timestamp_mode": "local"},
        {"name": "a", "write_key": "k", "validation": "loose"},
    ],
)
def test_bad_entries_are_refused(entry: dict[str, object]) -> None:
    with pytest.raises(SourceConfigError):
        parse_sources([entry])
