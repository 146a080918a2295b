"""Validation as a list of small named checks; a refusal names the check that refused.

Per-event checks run on every event of a request before anything is enriched or stored. In strict
mode (rudder-server's behaviour) the first failing event refuses the whole request with the check's
reply. In lenient mode the failing events are set aside for the quarantine log and the rest are
accepted: the v1 mobile SDKs resend a refused batch forever, so one bad event would otherwise block
a device's whole queue.

Two checks run after enrichment, where the stored bytes exist: `serializable` (orjson refuses to
write objects nested deeper than 254 levels) and `event_size` (collect.max_event_bytes, off by
default as in rudder-server).

Warnings do not refuse (rudder accepts these at the gateway); they are only counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from headwater.collect.enrich import identifier
from headwater.collect.responses import (
    EMPTY_BATCH,
    EVENT_TOO_LARGE,
    INVALID_JSON,
    NO_IDENTIFIER,
    NOT_RUDDER_EVENT,
    Reply,
)

__all__ = [
    "EVENT_CHECKS",
    "EVENT_SIZE",
    "HAS_EVENTS",
    "IS_JSON",
    "SERIALIZABLE",
    "WARNINGS",
    "Check",
    "first_failure",
    "warning_counts",
]


@dataclass(frozen=True, slots=True)
class Check:
    """A named rule: `passes(event)` is False when the event must be refused with `reply`."""

    name: str
    reply: Reply
    passes: Callable[[Any], bool] = lambda _event: True


def _is_object(event: Any) -> bool:
    return type(event) is dict


def _has_identifier(event: Any) -> bool:
    anonymous = event.get("anonymousId")
    if type(anonymous) is str and anonymous and not anonymous[0].isspace() and "\x00" not in anonymous:
        return True
    return bool(identifier(anonymous) or identifier(event.get("userId")))


EVENT_CHECKS: tuple[Check, ...] = (
    Check("event_is_object", NOT_RUDDER_EVENT, _is_object),
    Check("has_identifier", NO_IDENTIFIER, _has_identifier),
)

# Request-level and post-enrichment checks, tested where their data is; named here so that every
# refusal speaks one vocabulary.
IS_JSON = Check("body_is_json", INVALID_JSON)
HAS_EVENTS = Check("has_events", EMPTY_BATCH)
SERIALIZABLE = Check("serializable", INVALID_JSON)
EVENT_SIZE = Check("event_size", EVENT_TOO_LARGE)


def first_failure(event: Any) -> Check | None:
    """The first per-event check `event` fails, or None if it passes them all."""
    for check in EVENT_CHECKS:
        if not check.passes(event):
            return check
    return None


def _missing_type(event: dict[str, Any]) -> bool:
    kind = event.get("type")
    return type(kind) is not str or not kind


def _track_without_event(event: dict[str, Any]) -> bool:
    return event.get("type") == "track" and not event.get("event")


WARNINGS: tuple[tuple[str, Callable[[dict[str, Any]], bool]], ...] = (
    ("missing_type", _missing_type),
    ("track_without_event", _track_without_event),
)


def warning_counts(events: list[dict[str, Any]]) -> dict[str, int]:
    """How many accepted events raise each warning (usually an empty dict)."""
    counts: dict[str, int] = {}
    for name, applies in WARNINGS:
        found = sum(1 for event in events if applies(event))
        if found:
            counts[name] = found
    return counts
