"""`generate`: the whole simulated event list, pure and deterministic.

People are drawn one after another (each from its own seeded generator) and their actions played
until the requested number of events is reached; the last person's history is cut in time order so
the count is exact. Nothing reads the clock or the process's hash salt, so the same seed, count,
days and start give a byte-identical list on any machine.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import orjson

from headwater.demo.errors import DemoSetupError
from headwater.demo.journeys import DAY, Action, iso_ms, simulate
from headwater.demo.payloads import (
    BATCH_MAX_EVENTS,
    PYTHON_SDK_VERSION,
    client_payload,
    queue_flushes,
    server_payload,
)
from headwater.demo.population import Device, Platform, make_person, new_uuid

__all__ = [
    "DEFAULT_DAYS",
    "DEFAULT_EVENTS",
    "DEFAULT_SEED",
    "DEFAULT_START",
    "Event",
    "Sdk",
    "TrafficSummary",
    "generate",
    "summarize",
]

DEFAULT_EVENTS = 10_000
DEFAULT_DAYS = 14
DEFAULT_SEED = 42
DEFAULT_START = date(2026, 11, 2)  # a Monday; fixed so runs repeat, override with --start
SERVER_BATCH_WINDOW_MS = 500  # rudder-sdk-python upload_interval
BACKEND_IP = "203.0.113.200"


@dataclass(frozen=True, slots=True)
class Sdk:
    """The SDK instance that sends an event: what the HTTP request looks like apart from the body."""

    platform: Platform
    device: str  # the device's anonymousId, or "server" for the backend
    user_agent: str
    ip: str
    gzip: bool


@dataclass(frozen=True, slots=True)
class Event:
    """One event as the SDK put it on the wire, plus how it travels and who really sent it.

    Events of one `sdk` with the same `batch` travel in one request to `route`; `person` is the
    ground-truth account id of the human behind the event (even while the wire shows only an
    anonymousId), for tests of identity stitching.
    """

    payload: dict[str, Any]
    sdk: Sdk
    route: str
    batch: int
    sent_at: str
    at_ms: int
    person: str


def _start_ms(start: date | datetime) -> int:
    if isinstance(start, datetime):
        moment = start if start.tzinfo is not None else start.replace(tzinfo=UTC)
    else:
        moment = datetime.combine(start, time(0), tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _sdk(device: Device) -> Sdk:
    return Sdk(device.platform, device.anonymous_id, device.user_agent, device.ip, device.gzip)


SERVER_SDK = Sdk("server", "server", f"analytics-python/{PYTHON_SDK_VERSION}", BACKEND_IP, True)


def generate(
    seed: int = DEFAULT_SEED,
    events: int = DEFAULT_EVENTS,
    days: int = DEFAULT_DAYS,
    start: date | datetime = DEFAULT_START,
) -> list[Event]:
    """Exactly `events` events over `days` simulated days from `start` (UTC midnight), in time order."""
    if events < 1:
        raise DemoSetupError("--events must be at least 1")
    if days < 1:
        raise DemoSetupError("--days must be at least 1")
    start_ms = _start_ms(start)
    # (at_ms, person index, sequence) orders ties the same way on every run.
    keyed: list[tuple[tuple[int, int, int], Event]] = []
    server: list[tuple[tuple[int, int, int], Action, str, str]] = []
    total = 0
    index = 0
    while total < events:
        if index > 50 * events + 1_000:
            raise DemoSetupError(f"could not place {events} events in {days} days; use more --days")
        person = make_person(seed, index, days, start_ms)
        actions = sorted(simulate(person, start_ms, days), key=lambda a: a.at_ms)[: events - total]
        total += len(actions)
        ids = [new_uuid(person.rng) for _ in actions]
        by_device: dict[int, list[int]] = {}
        for position, action in enumerate(actions):
            if action.device is None:
                server.append(((action.at_ms, index, position), action, ids[position], person.user_id))
            else:
                by_device.setdefault(id(action.device), []).append(position)
        for positions in by_device.values():
            device = actions[positions[0]].device
            assert device is not None
            sdk = _sdk(device)
            flushes = queue_flushes([actions[p] for p in positions], device, person.rng)
            single = device.platform == "web" and not device.batching
            for position, (batch, sent_ms) in zip(positions, flushes, strict=True):
                action = actions[position]
                route = f"/v1/{action.kind}" if single else "/v1/batch"
                payload = _own(client_payload(action, ids[position], sent_ms))
                keyed.append(
                    (
                        (action.at_ms, index, position),
                        Event(payload, sdk, route, batch, iso_ms(sent_ms), action.at_ms, person.user_id),
                    )
                )
        index += 1
    keyed.extend(_server_events(server, seed))
    keyed.sort(key=lambda item: item[0])
    return [event for _, event in keyed]


def _own(payload: dict[str, Any]) -> dict[str, Any]:
    """A deep copy, so no two payloads share a nested dict: editing one event edits only that one."""
    copied: dict[str, Any] = orjson.loads(orjson.dumps(payload))
    return copied


def _server_events(
    items: list[tuple[tuple[int, int, int], Action, str, str]], seed: int
) -> list[tuple[tuple[int, int, int], Event]]:
    """The backend is one SDK for everyone: it batches whatever it tracked within half a second."""
    rng = random.Random(f"headwater-demo:{seed}:server")
    items.sort(key=lambda item: item[0])
    out: list[tuple[tuple[int, int, int], Event]] = []
    batch: list[tuple[tuple[int, int, int], Action, str, str]] = []
    number = 0

    def flush() -> None:
        nonlocal number
        sent = iso_ms(batch[-1][1].at_ms + rng.randint(5, 120))
        for key, action, message_id, person in batch:
            event = Event(
                _own(server_payload(action, message_id)),
                SERVER_SDK,
                "/v1/batch",
                number,
                sent,
                action.at_ms,
                person,
            )
            out.append((key, event))
        batch.clear()
        number += 1

    for item in items:
        if batch and (
            len(batch) >= BATCH_MAX_EVENTS or item[1].at_ms - batch[0][1].at_ms > SERVER_BATCH_WINDOW_MS
        ):
            flush()
        batch.append(item)
    if batch:
        flush()
    return out


@dataclass(frozen=True, slots=True)
class TrafficSummary:
    """What a generated event list contains, for the command's report."""

    events: int
    people: int
    identified: int
    devices: dict[str, int]
    first_day: str
    last_day: str
    orders: int
    revenue: float
    types: dict[str, int]


def summarize(events: list[Event]) -> TrafficSummary:
    devices: dict[str, set[str]] = {}
    identified: set[str] = set()
    orders = 0
    revenue = 0.0
    types: Counter[str] = Counter()
    for event in events:
        payload = event.payload
        if event.sdk.platform != "server":
            devices.setdefault(event.sdk.platform, set()).add(event.sdk.device)
        if payload.get("userId"):
            identified.add(event.person)
        types[payload["type"]] += 1
        if payload.get("event") == "Order Completed":
            orders += 1
            revenue += payload["properties"]["revenue"]
    first = min((e.at_ms for e in events), default=0)
    last = max((e.at_ms for e in events), default=0)
    return TrafficSummary(
        events=len(events),
        people=len({e.person for e in events}),
        identified=len(identified),
        devices={platform: len(ids) for platform, ids in sorted(devices.items())},
        first_day=iso_ms(first - first % DAY)[:10],
        last_day=iso_ms(last - last % DAY)[:10],
        orders=orders,
        revenue=round(revenue, 2),
        types=dict(sorted(types.items())),
    )
