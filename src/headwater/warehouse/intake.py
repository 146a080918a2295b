"""What a load lets in: log records parsed into events, the ones at fault recorded, repeats dropped.

Exactly-once rests on the messageId window kept in `_headwater.message_ids`: a batch keeps the
first of each messageId it holds, drops the ids the warehouse loaded within the window (measured
back from the batch's earliest `receivedAt`), and records the ids it loads in the same transaction
as their rows. Records that cannot become an event (not JSON, not an object, refused by the engine)
become `FailedEvent`s with their reason, kept for `headwater replay`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa

from headwater.logs import get_logger
from headwater.warehouse.bookkeeping import Bookkeeping, FailedEvent
from headwater.warehouse.engines.base import Engine
from headwater.warehouse.outcomes import Item

__all__ = ["Parsed", "drop_duplicates", "failed_event", "iso_millis", "parse_items", "remember_ids"]

log = get_logger("headwater.warehouse.loader")

# An event ready to load: its item, the parsed object, its messageId and receivedAt (when strings).
Parsed = tuple[Item, dict[str, Any], str | None, str | None]


def iso_millis(moment: datetime) -> str:
    """The ISO form RudderStack writes times in: UTC, milliseconds, `Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_items(items: Sequence[Item], refused: str | None) -> tuple[list[Parsed], list[FailedEvent]]:
    """The items as events, and a failure for each that is not a JSON object (all, when `refused`)."""
    events: list[Parsed] = []
    failures: list[FailedEvent] = []
    for item in items:
        if refused is not None:
            failures.append(failed_event(item, f"refused by the warehouse: {refused}", None))
            continue
        try:
            event = orjson.loads(item.payload)
        except orjson.JSONDecodeError as error:
            failures.append(failed_event(item, f"payload is not JSON: {error}", None))
            continue
        if not isinstance(event, dict):
            failures.append(failed_event(item, "payload is not a JSON object", None))
            continue
        message_id = event.get("messageId")
        received_at = event.get("receivedAt")
        events.append(
            (
                item,
                event,
                message_id if isinstance(message_id, str) else None,
                received_at if isinstance(received_at, str) else None,
            )
        )
    return events, failures


def drop_duplicates(
    engine: Engine, bookkeeping: Bookkeeping, events: list[Parsed], window_hours: float
) -> tuple[list[Parsed], int]:
    """Keep the first of each messageId in the batch and drop ids loaded within the window."""
    seen: set[str] = set()
    kept = []
    earliest: str | None = None
    for entry in events:
        message_id = entry[2]
        if message_id is not None:
            if message_id in seen:
                continue
            seen.add(message_id)
        received_at = entry[3]
        if received_at is not None and (earliest is None or received_at < earliest):
            earliest = received_at
        kept.append(entry)
    duplicates = len(events) - len(kept)
    if seen:
        engine.register("hw_batch_ids", pa.table({"id": pa.array(list(seen), pa.string())}))
        reference = _parse_iso(earliest) or datetime.now(UTC)
        known = bookkeeping.known_ids(iso_millis(reference - timedelta(hours=window_hours)))
        if known:
            before = len(kept)
            kept = [entry for entry in kept if entry[2] not in known]
            duplicates += before - len(kept)
    return kept, duplicates


def remember_ids(engine: Engine, loaded_ids: list[tuple[str, str]]) -> None:
    """Add the (messageId, receivedAt) pairs a load wrote to the window, inside its transaction."""
    ids, received = zip(*loaded_ids, strict=True)
    data = pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "received_at": pa.array(received, pa.string()).cast(pa.timestamp("ms", tz="UTC")),
        }
    )
    engine.register("hw_new_ids", data)
    engine.execute(
        engine.sql(
            "INSERT INTO _headwater.message_ids (id, received_at) SELECT id, received_at FROM hw_new_ids"
        )
    )


def failed_event(item: Item, reason: str, event: dict[str, Any] | None) -> FailedEvent:
    """The record kept for an item that did not load, with what can be read of its ids."""
    message_id = received_at = None
    if event is None and item.replay_of is None:
        try:
            parsed = orjson.loads(item.payload)
        except orjson.JSONDecodeError:
            parsed = None
        event = parsed if isinstance(parsed, dict) else None
    if event is not None:
        raw_id = event.get("messageId")
        raw_received = event.get("receivedAt")
        message_id = raw_id if isinstance(raw_id, str) else None
        received_at = raw_received if isinstance(raw_received, str) else None
    elif item.replay_of is not None:
        message_id = item.replay_of.message_id
    log.warning(
        "event failed",
        extra={
            "message_id": message_id,
            "source_id": item.source_id,
            "partition": item.partition,
            "offset": item.offset,
            "reason": reason,
        },
    )
    return FailedEvent(
        message_id=message_id,
        source_id=item.source_id,
        partition=item.partition,
        offset=item.offset,
        reason=reason,
        payload=item.payload,
        received_at=received_at,
    )


def _parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
