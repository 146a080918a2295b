"""How warehouse values are written as JSON, for the local API and `headwater query --format json`."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson

__all__ = ["encode_cell", "result_json"]


def encode_cell(value: object) -> Any:
    """JSON form of a cell: timestamps as ISO 8601, decimals as numbers, bytes as text."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, UUID):
        return str(value)
    return str(value)


def result_json(columns: list[str], rows: list[tuple[Any, ...]]) -> bytes:
    return orjson.dumps({"columns": columns, "rows": rows}, default=encode_cell)
