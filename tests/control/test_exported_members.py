"""The control stage's public surface is exactly what `__all__` names."""

from __future__ import annotations

import headwater.control


def test_exported_members() -> None:
    assert sorted(headwater.control.__all__) == [
        "ControlError",
        "Source",
        "SourceConfigError",
        "SourceRegistry",
        "effective_sources",
        "ensure_demo_source",
        "new_write_key",
        "parse_sources",
    ]
    for name in headwater.control.__all__:
        assert getattr(headwater.control, name) is not None
