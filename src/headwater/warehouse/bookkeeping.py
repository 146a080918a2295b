"""The loader's own tables, kept in the warehouse itself in schema `_headwater`.

They live beside the data on purpose: the log offsets a load covers are written in the same
transaction as its rows, so after any crash the warehouse alone says where loading resumes, and
a batch is either entirely there (rows, offsets, load record) or not at all. Every statement here
is written once in PostgreSQL's dialect and rendered per engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from headwater.warehouse.engines.base import Engine

__all__ = ["SCHEMA", "Bookkeeping", "FailedEvent", "LoadRecord"]

SCHEMA = "_headwater"

_CREATE = (
    "CREATE SCHEMA IF NOT EXISTS _headwater",
    """CREATE TABLE IF NOT EXISTS _headwater.offsets (
        log_partition INTEGER PRIMARY KEY,
        next_offset BIGINT NOT NULL,
        load_id TEXT NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS _headwater.loads (
        load_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        committed_at TIMESTAMPTZ NOT NULL,
        events BIGINT NOT NULL,
        duplicates BIGINT NOT NULL,
        failed BIGINT NOT NULL,
        row_count BIGINT NOT NULL,
        discards BIGINT NOT NULL,
        staged_files INTEGER NOT NULL,
        staged_bytes BIGINT NOT NULL,
        tables TEXT NOT NULL,
        offsets TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS _headwater.message_ids (
        id TEXT NOT NULL,
        received_at TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS _headwater.failed_events (
        message_id TEXT,
        source_id TEXT NOT NULL,
        log_partition INTEGER,
        log_offset BIGINT,
        reason TEXT NOT NULL,
        payload TEXT NOT NULL,
        received_at TIMESTAMPTZ,
        failed_at TIMESTAMPTZ NOT NULL,
        load_id TEXT NOT NULL,
        replayed_at TIMESTAMPTZ,
        replay_load_id TEXT
    )""",
)

_UPSERT_OFFSET = """
INSERT INTO _headwater.offsets (log_partition, next_offset, load_id, updated_at)
VALUES (:partition, :next_offset, :load_id, CAST(:now AS TIMESTAMPTZ))
ON CONFLICT (log_partition) DO UPDATE SET
    next_offset = excluded.next_offset, load_id = excluded.load_id, updated_at = excluded.updated_at
"""
_READ_OFFSETS = "SELECT log_partition, next_offset FROM _headwater.offsets"
_INSERT_LOAD = """
INSERT INTO _headwater.loads (load_id, kind, started_at, committed_at, events, duplicates, failed,
    row_count, discards, staged_files, staged_bytes, tables, offsets)
VALUES (:load_id, :kind, CAST(:started_at AS TIMESTAMPTZ), CAST(:committed_at AS TIMESTAMPTZ), :events,
    :duplicates, :failed, :row_count, :discards, :staged_files, :staged_bytes, :tables, :offsets)
"""
_LOAD_EXISTS = "SELECT 1 FROM _headwater.loads WHERE load_id = :load_id"
_KNOWN_IDS = """
SELECT DISTINCT m.id FROM _headwater.message_ids AS m
JOIN hw_batch_ids AS b ON b.id = m.id
WHERE m.received_at >= CAST(:cutoff AS TIMESTAMPTZ)
"""
_EXPIRE_IDS = "DELETE FROM _headwater.message_ids WHERE received_at < CAST(:cutoff AS TIMESTAMPTZ)"
_INSERT_FAILED = """
INSERT INTO _headwater.failed_events (message_id, source_id, log_partition, log_offset, reason, payload,
    received_at, failed_at, load_id)
VALUES (:message_id, :source_id, :partition, :offset, :reason, :payload, CAST(:received_at AS TIMESTAMPTZ),
    CAST(:failed_at AS TIMESTAMPTZ), :load_id)
"""
_MARK_REPLAYED = """
UPDATE _headwater.failed_events SET replayed_at = CAST(:now AS TIMESTAMPTZ), replay_load_id = :load_id
WHERE load_id = :failed_load_id AND log_partition IS NOT DISTINCT FROM :partition
    AND log_offset IS NOT DISTINCT FROM :offset AND replayed_at IS NULL
"""
_FAILED_COLUMNS = (
    "message_id, source_id, log_partition, log_offset, reason, payload, "
    "CAST(received_at AS TEXT), CAST(failed_at AS TEXT), load_id"
)


@dataclass(frozen=True, slots=True)
class FailedEvent:
    """An event the loader could not load, with where it came from and why."""

    message_id: str | None
    source_id: str
    partition: int | None
    offset: int | None
    reason: str
    payload: bytes
    received_at: str | None = None
    load_id: str = ""
    failed_at: str = ""


@dataclass(frozen=True, slots=True)
class LoadRecord:
    """One committed load, as written to `_headwater.loads`."""

    load_id: str
    kind: str
    started_at: str
    committed_at: str
    events: int
    duplicates: int
    failed: int
    row_count: int
    discards: int
    staged_files: int
    staged_bytes: int
    tables: Mapping[str, int]
    offsets: Mapping[int, int]


class Bookkeeping:
    """Reads and writes `_headwater.*` through one engine; writes happen inside the caller's transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _run(self, statement: str, params: Mapping[str, Any] | None = None) -> None:
        self.engine.execute(self.engine.sql(statement), params)

    def _fetch(self, statement: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self.engine.fetch(self.engine.sql(statement), params)

    def ensure(self) -> None:
        for statement in _CREATE:
            self._run(statement)

    def offsets(self) -> dict[int, int]:
        return {int(partition): int(offset) for partition, offset in self._fetch(_READ_OFFSETS)}

    def load_exists(self, load_id: str) -> bool:
        return bool(self._fetch(_LOAD_EXISTS, {"load_id": load_id}))

    def known_ids(self, cutoff: str) -> set[str]:
        """Ids of the registered `hw_batch_ids` table already loaded since `cutoff`."""
        return {row[0] for row in self._fetch(_KNOWN_IDS, {"cutoff": cutoff})}

    def expire_ids(self, cutoff: str) -> None:
        self._run(_EXPIRE_IDS, {"cutoff": cutoff})

    def record_load(self, load: LoadRecord) -> None:
        self._run(
            _INSERT_LOAD,
            {
                "load_id": load.load_id,
                "kind": load.kind,
                "started_at": load.started_at,
                "committed_at": load.committed_at,
                "events": load.events,
                "duplicates": load.duplicates,
                "failed": load.failed,
                "row_count": load.row_count,
                "discards": load.discards,
                "staged_files": load.staged_files,
                "staged_bytes": load.staged_bytes,
                "tables": orjson.dumps(dict(load.tables)).decode(),
                "offsets": orjson.dumps({str(k): v for k, v in load.offsets.items()}).decode(),
            },
        )
        for partition, next_offset in load.offsets.items():
            self._run(
                _UPSERT_OFFSET,
                {
                    "partition": partition,
                    "next_offset": next_offset,
                    "load_id": load.load_id,
                    "now": load.committed_at,
                },
            )

    def record_failed(self, failures: Iterable[FailedEvent], load_id: str, now: str) -> None:
        for failure in failures:
            self._run(
                _INSERT_FAILED,
                {
                    "message_id": failure.message_id,
                    "source_id": failure.source_id,
                    "partition": failure.partition,
                    "offset": failure.offset,
                    "reason": failure.reason,
                    "payload": failure.payload.decode("utf-8", "replace"),
                    "received_at": failure.received_at,
                    "failed_at": now,
                    "load_id": load_id,
                },
            )

    def failed_events(
        self,
        *,
        reason: str | None = None,
        message_ids: Iterable[str] = (),
        include_replayed: bool = False,
        limit: int | None = None,
    ) -> list[FailedEvent]:
        """Failed events matching the filters, oldest first."""
        where = [] if include_replayed else ["replayed_at IS NULL"]
        params: dict[str, Any] = {}
        if reason:
            where.append("POSITION(:reason IN reason) > 0")
            params["reason"] = reason
        ids = list(message_ids)
        if ids:
            names = []
            for index, message_id in enumerate(ids):
                params[f"m{index}"] = message_id
                names.append(f":m{index}")
            where.append(f"message_id IN ({', '.join(names)})")
        statement = f"SELECT {_FAILED_COLUMNS} FROM _headwater.failed_events"
        if where:
            statement += " WHERE " + " AND ".join(where)
        statement += " ORDER BY failed_at, load_id, log_partition, log_offset"
        if limit is not None:
            statement += f" LIMIT {int(limit)}"
        return [
            FailedEvent(
                message_id=row[0],
                source_id=row[1],
                partition=row[2],
                offset=row[3],
                reason=row[4],
                payload=row[5].encode(),
                received_at=row[6],
                failed_at=row[7],
                load_id=row[8],
            )
            for row in self._fetch(statement, params)
        ]

    def mark_replayed(self, failures: Iterable[FailedEvent], load_id: str, now: str) -> None:
        for failure in failures:
            self._run(
                _MARK_REPLAYED,
                {
                    "now": now,
                    "load_id": load_id,
                    "failed_load_id": failure.load_id,
                    "partition": failure.partition,
                    "offset": failure.offset,
                },
            )
