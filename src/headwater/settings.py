"""Every setting is declared once: its key, type, default and one line of help.

The config loader, the environment overrides, `headwater config` and `docs/configuration.md` all read
these declarations, so a setting cannot exist in one place and be missing in another (a test checks
the docs against them). Stages declare their own settings in `<stage>/settings.py`; importing
`headwater.config` imports every stage's declarations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["DECLARED", "Setting", "declare", "parse_bytes", "parse_value"]


@dataclass(frozen=True, slots=True)
class Setting:
    """One configurable value; `kind` is one of int, float, str, bool, or "bytes" for sizes like 4MiB."""

    key: str
    kind: str
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None

    @property
    def env_var(self) -> str:
        return "HEADWATER_" + self.key.replace(".", "_").upper()


DECLARED: dict[str, Setting] = {}


def declare(
    key: str,
    kind: str,
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
) -> Setting:
    """Register a setting; declaring the same key twice is a programming error, caught at import."""
    if key in DECLARED:
        raise RuntimeError(f"setting {key!r} is declared twice")
    if kind not in {"int", "float", "str", "bool", "bytes"}:
        raise RuntimeError(f"setting {key!r} has unknown kind {kind!r}")
    setting = Setting(key, kind, default, help, choices, minimum, maximum)
    DECLARED[key] = setting
    return setting


_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_bytes(value: object) -> int:
    """Accept 4194304, "4194304", "4MiB" or "4 MB"; sizes are written both ways in operators' files."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 4194304 or 4MiB")
    if isinstance(value, int):
        return value
    match = _SIZE.match(str(value))
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"expected a size such as 4194304 or 4MiB, got {value!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_value(setting: Setting, raw: object) -> Any:
    """Turn a YAML value or an environment string into the setting's type, or raise ValueError saying why."""
    value: Any
    if setting.kind == "bool":
        if isinstance(raw, bool):
            value = raw
        elif str(raw).strip().lower() in _TRUE:
            value = True
        elif str(raw).strip().lower() in _FALSE:
            value = False
        else:
            raise ValueError(f"expected true or false, got {raw!r}")
    elif setting.kind == "int":
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError(f"expected a whole number, got {raw!r}")
        try:
            value = int(raw)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            raise ValueError(f"expected a whole number, got {raw!r}") from None
    elif setting.kind == "float":
        if isinstance(raw, bool):
            raise ValueError(f"expected a number, got {raw!r}")
        try:
            value = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"expected a number, got {raw!r}") from None
    elif setting.kind == "bytes":
        value = parse_bytes(raw)
    else:
        if raw is None or isinstance(raw, dict | list):
            raise ValueError(f"expected text, got {raw!r}")
        value = str(raw)
    if setting.choices is not None and value not in setting.choices:
        raise ValueError(f"expected one of {', '.join(setting.choices)}, got {raw!r}")
    if setting.minimum is not None and value < setting.minimum:
        raise ValueError(f"must be at least {setting.minimum:g}, got {raw!r}")
    if setting.maximum is not None and value > setting.maximum:
        raise ValueError(f"must be at most {setting.maximum:g}, got {raw!r}")
    return value
