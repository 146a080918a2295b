"""The docs that are generated from code must match the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater.reference import BLOCKS, replace_block
from headwater.settings import DECLARED

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("filename", sorted(BLOCKS))
def test_generated_blocks_are_current(filename: str) -> None:
    name, render = BLOCKS[filename]
    text = (DOCS / filename).read_text()
    assert replace_block(text, name, render()) == text, (
        f"run: python -m headwater.reference (docs/{filename})"
    )


def test_every_setting_is_documented_with_its_env_var() -> None:
    text = (DOCS / "configuration.md").read_text()
    for setting in DECLARED.values():
        assert f"`{setting.key}`" in text and f"`{setting.env_var}`" in text, setting.key
