"""The model tables of /tmp/models-design.md, created by hand with small rows for the API's tests.

Types follow the contract: times timestamptz, durations and money double, flags boolean, ids text.
Rows are given as dicts; missing columns are NULL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from headwater.warehouse.engines.render import quote_ident

T, D, B, N, S = "TIMESTAMPTZ", "DOUBLE PRECISION", "BOOLEAN", "BIGINT", "TEXT"

STG_COLUMNS: dict[str, str] = {
    "message_id": S, "event_type": S, "event_name": S, "event_table": S, "anonymous_id": S, "user_id": S,
    "device_id": S, "ts": T, "received_at": T, "loaded_at": T, "client_session_id": S, "page_url": S,
    "page_path": S, "page_title": S, "page_search": S, "referrer": S, "referrer_host": S, "screen_name": S,
    "utm_source": S, "utm_medium": S, "utm_campaign": S, "utm_term": S, "utm_content": S, "gclid": S,
    "library_name": S, "os_name": S, "device_type": S, "device_category": S, "user_agent": S,
    "screen_width": N, "screen_height": N, "locale": S, "is_conversion": B, "revenue": D, "order_id": S,
    "currency": S,
}  # fmt: skip

MODEL_TABLES: dict[str, dict[str, str]] = {
    "events_sessionized": {
        **STG_COLUMNS, "person_id": S, "person_key": N, "session_id": S, "session_index": N,
        "event_index": N, "channel": S,
    },
    "sessions": {
        "session_id": S, "device_id": S, "anonymous_id": S, "person_id": S, "session_start": T,
        "session_end": T, "duration_s": D, "n_events": N, "n_page_views": N, "landing_page_url": S,
        "landing_path": S, "exit_path": S, "referrer": S, "referrer_host": S, "utm_source": S,
        "utm_medium": S, "utm_campaign": S, "utm_term": S, "utm_content": S, "gclid": S, "source": S,
        "medium": S, "channel": S, "device_category": S, "os_name": S, "session_number": N,
        "is_new_user": B, "is_engaged": B, "is_bounce": B, "n_conversions": N, "revenue": D,
        "is_server_only": B,
    },
    "attribution_credits": {
        "conversion_id": S, "person_id": S, "conversion_ts": T, "model": S, "touch_session_id": S,
        "touch_ts": T, "channel": S, "source": S, "medium": S, "campaign": S, "credit": D,
        "revenue_credit": D,
    },
    "attribution_paths": {
        "person_id": S, "conversion_id": S, "path_end_ts": T, "path": S, "n_touches": N, "converted": B,
        "revenue": D,
    },
    "conversions": {
        "conversion_id": S, "person_id": S, "session_id": S, "ts": T, "event_name": S, "revenue": D,
        "order_id": S,
    },
    "identity_map": {"alias": S, "alias_type": S, "person_id": S, "first_seen_at": T, "last_seen_at": T},
    "user_profiles": {
        "person_id": S, "person_key": N, "user_id": S, "n_anonymous_ids": N, "email": S, "name": S,
        "first_seen_at": T,
        "last_seen_at": T, "days_since_first_seen": N, "days_since_last_seen": N, "sessions": N,
        "events": N, "page_views": N, "active_days": N, "active_days_7": N, "active_days_30": N,
        "orders": N, "revenue": D, "avg_order_value": D, "last_order_at": T, "days_since_last_order": N,
        "first_channel": S, "first_source": S, "first_medium": S, "first_campaign": S,
        "first_landing_path": S, "last_channel": S, "r_score": N, "f_score": N, "m_score": N,
        "rfm_segment": S, "lifecycle_state": S, "is_churned_30": B,
    },
}  # fmt: skip


def at(text: str) -> datetime:
    """'2024-03-04 10:00' (or with seconds) as a UTC time."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def create_statements(schema: str, tables: Mapping[str, Mapping[str, str]]) -> list[str]:
    out = [f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}"]
    for table, columns in tables.items():
        listed = ", ".join(f"{quote_ident(name)} {kind}" for name, kind in columns.items())
        out.append(f"CREATE TABLE {quote_ident(schema)}.{quote_ident(table)} ({listed})")
    return out


def person_key(person_id: str | None) -> int | None:
    """An integer key per person, as the models' hw_person_key gives (any injective-enough map will do)."""
    if person_id is None:
        return None
    return int.from_bytes(hashlib.md5(person_id.encode()).digest()[:8], "big") >> 1


def insert(conn: Any, schema: str, table: str, rows: Iterable[Mapping[str, Any]], style: str) -> None:
    """INSERT rows through a DB-API connection (DuckDB `?` or psycopg `%s` placeholders).

    events_sessionized and user_profiles rows get their person_key from their person_id, as the
    models write it.
    """
    for row in rows:
        if table in ("events_sessionized", "user_profiles") and "person_key" not in row:
            row = {**row, "person_key": person_key(row.get("person_id"))}
        names = list(row)
        marks = ", ".join("?" if style == "duckdb" else "%s" for _ in names)
        listed = ", ".join(quote_ident(n) for n in names)
        statement = f"INSERT INTO {quote_ident(schema)}.{quote_ident(table)} ({listed}) VALUES ({marks})"
        conn.execute(statement, [row[n] for n in names])
