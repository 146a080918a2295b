"""Turning a request's filters and event specs into SQL conditions with bound values.

Property filters read the raw RudderStack tables: a track's properties are columns of its per-event
table (`order_completed`), a page's of `pages`, a screen's of `screens`. An event matches when its
row (joined on `id` = `message_id`) satisfies every condition; tables that lack the column cannot
match (except for `is_not_set`). The property name is looked up in the warehouse's catalogue first
and then written only as a quoted identifier, and the value is bound after being converted to the
column's type, so a mistyped value is a 400 naming the field instead of a database error.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from headwater.analytics.errors import ApiError
from headwater.analytics.requests import EventSpec, PropertyFilter, RangeRequest
from headwater.analytics.sql import Params, Tables
from headwater.warehouse.engines.render import quote_ident

__all__ = ["event_condition", "property_condition", "scope_conditions", "session_conditions"]

# Raw tables that are not one event type's own rows: `tracks` repeats every per-event table's rows
# without their properties, `users` is keyed by user id, the rest are bookkeeping.
_NOT_EVENT_TABLES = frozenset({"tracks", "users", "rudder_discards"})
_NUMERIC = ("int", "double", "float", "real", "numeric", "decimal", "hugeint")
_TEXT = ("char", "text", "string", "json", "uuid")


def _kind(data_type: str) -> str:
    if data_type.startswith("timestamp") or data_type == "date":
        return "time"
    if data_type == "boolean":
        return "boolean"
    if any(word in data_type for word in _NUMERIC) and "interval" not in data_type:
        return "number"
    if any(word in data_type for word in _TEXT):
        return "text"
    return "other"


def _coerce(value: Any, kind: str, field: str) -> Any:
    """The bound value in the column's type; a value that cannot be one is the request's fault."""
    if kind == "number":
        if isinstance(value, bool):
            raise ApiError("a number is expected for this property", field)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ApiError("a number is expected for this property", field) from None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "false"):
            return text == "true"
        raise ApiError("true or false is expected for this property", field)
    if kind == "time":
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            raise ApiError("an ISO 8601 time is expected for this property", field) from None
        return parsed
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _predicate(column: str, kind: str, item: PropertyFilter, params: Params, field: str) -> str:
    ident = quote_ident(column)
    op = item.operator
    if op == "is_set":
        return f"{ident} IS NOT NULL"
    if op == "is_not_set":
        return f"{ident} IS NULL"
    if op in ("contains", "not_contains"):
        text = params.bind(str(item.value).lower())
        found = f"strpos(lower(CAST({ident} AS TEXT)), {text}) > 0"
        return found if op == "contains" else f"({ident} IS NULL OR NOT {found})"
    values: list[Any] = list(item.value) if isinstance(item.value, list) else [item.value]
    if kind in ("text", "other"):
        bound = [params.bind(_coerce(v, "text", f"{field}.value")) for v in values]
        target = f"CAST({ident} AS TEXT)"
    else:
        bound = [params.bind(_coerce(v, kind, f"{field}.value")) for v in values]
        target = ident
    if op == "eq":
        return f"{target} IN ({', '.join(bound)})"
    if op == "neq":
        return f"({target} IS NULL OR {target} NOT IN ({', '.join(bound)}))"
    symbol = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
    if len(bound) != 1:
        raise ApiError("comparison operators take one value", f"{field}.value")
    if kind in ("text", "other"):
        raise ApiError(f"operator {op} needs a numeric or time property", f"{field}.operator")
    return f"{target} {symbol} {bound[0]}"


def property_condition(
    filters: Sequence[PropertyFilter],
    tables: Tables,
    params: Params,
    field: str,
    alias: str = "e",
    column: str = "message_id",
) -> str | None:
    """`<alias>.<column> IN (...)` over every raw table whose row can satisfy all `filters`."""
    if not filters:
        return None
    catalogue = tables.raw_columns()
    for index, item in enumerate(filters):
        if not any(item.property in columns for columns in catalogue.values()):
            raise ApiError(f"no event table has a property {item.property!r}", f"{field}.{index}.property")
    selects: list[str] = []
    for table in sorted(catalogue):
        columns = catalogue[table]
        if table in _NOT_EVENT_TABLES or table.startswith("_") or "id" not in columns:
            continue
        predicates: list[str] = []
        possible = True
        for index, item in enumerate(filters):
            data_type = columns.get(item.property)
            if data_type is None:
                if item.operator in ("is_not_set", "neq", "not_contains"):
                    continue  # the property is absent from every row of this table
                possible = False
                break
            predicates.append(_predicate(item.property, _kind(data_type), item, params, f"{field}.{index}"))
        if possible:
            where = f" WHERE {' AND '.join(predicates)}" if predicates else ""
            selects.append(f"SELECT {quote_ident('id')} FROM {tables.raw(table)}{where}")
    if not selects:
        return "FALSE"
    return f"{alias}.{column} IN ({' UNION ALL '.join(selects)})"


def event_condition(spec: EventSpec, tables: Tables, params: Params, field: str, alias: str = "e") -> str:
    """Rows of events_sessionized that are this event (by name, page path or screen name)."""
    name = params.bind(spec.name)
    if spec.kind == "page":
        base = f"{alias}.event_type = 'page' AND {alias}.page_path = {name}"
    elif spec.kind == "screen":
        base = f"{alias}.event_type = 'screen' AND {alias}.screen_name = {name}"
    else:
        base = f"{alias}.event_type = 'track' AND {alias}.event_name = {name}"
    extra = property_condition(spec.properties, tables, params, f"{field}.properties", alias)
    return f"({base}{' AND ' + extra if extra else ''})"


def session_conditions(request: RangeRequest, params: Params, alias: str = "s") -> list[str]:
    """Channel/source/device conditions on a `sessions` row."""
    out: list[str] = []
    for column in ("channel", "source", "device_category"):
        values = getattr(request, column)
        if values:
            out.append(f"{alias}.{column} IN ({params.bind_list(values)})")
    return out


def scope_conditions(
    request: RangeRequest,
    tables: Tables,
    params: Params,
    *,
    alias: str = "e",
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[str]:
    """Conditions on events_sessionized rows: time range and every filter of the request."""
    out: list[str] = []
    if start is not None:
        out.append(f"{alias}.ts >= {params.ts(start)}")
    if end is not None:
        out.append(f"{alias}.ts < {params.ts(end)}")
    for column in ("channel", "device_category"):
        values = getattr(request, column)
        if values:
            out.append(f"{alias}.{column} IN ({params.bind_list(values)})")
    if request.source:
        out.append(
            f"{alias}.session_id IN (SELECT s.session_id FROM {tables.model('sessions')} AS s "
            f"WHERE s.source IN ({params.bind_list(request.source)}))"
        )
    extra = property_condition(request.properties, tables, params, "properties", alias)
    if extra:
        out.append(extra)
    return out
