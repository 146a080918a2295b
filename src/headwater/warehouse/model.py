"""The loader's vocabulary: abstract column types and the rows a transformed event yields.

Types are RudderStack's abstract ones (`int`, `float`, `boolean`, `string`, `datetime`, `json`);
each engine maps them to its own column types, so the transform never names an engine's type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = ["ABSTRACT_TYPES", "AbstractType", "Row", "SourceInfo"]

AbstractType = Literal["int", "float", "boolean", "string", "datetime", "json"]
ABSTRACT_TYPES: Final[tuple[AbstractType, ...]] = ("int", "float", "boolean", "string", "datetime", "json")


@dataclass(slots=True)
class Row:
    """One warehouse row: its table, its cell values and the abstract type inferred for each cell.

    Values are Python scalars as inferred: `int`, `float`, `bool`, `str`; a `datetime` cell holds
    the normalised RFC 3339 string (`2024-01-02T00:00:00.000Z`); an array or `json` cell holds the
    decoded JSON value (serialised to text when the column is built).
    """

    table: str
    values: dict[str, Any]
    types: dict[str, AbstractType]


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What the transform injects into `context` (RudderStack's `context.sourceId` and friends)."""

    source_id: str
    source_type: str = "HTTP"
    destination_id: str = "warehouse"
    destination_type: str = "DUCKDB"
    extra: dict[str, Any] = field(default_factory=dict)
