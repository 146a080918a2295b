"""SDKs with no runnable build here, emulated on the wire as docs/ingest-api.md describes them.

- Segment analytics-kotlin: always gzip, `Content-Type: text/plain`, the write key only in the body, `/v1/b`.
- RudderStack Android v1 (core 1.28.0): it sends nothing until `GET /sourceConfig?p=android&v=&bv=` answers
  with `source.enabled: true`, then posts its `/v1/batch` and accepts nothing but a 200.
"""

from __future__ import annotations

import base64
import gzip
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from tests.sdk.sdk_checks import Window, check_all, now_ms, sent_from_batch

pytestmark = pytest.mark.slow


def iso_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def read_back(headwater: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
    ids = {e["messageId"] for e in body["batch"]}
    stored: list[dict[str, Any]] = headwater.events(where=lambda e: e.get("messageId") in ids, count=len(ids))
    return stored


# --- Segment analytics-kotlin ----------------------------------------------------------------------------


def kotlin_context(anon: str) -> dict[str, Any]:
    return {
        "app": {"name": "Shop", "version": "2.4.0", "namespace": "com.example.shop", "build": "240"},
        "device": {
            "id": f"dev-{anon}",
            "manufacturer": "Google",
            "model": "Pixel 8",
            "name": "husky",
            "type": "android",
            "adTrackingEnabled": False,
            "advertisingId": "",
        },
        "os": {"name": "Android", "version": "14"},
        "screen": {"density": 2.625, "width": 1080, "height": 2400},
        "network": {"wifi": True, "carrier": "T-Mobile", "bluetooth": False, "cellular": False},
        "locale": "en-US",
        "timezone": "Europe/Berlin",
        "userAgent": "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/UD1A)",
        "library": {"name": "analytics-kotlin", "version": "1.24.1"},
        "instanceId": str(uuid.uuid4()),
    }


def kotlin_batch(write_key: str, tag: str, sent_at: datetime, happened: datetime) -> dict[str, Any]:
    anon, user = f"anon-{tag}", f"user-{tag}"
    common = {
        "anonymousId": anon,
        "integrations": {},
        "context": kotlin_context(anon),
        "timestamp": iso_ms(happened),
    }
    return {
        "batch": [
            {
                **common,
                "type": "track",
                "event": f"Cart Viewed {tag}",
                "userId": user,
                "properties": {"items": 2, "value": 19.99},
                "messageId": str(uuid.uuid4()),
            },
            {
                **common,
                "type": "screen",
                "name": f"Checkout {tag}",
                "category": "Shop",
                "userId": user,
                "properties": {"step": 1},
                "messageId": str(uuid.uuid4()),
            },
            {
                **common,
                "type": "identify",
                "userId": user,
                "traits": {"email": f"{tag}@example.com"},
                "messageId": str(uuid.uuid4()),
            },
        ],
        "sentAt": iso_ms(sent_at),
        "writeKey": write_key,
    }


def test_segment_kotlin_style_batch(headwater):
    """gzip + text/plain + body writeKey on /v1/b, no Authorization: accepted and stored as sent."""
    tag = uuid.uuid4().hex
    start = now_ms()
    body = kotlin_batch(headwater.write_key, tag, start - timedelta(seconds=1), start - timedelta(seconds=3))
    headers = {
        "Content-Type": "text/plain",
        "Content-Encoding": "gzip",
        "User-Agent": "analytics-kotlin/1.24.1",
    }
    response = httpx.post(headwater.url + "/v1/b", content=gzip.compress(orjson.dumps(body)), headers=headers)
    assert 200 <= response.status_code < 300, (response.status_code, response.text)

    stored = read_back(headwater, body)
    check_all(
        stored,
        sent_from_batch(body),
        window=Window(start, datetime.now(UTC)),
        channel=None,
        library={"name": "analytics-kotlin", "version": "1.24.1"},
        timestamp_rule="corrected",
    )
    screen = next(e for e in stored if e["type"] == "screen")
    assert (screen["name"], screen["category"]) == (f"Checkout {tag}", "Shop")


# --- RudderStack Android v1 ------------------------------------------------------------------------------


def basic(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def source_config(headwater: Any, write_key: str) -> httpx.Response:
    return httpx.get(
        headwater.url + "/sourceConfig",
        params={"p": "android", "v": "1.28.0", "bv": "34"},
        headers={"Authorization": basic(write_key), "Content-Type": "application/json"},
    )


def android_context(anon: str) -> dict[str, Any]:
    """The context Android core 1.28.0 builds (RudderContext), as the Android v1 SDK sends it."""
    return {
        "app": {"build": "1", "name": "MyApp", "namespace": "com.example.app", "version": "1.0"},
        "device": {
            "id": f"dev-{anon}",
            "manufacturer": "Google",
            "model": "Pixel 8",
            "name": "husky",
            "type": "Android",
            "token": None,
            "adTrackingEnabled": False,
            "advertisingId": None,
        },
        "library": {"name": "com.rudderstack.android.sdk.core", "version": "1.28.0"},
        "os": {"name": "Android", "version": "14"},
        "screen": {"density": 420, "width": 1080, "height": 2400},
        "network": {"carrier": "T-Mobile", "wifi": True, "bluetooth": False, "cellular": False},
        "locale": "en-US",
        "timezone": "Europe/Berlin",
        "userAgent": "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/UD1A)",
        "traits": {"anonymousId": anon},
        "sessionId": 1754042400000,
        "sessionStart": True,
        "externalId": [{"type": "brazeExternalId", "id": f"braze-{anon}"}],
    }


def android_batch(tag: str, sent_at: datetime, happened: datetime) -> dict[str, Any]:
    anon = f"anon-{tag}"
    sent = iso_ms(sent_at)

    def event(**fields: Any) -> dict[str, Any]:
        return {
            "channel": "mobile",
            "anonymousId": anon,
            "messageId": str(uuid.uuid4()),
            "originalTimestamp": iso_ms(happened),
            "sentAt": sent,
            "integrations": {"All": True},
            "context": android_context(anon),
            **fields,
        }

    track = event(
        type="track", event=f"Demo Track {tag}", userId="", properties={"k": "v"}, userProperties={}
    )
    # Android v1 screens: the name in `event` and properties.name, no top-level name.
    screen = event(
        type="screen", event=f"Home {tag}", userId="", properties={"name": f"Home {tag}", "automatic": False}
    )
    traits = {"anonymousId": anon, "id": f"user-{tag}"}
    identify = event(type="identify", event="identify", userId=f"user-{tag}")
    identify["context"] = {**identify["context"], "traits": traits}
    return {"sentAt": sent, "batch": [track, screen, identify]}


def test_android_v1_source_config_gate(headwater):
    """The config the uploader waits for: 200, source.enabled true, the fields the SDKs require."""
    response = source_config(headwater, headwater.write_key)
    assert response.status_code == 200, response.text
    source = response.json()["source"]
    assert source["enabled"] is True
    for key in ("id", "name", "writeKey", "workspaceId", "updatedAt"):
        assert isinstance(source.get(key), str) and source[key], f"source.{key} missing: {source}"
    assert source["writeKey"] == headwater.write_key
    assert isinstance(source.get("config"), dict) and isinstance(source.get("destinations"), list), source
    assert "dataplanes" not in source, "a dataplanes map would override the app's configured data plane URL"


def test_android_v1_source_config_refusals(headwater):
    """Unknown key: 401 `invalid write key` (the SDK stops asking); a disabled source: enabled false."""
    unknown = source_config(headwater, f"no-such-key-{uuid.uuid4().hex}")
    assert unknown.status_code == 401
    assert "invalid write key" in unknown.text.lower()
    # Disabled: the config still comes (as from RudderStack's control plane) but says enabled: false, so the
    # v1 uploader never starts (an error would only make it retry, then fall back to a cached config).
    disabled = source_config(headwater, headwater.disabled_write_key)
    assert disabled.status_code == 200, (disabled.status_code, disabled.text)
    assert disabled.json()["source"]["enabled"] is False


def test_android_v1_batch(headwater):
    """After the gate: the Android v1 batch (Basic auth, AnonymousId header) gets exactly 200 and lands."""
    assert source_config(headwater, headwater.write_key).json()["source"]["enabled"] is True
    tag = uuid.uuid4().hex
    start = now_ms()
    body = android_batch(tag, start - timedelta(seconds=1), start - timedelta(seconds=5))
    headers = {
        "Content-Type": "application/json",
        "Authorization": basic(headwater.write_key),
        "AnonymousId": base64.b64encode(f"anon-{tag}".encode()).decode(),
    }
    response = httpx.post(headwater.url + "/v1/batch", content=orjson.dumps(body), headers=headers)
    assert response.status_code == 200, "Android v1 accepts nothing but 200: " + response.text

    stored = read_back(headwater, body)
    library = {"name": "com.rudderstack.android.sdk.core", "version": "1.28.0"}
    window = Window(start, datetime.now(UTC))
    check_all(
        stored,
        sent_from_batch(body),
        window=window,
        channel="mobile",
        timestamp_rule="corrected",
        library=library,
    )
    screen = next(e for e in stored if e["type"] == "screen")
    # The server may add the normalised top-level name; if it does, it is the screen's name.
    assert screen.get("name", f"Home {tag}") == f"Home {tag}"
    # The skew correction moved the event back by the 4 s between originalTimestamp and sentAt.
    received = datetime.fromisoformat(screen["receivedAt"].replace("Z", "+00:00"))
    timestamp = datetime.fromisoformat(screen["timestamp"].replace("Z", "+00:00"))
    assert abs((received - timestamp) - timedelta(seconds=4)) <= timedelta(milliseconds=2)
