"""Delivery over real HTTP to an in-process server on a loopback port."""

from __future__ import annotations

import base64
import socket
from collections import defaultdict
from datetime import date

import pytest

from headwater.demo import (
    DeliveryFailedError,
    RequestRejectedError,
    SourceDisabledError,
    WriteKeyRejectedError,
    generate,
    plan_requests,
    send,
)

KEY = "2dUZ8nGkDemoTestKey0000000Z"


@pytest.fixture(scope="module")
def events():  # a few hundred events: every platform, single and batch routes
    return generate(seed=11, events=600, days=4, start=date(2026, 5, 4))


def test_every_event_arrives_once_with_basic_auth_and_sdk_headers(recorder, events) -> None:
    report = send(events, recorder.url, KEY, concurrency=4)
    assert (report.events, report.requests, report.retries) == (len(events), len(plan_requests(events)), 0)
    assert report.events_per_second > 0
    expected_auth = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
    received: list[dict] = []
    for request in recorder.requests:
        assert request.headers["Authorization"] == expected_auth
        assert request.headers["X-Forwarded-For"]
        if request.path == "/v1/batch":
            batch = request.body["batch"]
            assert 1 <= len(batch) <= 100 and request.body["sentAt"]
            received.extend(batch)
        else:
            assert request.path in {"/v1/track", "/v1/page", "/v1/identify", "/v1/group", "/v1/alias"}
            assert request.body["type"] == request.path.rsplit("/", 1)[1]
            assert request.headers["SentAt"] == request.body["sentAt"]
            received.append(request.body)
    assert sorted(p["messageId"] for p in received) == sorted(e.payload["messageId"] for e in events)
    gzipped = [r for r in recorder.requests if r.headers.get("Content-Encoding") == "gzip"]
    assert gzipped, "the python SDK and some mobile devices gzip their batches"
    web = [r for r in recorder.requests if r.body.get("channel") == "web"]
    assert web and all(
        base64.b64decode(r.headers["AnonymousId"]).decode() == r.body["anonymousId"] for r in web
    )


def test_each_device_sends_its_events_in_order(recorder, events) -> None:
    send(events, recorder.url, KEY, concurrency=8)
    by_device: dict[str, list[str]] = defaultdict(list)
    for request in recorder.requests:
        for payload in request.body.get("batch", [request.body]):
            device = payload.get("anonymousId") if payload["channel"] != "server" else "server"
            by_device[device].append(payload["timestamp"])
    assert len(by_device) > 10
    for stamps in by_device.values():
        assert stamps == sorted(stamps)


def test_a_503_is_retried_until_it_succeeds(recorder, events) -> None:
    recorder.answer = lambda n, r: (503, "Service Unavailable\n", {}) if n < 3 else (200, "ok", {})
    report = send(events[:40], recorder.url, KEY, concurrency=1, backoff=0.01)
    assert report.retries == 3
    accepted = [p["messageId"] for r in recorder.accepted() for p in r.body.get("batch", [r.body])]
    assert sorted(accepted) == sorted(e.payload["messageId"] for e in events[:40])
    assert recorder.requests[0].body == recorder.requests[3].body  # the same request again


def test_a_429_honours_retry_after(recorder, events) -> None:
    recorder.answer = lambda n, r: (
        (429, "max requests limit reached\n", {"Retry-After": "0"}) if n == 0 else (200, "ok", {})
    )
    report = send(events[:5], recorder.url, KEY, concurrency=1, backoff=10.0)  # a 10 s backoff would time out
    assert report.retries == 1 and report.events == 5


def test_a_wrong_key_fails_at_once_with_a_clear_message(recorder, events) -> None:
    recorder.answer = lambda n, r: (401, "invalid write key\n", {})
    with pytest.raises(WriteKeyRejectedError) as caught:
        send(events, recorder.url, "wrong-key", concurrency=4)
    assert caught.value.status == 401
    assert "--write-key" in str(caught.value) and "invalid write key" in str(caught.value)
    assert len(recorder.requests) <= 4  # no retries, the other lanes stop too


def test_a_disabled_source_fails_with_a_clear_message(recorder, events) -> None:
    recorder.answer = lambda n, r: (404, "source is disabled\n", {})
    with pytest.raises(SourceDisabledError, match="enabled: true"):
        send(events[:10], recorder.url, KEY, concurrency=1)


def test_a_refused_payload_is_not_retried(recorder, events) -> None:
    recorder.answer = lambda n, r: (400, "request neither has anonymousId nor userId\n", {})
    with pytest.raises(RequestRejectedError, match="400"):
        send(events[:10], recorder.url, KEY, concurrency=1)
    assert len(recorder.requests) == 1


def test_no_server_fails_after_the_retries() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        with pytest.raises(DeliveryFailedError, match="headwater up") as caught:
            send(generate(events=3), f"http://127.0.0.1:{port}", KEY, max_attempts=3, backoff=0.01)
    assert caught.value.status is None
