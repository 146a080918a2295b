"""Reading the config file: YAML, then `HEADWATER_*` environment overrides, checked against the declarations.

The file is found at `--config FILE`, else `$HEADWATER_CONFIG`, else `./headwater.yaml`; none at all
means embedded defaults. Errors name the file, the key and what is wrong, because an operator reads
them at 3 a.m.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# Importing the stages' settings modules registers their declarations.
import headwater.analytics.settings
import headwater.collect.settings
import headwater.core_settings
import headwater.log.settings
import headwater.models.settings
import headwater.warehouse.settings  # noqa: F401
from headwater.control import Source, SourceConfigError, parse_sources
from headwater.errors import HeadwaterError
from headwater.settings import DECLARED, Setting, parse_value

__all__ = ["Config", "ConfigError", "find_config_file", "load_config"]

DEFAULT_FILE = "headwater.yaml"
# Keys whose values are structures owned by a stage rather than declared scalars.
_STRUCTURED = {"sources"}


class ConfigError(HeadwaterError):
    """The config file or an override is wrong; terminal until the file is fixed."""

    def __init__(self, where: str, key: str, problem: str) -> None:
        super().__init__(f"{where}: {key}: {problem}")
        self.where = where
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class Config:
    """Resolved settings: every declared key has a typed value, and the sources are validated."""

    path: Path | None
    values: Mapping[str, Any]
    sources: tuple[Source, ...] = ()
    origins: Mapping[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @property
    def data_dir(self) -> Path:
        raw = Path(self.values["data_dir"]).expanduser()
        if not raw.is_absolute() and self.origins.get("data_dir") == "file" and self.path is not None:
            raw = self.path.parent / raw
        return raw.absolute()


def find_config_file(explicit: str | os.PathLike[str] | None) -> Path | None:
    """The file to read: explicit, else $HEADWATER_CONFIG, else ./headwater.yaml if it exists."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("HEADWATER_CONFIG")
    if env:
        return Path(env)
    default = Path(DEFAULT_FILE)
    return default if default.exists() else None


def _flatten(node: Mapping[str, Any], prefix: str, out: dict[str, Any], where: str) -> None:
    for key, value in node.items():
        if not isinstance(key, str):
            raise ConfigError(where, f"{prefix}{key!r}", "keys must be text")
        dotted = prefix + key
        if dotted in _STRUCTURED or dotted in DECLARED:
            out[dotted] = value
        elif isinstance(value, dict):
            _flatten(value, dotted + ".", out, where)
        else:
            known = list(DECLARED) + sorted(_STRUCTURED)
            close = difflib.get_close_matches(dotted, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(where, dotted, f"unknown setting{hint}")


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(str(path), "(file)", "no such config file") from None
    except OSError as exc:
        raise ConfigError(str(path), "(file)", f"cannot read: {exc.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark is not None else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(path), line, f"not valid YAML: {problem}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(str(path), "(top level)", "expected a mapping of settings")
    flat: dict[str, Any] = {}
    _flatten(document, "", flat, str(path))
    return flat


def load_config(
    explicit: str | os.PathLike[str] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Resolve every declared setting: default < file < environment < explicit overrides (CLI flags)."""
    environ = os.environ if environ is None else environ
    path = find_config_file(explicit)
    from_file = _read_file(path) if path is not None else {}
    where = str(path) if path is not None else "(defaults)"
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for key, setting in DECLARED.items():
        values[key] = parse_value(setting, setting.default)
        origins[key] = "default"
        if key in from_file:
            values[key] = _parse(setting, from_file[key], where, key)
            origins[key] = "file"
        if setting.env_var in environ:
            values[key] = _parse(setting, environ[setting.env_var], f"${setting.env_var}", key)
            origins[key] = "env"
        if overrides and key in overrides and overrides[key] is not None:
            values[key] = _parse(setting, overrides[key], "(command line)", key)
            origins[key] = "flag"
    try:
        sources = parse_sources(from_file.get("sources"))
    except SourceConfigError as exc:
        raise ConfigError(where, exc.key, exc.problem) from None
    return Config(
        path=path.absolute() if path else None, values=values, sources=tuple(sources), origins=origins
    )


def load_sources(path: Path) -> list[Source]:
    """Re-read only the sources of a file, for a hot reload; raises ConfigError if the file is now wrong."""
    from_file = _read_file(path)
    try:
        return parse_sources(from_file.get("sources"))
    except SourceConfigError as exc:
        raise ConfigError(str(path), exc.key, exc.problem) from None


def _parse(setting: Setting, raw: Any, where: str, key: str) -> Any:
    try:
        return parse_value(setting, raw)
    except ValueError as exc:
        raise ConfigError(where, key, str(exc)) from None
