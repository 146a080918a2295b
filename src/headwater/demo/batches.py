"""Turn events into the HTTP requests the SDKs would make: route, body and headers, per SDK instance.

Pure and deterministic like `generate`, so a test can check the exact wire traffic without a
server. Each request belongs to a `lane` (one SDK instance); the sender keeps a lane's requests in
order, as a real device sends its queue in order, while different devices send concurrently.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from headwater.demo.catalogue import SHOP_URL
from headwater.demo.traffic import Event, Sdk

__all__ = ["Request", "plan_requests"]


@dataclass(frozen=True, slots=True)
class Request:
    """One POST as an SDK sends it; the sender adds the Authorization header and encodes the body."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    lane: str
    events: int
    platform: str
    gzip: bool


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _headers(sdk: Sdk, sent_at: str) -> dict[str, str]:
    headers = {"User-Agent": sdk.user_agent, "X-Forwarded-For": sdk.ip}
    if sdk.platform == "web":
        headers.update(
            {
                "Content-Type": "application/json;charset=UTF-8",
                "Accept": "application/json",
                "AnonymousId": _b64(sdk.device),
                "SentAt": sent_at,
                "Origin": SHOP_URL,
            }
        )
    elif sdk.platform == "android":
        headers.update({"Content-Type": "application/json", "AnonymousId": _b64(sdk.device)})
    elif sdk.platform == "ios":
        headers.update({"Content-Type": "application/json", "AnonymousId": _b64(sdk.device + ":")})
    else:
        headers["Content-Type"] = "application/json"
    if sdk.gzip:
        headers["Content-Encoding"] = "gzip"
    return headers


def plan_requests(events: Sequence[Event]) -> list[Request]:
    """Group events into requests in the order their first event happened."""
    groups: dict[tuple[Sdk, int], list[Event]] = {}
    for event in events:
        groups.setdefault((event.sdk, event.batch), []).append(event)
    requests: list[Request] = []
    for (sdk, _), members in groups.items():
        first = members[0]
        body: dict[str, Any]
        if first.route == "/v1/batch":
            batch = [event.payload for event in members]
            body = (
                {"sentAt": first.sent_at, "batch": batch}
                if sdk.platform in ("android", "ios")
                else {"batch": batch, "sentAt": first.sent_at}
            )
        else:
            body = first.payload
        requests.append(
            Request(
                first.route,
                body,
                _headers(sdk, first.sent_at),
                sdk.device,
                len(members),
                sdk.platform,
                sdk.gzip,
            )
        )
    return requests
