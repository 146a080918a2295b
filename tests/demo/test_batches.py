"""Requests are planned as each SDK would make them, without any server."""

from __future__ import annotations

import base64
from datetime import date

from headwater.demo import generate, plan_requests


def test_requests_carry_every_event_once_with_sdk_shaped_bodies() -> None:
    events = generate(seed=2, events=1_500, days=5, start=date(2026, 1, 5))
    requests = plan_requests(events)
    assert sum(r.events for r in requests) == len(events)
    assert plan_requests(events) == requests  # deterministic too
    for request in requests:
        if request.path == "/v1/batch":
            assert set(request.body) == {"batch", "sentAt"} and 1 <= len(request.body["batch"]) <= 100
            assert all(p["sentAt"] == request.body["sentAt"] for p in request.body["batch"] if "sentAt" in p)
        else:
            assert request.platform == "web" and request.events == 1
        if request.platform == "ios":
            anonymous_id = request.body["batch"][0]["anonymousId"]
            assert base64.b64decode(request.headers["AnonymousId"]).decode() == anonymous_id + ":"
        if request.platform == "server":
            assert request.gzip and request.headers["User-Agent"].startswith("analytics-python/")
    sizes = [r.events for r in requests if r.platform in ("android", "ios")]
    assert max(sizes) > 5, "mobile SDKs queue events and flush them together"
    assert sum(1 for r in requests if r.platform == "web" and r.path == "/v1/batch") > 0
