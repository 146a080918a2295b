"""People: search over `user_profiles`, one person's profile and aliases, and their event timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from headwater.analytics.errors import ApiError
from headwater.analytics.sql import Params, Tables, run

__all__ = ["profile", "search", "timeline"]

_SEARCH_COLUMNS = ("person_id", "user_id", "email", "name")
_LIST_COLUMNS = (
    "person_id", "user_id", "email", "name", "first_seen_at", "last_seen_at", "sessions", "events",
    "orders", "revenue", "lifecycle_state",
)  # fmt: skip
_TIMELINE_COLUMNS = (
    "message_id", "ts", "event_type", "event_name", "page_path", "page_url", "page_title", "screen_name",
    "session_id", "session_index", "event_index", "channel", "device_id", "anonymous_id", "user_id",
    "device_category", "os_name", "referrer", "utm_source", "utm_medium", "utm_campaign", "revenue",
    "order_id", "currency",
)  # fmt: skip


def _where(query: str | None, params: Params) -> str:
    if not query:
        return "TRUE"
    needle = params.bind(query.lower())
    return " OR ".join(f"strpos(lower(CAST(u.{c} AS TEXT)), {needle}) > 0" for c in _SEARCH_COLUMNS)


def search(tables: Tables, query: str | None, limit: int, offset: int) -> dict[str, Any]:
    """People whose id, user id, email or name contains `query` (case-insensitive), newest first."""
    params = Params()
    listed = ", ".join(f"u.{c}" for c in _LIST_COLUMNS)
    result = run(
        tables.engine,
        f"SELECT {listed} FROM {tables.model('user_profiles')} AS u WHERE {_where(query, params)} "
        f"ORDER BY u.last_seen_at DESC NULLS LAST, u.person_id LIMIT {params.bind(limit)} OFFSET "
        f"{params.bind(offset)}",
        params,
    )
    counted = Params()
    total = run(
        tables.engine,
        f"SELECT COUNT(*) FROM {tables.model('user_profiles')} AS u WHERE {_where(query, counted)}",
        counted,
    )
    rows = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
    return {"total": int(total.rows[0][0]), "limit": limit, "offset": offset, "users": rows}


def profile(tables: Tables, person_id: str) -> dict[str, Any]:
    params = Params()
    who = params.bind(person_id)
    result = run(
        tables.engine, f"SELECT * FROM {tables.model('user_profiles')} AS u WHERE u.person_id = {who}", params
    )
    if not result.rows:
        raise ApiError(f"no person {person_id!r}", "person_id", status=404)
    found = dict(zip(result.columns, result.rows[0], strict=True))
    params = Params()
    aliases = run(
        tables.engine,
        "SELECT alias, alias_type, first_seen_at, last_seen_at "
        f"FROM {tables.model('identity_map')} AS m WHERE m.person_id = {params.bind(person_id)} "
        "ORDER BY first_seen_at, alias",
        params,
    )
    return {
        "profile": found,
        "aliases": [dict(zip(aliases.columns, row, strict=True)) for row in aliases.rows],
    }


def timeline(
    tables: Tables, person_id: str, limit: int, offset: int, before: datetime | None
) -> dict[str, Any]:
    """The person's events, newest first; `before` pages by time, `offset` by position."""
    params = Params()
    conditions = [f"e.person_id = {params.bind(person_id)}"]
    if before is not None:
        conditions.append(f"e.ts < {params.ts(before)}")
    listed = ", ".join(f"e.{c}" for c in _TIMELINE_COLUMNS)
    result = run(
        tables.engine,
        f"SELECT {listed} FROM {tables.model('events_sessionized')} AS e WHERE {' AND '.join(conditions)} "
        f"ORDER BY e.ts DESC, e.message_id DESC LIMIT {params.bind(limit + 1)} OFFSET {params.bind(offset)}",
        params,
    )
    rows = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
    more = len(rows) > limit
    return {
        "person_id": person_id,
        "limit": limit,
        "offset": offset,
        "has_more": more,
        "events": rows[:limit],
    }
