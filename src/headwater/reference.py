"""The generated parts of the docs: the settings table and the CLI reference.

`python -m headwater.reference` rewrites them in docs/; a test fails when the committed docs differ
from what the declarations and the click commands say, so the docs cannot drift.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

import headwater.config  # noqa: F401  (registers every stage's settings)
from headwater.cli import main
from headwater.settings import DECLARED

BEGIN = "<!-- generated: {name} -->"
END = "<!-- end generated: {name} -->"


def render_settings() -> str:
    rows = ["| key | env var | type | default | what it does |", "| --- | --- | --- | --- | --- |"]
    # Sorted, so the table does not depend on which stage happened to be imported first.
    for setting in sorted(DECLARED.values(), key=lambda each: each.key):
        kind = setting.kind + (f" ({' | '.join(setting.choices)})" if setting.choices else "")
        default = repr(setting.default) if setting.kind == "str" else str(setting.default).lower()
        rows.append(f"| `{setting.key}` | `{setting.env_var}` | {kind} | `{default}` | {setting.help} |")
    return "\n".join(rows)


def _commands(group: click.Group, prefix: str) -> list[tuple[str, click.Command]]:
    out: list[tuple[str, click.Command]] = []
    for name in sorted(group.commands):
        command = group.commands[name]
        out.append((f"{prefix} {name}", command))
        if isinstance(command, click.Group):
            out.extend(_commands(command, f"{prefix} {name}"))
    return out


def render_cli() -> str:
    parts = []
    for path, command in [("headwater", main), *_commands(main, "headwater")]:
        with click.Context(command, info_name=path) as ctx:
            text = command.get_help(ctx)
        parts.append(f"### `{path}`\n\n```\n{text}\n```")
    return "\n\n".join(parts)


BLOCKS = {"configuration.md": ("settings", render_settings), "cli.md": ("cli", render_cli)}


def replace_block(text: str, name: str, body: str) -> str:
    begin, end = BEGIN.format(name=name), END.format(name=name)
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"the markers {begin} … {end} are missing")
    return pattern.sub(lambda _: f"{begin}\n{body}\n{end}", text)


def write(docs: Path) -> list[Path]:
    changed = []
    for filename, (name, render) in BLOCKS.items():
        path = docs / filename
        old = path.read_text()
        new = replace_block(old, name, render())
        if new != old:
            path.write_text(new)
            changed.append(path)
    return changed


if __name__ == "__main__":
    for path in write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")):
        print(f"updated {path}")
