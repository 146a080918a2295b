"""From actions to the JSON each real SDK sends, and how each SDK's queue groups them into requests.

Shapes follow docs/ingest-api.md and the ingest contract: the RudderStack JS SDK v3 on the web
(context.page, context.campaign, sessionId/sessionStart, userId null while anonymous), Android v1
(screen name in `event` and `properties.name`, userId "" while anonymous, ANDROID_ID as anonymousId),
iOS v1 (screen name top-level, no userId key while anonymous) and rudder-sdk-python on the server
(`timestamp` only, channel "server"). One deliberate addition: web and mobile events also carry an
explicit `timestamp` equal to `originalTimestamp`, because the events are historical and the
skew-correction formula would otherwise move them to the moment they are received.
"""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import urlsplit

from headwater.demo.journeys import Action, iso_ms
from headwater.demo.population import Device

__all__ = ["JS_SDK_VERSION", "PYTHON_SDK_VERSION", "client_payload", "queue_flushes", "server_payload"]

JS_SDK_VERSION = "3.34.1"
ANDROID_SDK_VERSION = "1.28.0"
IOS_SDK_VERSION = "1.31.0"
PYTHON_SDK_VERSION = "2.1.4"
APP = {"name": "Alpenglow", "namespace": "com.alpenglow.shop"}

WEB_SINGLE_DELAY_MS = (3, 250)  # XHR goes out right away
BATCH_MAX_EVENTS = 100  # Android/iOS v1 MAX_BATCH_SIZE
MOBILE_FLUSH_EVENTS = 30  # Android/iOS v1 default flushQueueSize
WEB_BATCH_EVENTS = 10
OFFLINE_SHARE = 0.12  # sessions whose events wait for the next app start (no network)


def _host(url: str) -> str:
    if not url.startswith("http"):
        return url  # "$direct"
    return urlsplit(url).hostname or ""


def _web_context(action: Action, device: Device) -> dict[str, Any]:
    page = action.page
    initial = device.seen_referrer or "$direct"
    context: dict[str, Any] = {"traits": action.traits}
    if action.session_id is not None:
        context["sessionId"] = action.session_id
        if action.session_start:
            context["sessionStart"] = True
    context.update(
        {
            "app": {
                "name": "RudderLabs JavaScript SDK",
                "namespace": "com.rudderlabs.javascript",
                "version": JS_SDK_VERSION,
                "installType": "npm",
            },
            "library": {"name": "RudderLabs JavaScript SDK", "version": JS_SDK_VERSION},
            "userAgent": device.user_agent,
            "os": {"name": "", "version": ""},
            "locale": device.locale,
            "screen": device.screen,
            "campaign": action.campaign,
        }
    )
    if page is not None:
        context["page"] = {
            "path": page.path,
            "referrer": page.referrer,
            "referring_domain": _host(page.referrer),
            "search": page.search,
            "title": page.title,
            "url": page.url,
            "tab_url": page.url,
            "initial_referrer": initial,
            "initial_referring_domain": _host(initial),
        }
    context["timezone"] = device.tz_label
    return context


def _mobile_context(action: Action, device: Device) -> dict[str, Any]:
    maker, model, name, os_version = device.model
    android = device.platform == "android"
    traits = {"anonymousId": device.anonymous_id, **action.traits}
    if action.user_id:
        traits["userId"] = action.user_id
    context: dict[str, Any] = {
        "app": {"build": device.app_build, **APP, "version": device.app_version},
        "device": {
            "id": device.anonymous_id,
            "manufacturer": maker,
            "model": model,
            "name": name,
            "type": "Android" if android else "iOS",
            "token": None,
            "adTrackingEnabled": False,
            "advertisingId": None,
        },
        "library": {
            "name": "com.rudderstack.android.sdk.core" if android else "rudder-ios-library",
            "version": ANDROID_SDK_VERSION if android else IOS_SDK_VERSION,
        },
        "os": {"name": "Android" if android else "iOS", "version": os_version},
        "screen": device.screen,
        "network": {
            "carrier": device.carrier,
            "wifi": device.wifi,
            "bluetooth": False,
            "cellular": not device.wifi,
        },
        "locale": device.locale,
        "timezone": device.tz_name,
        "userAgent": device.user_agent,
        "traits": traits,
    }
    if action.campaign:
        context["campaign"] = action.campaign
    if action.session_id is not None:
        context["sessionId"] = action.session_id
        if action.session_start:
            context["sessionStart"] = True
    return context


