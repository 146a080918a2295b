"""Building the API's SQL safely: values are bound parameters, names are quoted identifiers.

Every statement is written in PostgreSQL's dialect with `:name` placeholders and rendered for the
engine by `Engine.sql`; what a person typed only ever reaches the database as a bound value, or, for
a property name, as a quoted identifier of a column that was first found in the warehouse's own
catalogue. Keywords that vary by request (a period unit, a sort order) come from fixed tables in
this package, never from the request text.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa

from headwater.analytics.errors import ApiError
from headwater.warehouse.engines.base import Engine, QueryResult
from headwater.warehouse.engines.render import QueryError, quote_ident
from headwater.warehouse.errors import WarehouseError

__all__ = ["Params", "Tables", "day_start", "person_ids", "run", "run_arrow"]


class Params:
    """Collects bound values while a statement is assembled; `bind` returns the placeholder."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f":{name}"

    def bind_list(self, values: Iterable[Any]) -> str:
        """Placeholders for an IN list (one per value, so both drivers bind them the same way)."""
        return ", ".join(self.bind(value) for value in values)

    def ts(self, value: datetime) -> str:
        return f"CAST({self.bind(value)} AS TIMESTAMPTZ)"


@dataclass
class Tables:
    """Where the model tables and the raw RudderStack tables live, plus a short-lived column catalogue."""

    engine: Engine
    models_schema: str
    raw_schema: str
    catalogue_ttl_seconds: float = 30.0
    _catalogue: tuple[float, dict[str, dict[str, str]]] | None = field(default=None, repr=False)

    def model(self, table: str) -> str:
        return f"{quote_ident(self.models_schema)}.{quote_ident(table)}"

    def raw(self, table: str) -> str:
        return f"{quote_ident(self.raw_schema)}.{quote_ident(table)}"

    def raw_columns(self) -> dict[str, dict[str, str]]:
        """Tables of the raw schema and their columns' types; refreshed at most every few seconds."""
        cached = self._catalogue
        if cached is not None and time.monotonic() - cached[0] < self.catalogue_ttl_seconds:
            return cached[1]
        params = Params()
        result = run(
            self.engine,
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = {params.bind(self.raw_schema)}",
            params,
        )
        catalogue: dict[str, dict[str, str]] = {}
        for table, column, data_type in result.rows:
            catalogue.setdefault(str(table), {})[str(column)] = str(data_type).lower()
        self._catalogue = (time.monotonic(), catalogue)
        return catalogue


def run(engine: Engine, statement: str, params: Params | Mapping[str, Any] | None = None) -> QueryResult:
    """Render and run one read; a warehouse that cannot answer (tables not built yet) is a 503."""
    values = params.values if isinstance(params, Params) else dict(params or {})
    try:
        return engine.query(engine.sql(statement), params=values)
    except (QueryError, WarehouseError) as error:
        raise ApiError(f"the warehouse could not answer: {error}", None, status=503) from error


def run_arrow(engine: Engine, statement: str, params: Params) -> pa.Table:
    """`run`, with the rows as one Arrow table (for reports finished in numpy)."""
    try:
        return engine.query_arrow(engine.sql(statement), params=params.values)
    except (QueryError, WarehouseError) as error:
        raise ApiError(f"the warehouse could not answer: {error}", None, status=503) from error


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of `day`: every date in the API is a UTC calendar day."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def range_bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    """[from 00:00, to + 1 day 00:00) in UTC: both dates are inclusive."""
    return day_start(date_from), day_start(date_to) + timedelta(days=1)


def person_ids(
    tables: Tables, keys: Iterable[int], date_from: date | None = None, date_to: date | None = None
) -> dict[int, str]:
    """The person ids behind `person_key` values (reports count persons by the integer key).

    `user_profiles` holds one row per person and answers most; a person it lacks (events after the
    profiles' as-of date) is looked up in the events of the report's range.
    """
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    params = Params()
    found = {
        int(key): str(person)
        for key, person in run(
            tables.engine,
            f"SELECT person_key, person_id FROM {tables.model('user_profiles')} "
            f"WHERE person_key = ANY({params.bind(wanted)})",
            params,
        ).rows
    }
    missing = [key for key in wanted if key not in found]
    if missing:
        params = Params()
        scope = [f"person_key = ANY({params.bind(missing)})"]
        if date_from is not None and date_to is not None:
            start, end = range_bounds(date_from, date_to)
            scope += [f"ts >= {params.ts(start)}", f"ts < {params.ts(end)}"]
        rows = run(
            tables.engine,
            f"SELECT DISTINCT person_key, person_id FROM {tables.model('events_sessionized')} "
            f"WHERE {' AND '.join(scope)}",
            params,
        ).rows
        found.update({int(key): str(person) for key, person in rows})
    return found
