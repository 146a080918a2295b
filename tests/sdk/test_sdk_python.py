"""rudder-sdk-python and segment-analytics-python, unchanged, against a running `headwater up`.

The SDKs' own HTTP sessions get a `requests` response hook that records each request as it went over the
wire (headers, status, decompressed body): that is how the tests know the messageIds, timestamps and
sentAt the SDK really sent, and that the auth and gzip styles are the ones the contract describes.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import requests
from rudderstack.analytics import client as rudder_client
from rudderstack.analytics import request as rudder_request
from rudderstack.analytics.version import VERSION as RUDDER_PY_VERSION
from segment.analytics import client as segment_client
from segment.analytics import request as segment_request
from segment.analytics.version import VERSION as SEGMENT_PY_VERSION

from tests.sdk.sdk_checks import Sent, Window, check_all, now_ms, sent_from_batch

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class WireRequest:
    url: str
    headers: dict[str, str]
    status: int
    body: dict[str, Any]


@contextlib.contextmanager
def wire_capture(session: requests.Session) -> Iterator[list[WireRequest]]:
    """Record every request the SDK's module-level session completes while the block runs."""
    seen: list[WireRequest] = []
    lock = threading.Lock()

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        req = response.request
        raw = req.body.encode() if isinstance(req.body, str) else (req.body or b"")
        if req.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        with lock:
            seen.append(
                WireRequest(req.url or "", dict(req.headers), response.status_code, orjson.loads(raw))
            )

    session.hooks["response"].append(hook)
    try:
        yield seen
    finally:
        session.hooks["response"].remove(hook)


