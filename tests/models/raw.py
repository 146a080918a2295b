"""RudderStack raw tables for model tests, written by Headwater's own loader code.

Tests describe events compactly (`RawEvent`); `load_raw` turns them into the RudderStack event
JSON the data plane would store, then runs the loader's own pieces on them: `Transformer` (rows,
flattening, naming, types), `BatchBuilder` (columns, `uuid_ts`) and the engine's DDL and append.
So the tables, columns and types are exactly what `headwater up` produces, on DuckDB and
PostgreSQL, including columns that do not exist until some event carries a value.

Each `load_raw` call is one load: one `uuid_ts` for all its rows (pass `loaded_at` to choose it),
as the loader does. Call it again for a later load round.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from headwater.warehouse.batch import BatchBuilder
from headwater.warehouse.engines.base import Engine
from headwater.warehouse.engines.duckdb import DuckDBEngine
from headwater.warehouse.engines.postgres import PostgresEngine
from headwater.warehouse.model import SourceInfo
from headwater.warehouse.naming import Namer
from headwater.warehouse.settings import WarehouseSettings
from headwater.warehouse.transform import Transformer

__all__ = ["BASE_TIME", "RawEvent", "at", "load_raw", "open_engine", "page", "track"]

# A fixed day the hand-computed examples use: at("09:00") is 2024-03-04 09:00:00 UTC.
BASE_TIME = datetime(2024, 3, 4, tzinfo=UTC)
_SOURCE = SourceInfo(source_id="src-test")


def at(clock: str, *, day: int = 0) -> datetime:
    """`hh:mm` or `hh:mm:ss` on the base day (+ `day` days), UTC."""
    parts = [int(part) for part in clock.split(":")]
    hours, minutes, seconds = ([*parts, 0, 0])[:3]
    return BASE_TIME + timedelta(days=day, hours=hours, minutes=minutes, seconds=seconds)


@dataclass(frozen=True, slots=True)
class RawEvent:
    """One event as an SDK would send it (only what the tests need; every field optional but `type`).

    `context` is nested as sent (`{"page": {"url": ...}, "sessionId": 17}`) and flattened by the
    loader (`context_page_url`, `context_session_id`). `received_at` defaults to `timestamp`.
    """

    type: str  # track | page | screen | identify | alias | group
    message_id: str
    timestamp: datetime
    anonymous_id: str | None = None
    user_id: str | None = None
    event: str | None = None  # track: the event name ("Order Completed")
    name: str | None = None  # page / screen name
    properties: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)
    traits: Mapping[str, Any] = field(default_factory=dict)
    previous_id: str | None = None  # alias
    group_id: str | None = None  # group
    received_at: datetime | None = None

    def payload(self) -> dict[str, Any]:
        """The stored event JSON (what the data plane hands the loader)."""
        stamp = _iso(self.timestamp)
        body: dict[str, Any] = {
            "type": self.type,
            "messageId": self.message_id,
            "timestamp": stamp,
            "originalTimestamp": stamp,
            "sentAt": stamp,
            "receivedAt": _iso(self.received_at or self.timestamp),
            "channel": "web",
            "context": dict(self.context),
        }
        optional = {
            "anonymousId": self.anonymous_id,
            "userId": self.user_id,
            "event": self.event,
            "name": self.name,
            "previousId": self.previous_id,
            "groupId": self.group_id,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        if self.properties:
            body["properties"] = dict(self.properties)
        if self.traits:
            body["traits"] = dict(self.traits)
        return body


def page(
    message_id: str,
    timestamp: datetime,
    anonymous_id: str | None,
    path: str,
    *,
    user_id: str | None = None,
    host: str = "shop.example.com",
    query: str = "",
    referrer: str | None = None,
    session_id: int | None = None,
    context: Mapping[str, Any] | None = None,
    received_at: datetime | None = None,
) -> RawEvent:
    """A page view the way the JS SDK sends it (url, path, referrer in properties and context.page)."""
    url = f"https://{host}{path}" + (f"?{query}" if query else "")
    page_info: dict[str, Any] = {"url": url, "path": path, "title": path}
    if referrer is not None:
        page_info["referrer"] = referrer
    if query:
        page_info["search"] = f"?{query}"
    ctx: dict[str, Any] = {"page": page_info, "library": {"name": "RudderLabs JavaScript SDK"}}
    if session_id is not None:
        ctx["sessionId"] = session_id
    ctx.update(context or {})
    return RawEvent(
        "page",
        message_id,
        timestamp,
        anonymous_id=anonymous_id,
        user_id=user_id,
        properties=dict(page_info),
        context=ctx,
        received_at=received_at,
    )


def track(
    message_id: str,
    timestamp: datetime,
    anonymous_id: str | None,
    event: str,
    *,
    user_id: str | None = None,
    properties: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    received_at: datetime | None = None,
) -> RawEvent:
    """A track event (its properties go to the per-event table)."""
    return RawEvent(
        "track",
        message_id,
        timestamp,
        anonymous_id=anonymous_id,
        user_id=user_id,
        event=event,
        properties=dict(properties or {}),
        context=dict(context or {}),
        received_at=received_at,
    )


@contextmanager
def open_engine(kind: str, target: str | Path) -> Iterator[Engine]:
    """The warehouse engine on `target` (a DuckDB file path or a PostgreSQL DSN), opened like production.

    DuckDB is opened with the memory limit the dbt profile passes too, so this connection and dbt's
    in-process one may share the file.
    """
    engine: Engine
    if kind == "duckdb":
        engine = DuckDBEngine(Path(target), memory_limit=WarehouseSettings().duckdb_memory_limit)
    elif kind == "postgres":
        engine = PostgresEngine(str(target))
    else:
        raise ValueError(f"unknown engine kind {kind!r}")
    engine.open()
    try:
        yield engine
    finally:
        engine.close()


def load_raw(
    kind: str,
    target: str | Path,
    events: Sequence[RawEvent],
    *,
    namespace: str = "events",
    loaded_at: datetime | None = None,
) -> None:
    """Load `events` as one load into `namespace` of the warehouse `target` (see `open_engine`)."""
    with open_engine(kind, target) as engine:
        load_with_engine(engine, events, namespace=namespace, loaded_at=loaded_at)


def load_with_engine(
    engine: Engine,
    events: Sequence[RawEvent],
    *,
    namespace: str = "events",
    loaded_at: datetime | None = None,
) -> None:
    """`load_raw` on an engine the caller holds open."""
    transformer = Transformer(Namer(identifier_limit=engine.identifier_limit))
    source = SourceInfo(source_id=_SOURCE.source_id, destination_type=engine.destination_type)
    with engine.transaction():
        engine.create_namespace(namespace)
        schema = engine.read_schema(namespace)
    builder = BatchBuilder(schema, _iso(loaded_at or datetime.now(UTC)))
    for event in events:
        builder.add(transformer.rows(event.payload(), source))
    built = builder.build()
    with engine.transaction():
        for table, columns in built.new_tables.items():
            engine.create_table(namespace, table, columns)
        for table, columns in built.new_columns.items():
            engine.add_columns(namespace, table, columns)
        for table, data in built.tables.items():
            if table == "users":
                engine.register("hw_staged_users", data)
                engine.merge_users(namespace, "hw_staged_users", data.column_names)
            else:
                engine.append(namespace, table, data)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
