"""Rows of one load, reconciled with the warehouse schema and built into one Arrow table per table.

The warehouse's existing column type is authoritative: a new column takes the first type seen in
the batch, and a cell whose type cannot be converted to its column's type is loaded as NULL with
a row in `rudder_discards` saying why, as RudderStack's loader does. Columns are collected as
Python lists and converted once per column, which keeps the per-cell cost to a dict lookup.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from headwater.warehouse.model import AbstractType, Row
from headwater.warehouse.values import discard_text, json_text, reconcile

__all__ = ["DISCARDS_COLUMNS", "DISCARDS_TABLE", "USERS_TABLE", "BatchBuilder", "BuiltBatch", "arrow_type"]

DISCARDS_TABLE = "rudder_discards"
USERS_TABLE = "users"
DISCARDS_COLUMNS: dict[str, AbstractType] = {
    "column_name": "string",
    "column_value": "string",
    "reason": "string",
    "received_at": "datetime",
    "row_id": "string",
    "table_name": "string",
    "uuid_ts": "datetime",
}

_ARROW_TYPES: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "boolean": pa.bool_(),
    "string": pa.string(),
    "datetime": pa.timestamp("ms", tz="UTC"),
    "json": pa.string(),
}


def arrow_type(kind: AbstractType) -> pa.DataType:
    """The Arrow type a column of this abstract type is staged as (json travels as its text)."""
    return _ARROW_TYPES[kind]


def _text(value: Any) -> Any:
    """Lists and objects travel as JSON text; RudderStack writes arrays into load files the same way."""
    if isinstance(value, list | dict):
        return json_text(value)
    return value


@dataclass
class _TableRows:
    """One table's cells, column by column; a column first seen at row n starts with n NULLs."""

    types: dict[str, AbstractType] = field(default_factory=dict)
    columns: dict[str, list[Any]] = field(default_factory=dict)
    count: int = 0

    def append(self, values: dict[str, Any]) -> None:
        count = self.count
        columns = self.columns
        for column, value in values.items():
            cells = columns.get(column)
            if cells is None:
                cells = columns[column] = [None] * count
            elif len(cells) < count:
                cells.extend([None] * (count - len(cells)))
            cells.append(value)
        self.count = count + 1

    def padded(self) -> dict[str, list[Any]]:
        for cells in self.columns.values():
            if len(cells) < self.count:
                cells.extend([None] * (self.count - len(cells)))
        return self.columns


@dataclass
class BuiltBatch:
    """What one load writes: per-table Arrow data and the DDL it needs first."""

    tables: dict[str, pa.Table]
    new_tables: dict[str, dict[str, AbstractType]]
    new_columns: dict[str, dict[str, AbstractType]]
    discards: int

    @property
    def rows(self) -> int:
        return sum(table.num_rows for table in self.tables.values())

    def schema_after(self) -> dict[str, dict[str, AbstractType]]:
        """The tables and columns this batch creates, to merge into the cached schema once committed."""
        changes: dict[str, dict[str, AbstractType]] = {t: dict(c) for t, c in self.new_tables.items()}
        for table, columns in self.new_columns.items():
            changes.setdefault(table, {}).update(columns)
        return changes


class BatchBuilder:
    """Collects rows against a snapshot of the warehouse schema; `build` yields the batch."""

    def __init__(self, schema: Mapping[str, Mapping[str, AbstractType]], uuid_ts: str) -> None:
        self._schema = schema
        self._uuid_ts = uuid_ts
        self._tables: dict[str, _TableRows] = {}
        self._discards: list[dict[str, Any]] = []

    def _column_types(self, table: str) -> _TableRows:
        entry = self._tables.get(table)
        if entry is None:
            entry = _TableRows(types=dict(self._schema.get(table, {})))
            entry.types.setdefault("uuid_ts", "datetime")
            self._tables[table] = entry
        return entry

    def add(self, rows: list[Row]) -> None:
        """Add one event's rows; conflicts become discards now so `build` only converts columns."""
        for row in rows:
            entry = self._column_types(row.table)
            types = entry.types
            values = row.values
            for column, kind in row.types.items():
                known = types.get(column)
                if known is None:
                    types[column] = kind
                elif known != kind:
                    original = values[column]
                    value, reason = reconcile(known, kind, original)
                    values[column] = value if reason is None else None
                    if reason is not None:
                        self._discard(row.table, column, original, values, reason)
            values["uuid_ts"] = self._uuid_ts
            entry.append(values)

    def _discard(self, table: str, column: str, original: Any, values: dict[str, Any], reason: str) -> None:
        """One `rudder_discards` row per refused cell; RudderStack skips rows lacking id or received_at."""
        row_id = values.get("id")
        received_at = values.get("received_at")
        if row_id is None or received_at is None:
            return
        self._discards.append(
            {
                "table_name": table,
                "row_id": str(row_id),
                "column_name": column,
                "column_value": discard_text(original),
                "received_at": received_at,
                "uuid_ts": self._uuid_ts,
                "reason": reason,
            }
        )

    def build(self) -> BuiltBatch:
        tables: dict[str, pa.Table] = {}
        new_tables: dict[str, dict[str, AbstractType]] = {}
        new_columns: dict[str, dict[str, AbstractType]] = {}
        if self._discards:
            entry = self._column_types(DISCARDS_TABLE)
            for column, kind in DISCARDS_COLUMNS.items():
                entry.types.setdefault(column, kind)
            for discard in self._discards:
                entry.append(discard)
        for table, entry in self._tables.items():
            if not entry.count:
                continue
            existing = self._schema.get(table)
            cells = entry.padded()
            used = set(cells)
            if existing is None:
                new_tables[table] = {c: entry.types[c] for c in sorted(used)}
            else:
                missing = {c: entry.types[c] for c in sorted(used) if c not in existing}
                if missing:
                    new_columns[table] = missing
            tables[table] = _to_arrow(cells, {c: entry.types[c] for c in sorted(used)})
        return BuiltBatch(tables, new_tables, new_columns, len(self._discards))


def _to_arrow(cells: Mapping[str, list[Any]], columns: Mapping[str, AbstractType]) -> pa.Table:
    arrays = []
    for column, kind in columns.items():
        values = cells[column]
        if kind == "datetime":
            array = pa.array(values, pa.string()).cast(_ARROW_TYPES["datetime"])
        elif kind in ("string", "json"):
            try:
                array = pa.array(values, pa.string())
            except (pa.ArrowTypeError, pa.ArrowInvalid):
                # Arrays (and objects in json columns) travel as their JSON text; rare enough to
                # convert only when Arrow finds a non-string cell.
                array = pa.array([_text(value) for value in values], pa.string())
        else:
            array = pa.array(values, _ARROW_TYPES[kind])
        arrays.append(array)
    return pa.Table.from_arrays(arrays, names=list(columns))