def client_payload(action: Action, message_id: str, sent_at_ms: int) -> dict[str, Any]:
    """The event exactly as the device's SDK would serialise it."""
    device = action.device
    assert device is not None
    at = iso_ms(action.at_ms)
    web = device.platform == "web"
    payload: dict[str, Any] = {
        "type": action.kind,
        "channel": "web" if web else "mobile",
        "anonymousId": device.anonymous_id,
    }
    if action.user_id:
        payload["userId"] = action.user_id
    elif web:
        payload["userId"] = None
    elif device.platform == "android":
        payload["userId"] = ""
    payload.update(
        {
            "messageId": message_id,
            "originalTimestamp": at,
            "sentAt": iso_ms(sent_at_ms),
            "timestamp": at,
            "integrations": {"All": True},
        }
    )
    kind = action.kind
    if web:
        payload["event"] = action.name if kind == "track" else None
        if kind == "page":
            page = action.page
            assert page is not None
            payload["name"] = action.name
            payload["category"] = page.category or None
            payload["properties"] = {
                "name": action.name,
                "path": page.path,
                "referrer": page.referrer,
                "referring_domain": _host(page.referrer),
                "search": page.search,
                "title": page.title,
                "url": page.url,
                "tab_url": page.url,
                "initial_referrer": device.seen_referrer or "$direct",
                "initial_referring_domain": _host(device.seen_referrer or "$direct"),
                **action.properties,
            }
        else:
            payload["properties"] = action.properties if kind == "track" else None
        payload["context"] = _web_context(action, device)
    else:
        if kind == "screen" and device.platform == "ios":
            payload["name"] = action.name
        elif kind in ("track", "screen"):
            payload["event"] = action.name  # Android v1 puts the screen name in `event`
        elif kind == "identify" and device.platform == "android":
            payload["event"] = "identify"
        if kind in ("track", "screen"):
            payload["properties"] = action.properties
        if device.platform == "android":
            payload["userProperties"] = {}
        payload["context"] = _mobile_context(action, device)
    if kind == "identify":
        payload["context"]["traits"] = {**payload["context"]["traits"], **action.traits}
    elif kind == "group":
        payload["groupId"] = action.group_id
        payload["traits"] = action.group_traits
    elif kind == "alias":
        payload["previousId"] = action.previous_id
    return payload


def server_payload(action: Action, message_id: str) -> dict[str, Any]:
    """What rudder-sdk-python sends for `track(user_id, event, properties, anonymous_id=…)`."""
    payload: dict[str, Any] = {"type": "track", "event": action.name, "userId": action.user_id}
    if action.anonymous_id:
        payload["anonymousId"] = action.anonymous_id
    payload.update(
        {
            "properties": action.properties,
            "context": {"library": {"name": "analytics-python", "version": PYTHON_SDK_VERSION}},
            "timestamp": iso_ms(action.at_ms),
            "messageId": message_id,
            "channel": "server",
            "integrations": {"All": True},
        }
    )
    return payload


def queue_flushes(actions: list[Action], device: Device, rng: random.Random) -> list[tuple[int, int]]:
    """For each action of one device (in time order): (batch number, the instant its request is sent).

    Web without batching sends every event at once in its own request; web with batching and the
    mobile SDKs queue events and flush when the queue is full or the session ends; a mobile device
    without network keeps its events for one or more app starts, up to the 100-event batch limit.
    """
    out: list[tuple[int, int]] = []
    if device.platform == "web" and not device.batching:
        for number, action in enumerate(actions):
            out.append((number, action.at_ms + rng.randint(*WEB_SINGLE_DELAY_MS)))
        return out
    flush_at = WEB_BATCH_EVENTS if device.platform == "web" else MOBILE_FLUSH_EVENTS
    number = 0
    pending: list[int] = []  # indexes waiting in the queue
    offline = False

    def flush(sent_ms: int) -> None:
        nonlocal number
        out.extend([(number, sent_ms)] * len(pending))
        pending.clear()
        number += 1

    for index, action in enumerate(actions):
        if offline and action.session_start and rng.random() < 0.6:
            flush(action.at_ms + rng.randint(800, 5_000))  # back online at the next app start
            offline = False
        pending.append(index)
        held_limit = BATCH_MAX_EVENTS if offline else flush_at
        if len(pending) >= held_limit:
            flush(action.at_ms + rng.randint(20, 400))
        elif action.ends_session:
            if device.platform != "web" and rng.random() < OFFLINE_SHARE:
                offline = True
            else:
                flush(action.at_ms + rng.randint(100, 10_000))
    if pending:
        flush(actions[pending[-1]].at_ms + rng.randint(100, 10_000))
    return out