def basic(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def all_calls(client: Any, tag: str) -> tuple[list[tuple[bool, dict[str, Any]]], dict[str, Any]]:
    """One call of each type, with ids and payloads unique to this test; returns (results, what was asked)."""
    asked = {
        "user": f"user-{tag}",
        "anon": f"anon-{tag}",
        "event": f"Order Completed {tag}",
        "properties": {
            "revenue": 30.5,
            "currency": "EUR",
            "items": [{"sku": "a-1", "qty": 2}],
            "gift": False,
        },
        "traits": {"email": f"{tag}@example.com", "plan": "pro", "logins": 3},
        "page": f"Pricing {tag}",
        "screen": f"Home {tag}",
        "group": f"group-{tag}",
        "group_traits": {"name": "Acme", "employees": 12},
        "previous": f"old-{tag}",
    }
    results = [
        client.track(
            user_id=asked["user"],
            anonymous_id=asked["anon"],
            event=asked["event"],
            properties=asked["properties"],
        ),
        client.identify(user_id=asked["user"], anonymous_id=asked["anon"], traits=asked["traits"]),
        client.page(
            anonymous_id=asked["anon"], category="Docs", name=asked["page"], properties={"path": "/p"}
        ),
        client.screen(user_id=asked["user"], name=asked["screen"], properties={"section": "top"}),
        client.group(user_id=asked["user"], group_id=asked["group"], traits=asked["group_traits"]),
        client.alias(previous_id=asked["previous"], user_id=asked["user"]),
    ]
    return results, asked


def check_calls_mapped(
    stored: list[dict[str, Any]], asked: dict[str, Any], *, traits_in_context: bool
) -> None:
    """The stored events carry what the test asked for, in the contract's field names.

    rudder-sdk-python puts identify traits only in context.traits; segment's puts them at the top level.
    """
    by_type = {e["type"]: e for e in stored}
    assert sorted(by_type) == ["alias", "group", "identify", "page", "screen", "track"], sorted(by_type)
    track = by_type["track"]
    assert (track["event"], track["properties"]) == (asked["event"], asked["properties"])
    assert (track["userId"], track["anonymousId"]) == (asked["user"], asked["anon"])
    identify = by_type["identify"]
    assert (identify["context"]["traits"] if traits_in_context else identify["traits"]) == asked["traits"]
    assert (by_type["page"]["name"], by_type["page"]["category"]) == (asked["page"], "Docs")
    assert by_type["page"]["properties"]["path"] == "/p"
    assert by_type["screen"]["name"] == asked["screen"]
    assert by_type["screen"]["properties"]["section"] == "top"
    group = by_type["group"]
    assert (group["groupId"], group["traits"]) == (asked["group"], asked["group_traits"])
    alias = by_type["alias"]
    assert (alias["previousId"], alias["userId"]) == (asked["previous"], asked["user"])


def read_back(headwater: Any, sent: list[Sent]) -> list[dict[str, Any]]:
    ids = {s.event["messageId"] for s in sent}
    stored: list[dict[str, Any]] = headwater.events(where=lambda e: e.get("messageId") in ids, count=len(ids))
    return stored


@pytest.mark.parametrize("sync_mode", [False, True], ids=["queued", "sync_mode"])
def test_rudder_sdk_python(headwater, sync_mode):
    """Basic auth, gzip on by default, one batch per flush: every call lands, field for field."""
    errors: list[tuple[Exception, Any]] = []
    client = rudder_client.Client(
        write_key=headwater.write_key,
        host=headwater.url,
        sync_mode=sync_mode,
        max_retries=0,
        upload_interval=0.05,
        on_error=lambda e, batch: errors.append((e, batch)),
    )
    start = now_ms()
    with wire_capture(rudder_request._session) as wire:
        results, asked = all_calls(client, uuid.uuid4().hex)
        client.flush()
        if not sync_mode:  # rudder-sdk-python 2.1.9's shutdown() raises in sync mode (it has no consumers)
            client.shutdown()
    assert not errors, errors
    assert all(ok for ok, _ in results), results

    assert wire, "the SDK sent nothing"
    if sync_mode:
        assert len(wire) == len(results), "sync mode posts each call inline, one event per request"
    for req in wire:
        assert req.url == headwater.url + "/v1/batch"
        assert req.status == 200, "rudder-sdk-python treats anything but 200 as a failure"
        assert req.headers["Authorization"] == basic(headwater.write_key)
        assert req.headers.get("Content-Encoding") == "gzip", "rudder-sdk-python gzips by default"
        assert "writeKey" not in req.body
    sent = [s for req in wire for s in sent_from_batch(req.body)]
    # The messageIds on the wire are the ones the SDK returned from each call.
    assert sorted(s.event["messageId"] for s in sent) == sorted(msg["messageId"] for _, msg in results)

    stored = read_back(headwater, sent)
    check_all(
        stored,
        sent,
        window=Window(start, datetime.now(UTC)),
        channel="server",
        library={"name": "analytics-python", "version": RUDDER_PY_VERSION},
        timestamp_rule="verbatim",
    )
    check_calls_mapped(stored, asked, traits_in_context=True)


def test_segment_analytics_python(headwater):
    """Body writeKey to host + /v1/batch, no gzip: every call lands, field for field."""
    errors: list[tuple[Exception, Any]] = []
    client = segment_client.Client(
        write_key=headwater.write_key,
        host=headwater.url,
        max_retries=0,
        upload_interval=0.05,
        on_error=lambda e, batch: errors.append((e, batch)),
    )
    start = now_ms()
    with wire_capture(segment_request._session) as wire:
        results, asked = all_calls(client, uuid.uuid4().hex)
        client.flush()
        client.shutdown()
    assert not errors, errors
    assert all(ok for ok, _ in results), results

    assert wire, "the SDK sent nothing"
    for req in wire:
        assert req.url == headwater.url + "/v1/batch"
        assert req.status == 200
        assert req.body["writeKey"] == headwater.write_key, (
            "segment-analytics-python authenticates in the body"
        )
        assert "Content-Encoding" not in req.headers, "segment-analytics-python does not gzip by default"
    sent = [s for req in wire for s in sent_from_batch(req.body)]
    assert sorted(s.event["messageId"] for s in sent) == sorted(msg["messageId"] for _, msg in results)

    stored = read_back(headwater, sent)
    check_all(
        stored,
        sent,
        window=Window(start, datetime.now(UTC)),
        channel=None,
        library={"name": "analytics-python", "version": SEGMENT_PY_VERSION},
        timestamp_rule="verbatim",
    )
    check_calls_mapped(stored, asked, traits_in_context=False)


SDK_CLIENTS = {
    "segment": (segment_client.Client, segment_request._session),
    "rudder": (rudder_client.Client, rudder_request._session),
}


@pytest.mark.parametrize("sdk", sorted(SDK_CLIENTS))
@pytest.mark.parametrize(("key", "status"), [("disabled", 404), ("unknown", 401)])
def test_python_sdk_refused_key(headwater, sdk, key, status):
    """A disabled source's key (404) and an unknown key (401): the SDK reports failure, nothing lands."""
    client_class, session = SDK_CLIENTS[sdk]
    write_key = headwater.disabled_write_key if key == "disabled" else f"no-such-key-{uuid.uuid4().hex}"
    tag = uuid.uuid4().hex
    errors: list[tuple[Exception, Any]] = []
    client = client_class(
        write_key=write_key,
        host=headwater.url,
        max_retries=0,
        upload_interval=0.05,
        on_error=lambda e, batch: errors.append((e, batch)),
    )
    with wire_capture(session) as wire:
        ok, refused = client.track(user_id=f"user-{tag}", event=f"Refused {tag}")
        client.flush()
        client.shutdown()
    assert ok, "the SDK queues the event; the failure comes with the upload"
    assert [req.status for req in wire] == [status], "one attempt: the SDKs do not retry a 4xx"
    assert len(errors) == 1, f"on_error should be called once, got {errors}"
    error, batch = errors[0]
    assert getattr(error, "status", None) == status, error
    assert [m["messageId"] for m in batch] == [refused["messageId"]]

    # A good event sent afterwards lands; by then the refused one would have been written if it ever were.
    good = rudder_client.Client(write_key=headwater.write_key, host=headwater.url, sync_mode=True)
    _, marker = good.track(user_id=f"user-{tag}", event=f"Accepted {tag}")
    headwater.events(where=lambda e: e.get("messageId") == marker["messageId"], count=1)
    assert (
        headwater.events(where=lambda e: tag in str(e.get("event")) and e.get("event") != f"Accepted {tag}")
        == []
    )
