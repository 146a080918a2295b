"""The browser SDKs, unchanged, in headless Chromium: @rudderstack/analytics-js and @segment/analytics-next.

Each SDK is bundled from npm by esbuild into one IIFE file (tests/sdk/dist), put in a page served from
`localhost` on its own port, and pointed at the data plane on 127.0.0.1: every call is cross-origin, so the
Authorization header the SDKs send makes Chromium run a real CORS preflight first (an event that lands
proves the preflight passed). Playwright records every request; anything bound for a non-loopback host is
aborted and fails the test, because a self-hosted setup must not need a CDN.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from tests.sdk.npm_sdks import package_version
from tests.sdk.sdk_checks import Sent, Window, check_all, now_ms, sent_from_batch

# node too: the bundles are built with node and esbuild.
pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.node]

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
SINGLE_EVENT_PATHS = {
    "/v1/page": "page",
    "/v1/track": "track",
    "/v1/identify": "identify",
    "/v1/p": "page",
    "/v1/t": "track",
    "/v1/i": "identify",
}
BATCH_PATHS = {"/v1/batch", "/v1/b"}  # beacon bodies are read from the page (window.__beacons)


def is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"data", "blob", "about"} or parts.hostname in LOOPBACK_HOSTS


@dataclass
class WireRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: Any = None
    status: int | None = None

    @property
    def path(self) -> str:
        return urlsplit(self.url).path


@dataclass
class PageRun:
    """Everything one page visit sent: requests with bodies and statuses, beacon payloads, console errors."""

    data_plane: str
    requests: list[WireRequest] = field(default_factory=list)
    beacons: list[dict[str, Any]] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def to_data_plane(self, method: str | None = None) -> list[WireRequest]:
        return [r for r in self.requests if r.url.startswith(self.data_plane) and method in (None, r.method)]

    def sent(self) -> list[Sent]:
        """The events the SDK posted, from XHR/fetch bodies and from beacon payloads."""
        out: list[Sent] = []
        for req in self.to_data_plane("POST"):
            if req.path in SINGLE_EVENT_PATHS and req.body is not None:
                out.append(Sent(req.body))
            elif req.path in BATCH_PATHS and req.body is not None:
                out.extend(sent_from_batch(req.body))
        for beacon in self.beacons:
            out.extend(sent_from_batch(orjson.loads(beacon["body"])))
        return out


def visit(
    browser: Any,
    page_origin: str,
    data_plane: str,
    bundle: str,
    script: str,
    *,
    events: int,
    timeout: float = 20.0,
) -> PageRun:
    """Open the page with `bundle`, run `script`, and wait until `events` events were sent and answered."""
    run = PageRun(data_plane)
    context = browser.new_context()
    try:

        def on_request(request: Any) -> None:
            body = request.post_data
            parsed = orjson.loads(body) if body else None
            run.requests.append(WireRequest(request.method, request.url, dict(request.headers), parsed))

        def on_response(response: Any) -> None:
            for req in reversed(run.requests):
                if req.url == response.url and req.status is None:
                    req.status = response.status
                    break

        def block(route: Any) -> None:
            run.blocked.append(route.request.url)
            route.abort()

        context.route(lambda url: not is_loopback(url), block)
        context.on("request", on_request)
        context.on("response", on_response)
        context.on("requestfailed", lambda r: run.failed.append(f"{r.method} {r.url}: {r.failure}"))
        page = context.new_page()
        page.on("console", lambda m: run.console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
        page.goto(f"{page_origin}/page/{bundle}")
        page.evaluate(script)

        def delivered() -> bool:
            run.beacons = page.evaluate("Promise.all(window.__beacons)")
            posts = run.to_data_plane("POST")
            beacon_posts = [r for r in posts if r.path.startswith("/beacon/")]
            answered = all(r.status is not None for r in posts if r not in beacon_posts)
            return answered and len(run.sent()) >= events and len(beacon_posts) >= len(run.beacons)

        deadline = datetime.now(UTC).timestamp() + timeout
        while not delivered():
            if datetime.now(UTC).timestamp() > deadline:
                raise AssertionError(
                    f"the SDK delivered {len(run.sent())} of {events} events in {timeout}s;\n"
                    f"requests: {[(r.method, r.url, r.status) for r in run.requests]}\n"
                    f"failed: {run.failed}\nblocked: {run.blocked}\nconsole: {run.console}"
                )
            page.wait_for_timeout(100)
    finally:
        context.close()
    assert not run.blocked, f"the SDK reached for non-loopback hosts (a CDN?): {run.blocked}"
    assert all(is_loopback(r.url) for r in run.requests), [r.url for r in run.requests]
    assert not run.failed, run.failed
    return run


def read_back(headwater: Any, sent: list[Sent]) -> list[dict[str, Any]]:
    ids = {s.event["messageId"] for s in sent}
    stored: list[dict[str, Any]] = headwater.events(where=lambda e: e.get("messageId") in ids, count=len(ids))
    return stored


def basic(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def calls(sdk: str, tag: str) -> str:
    """page, track and identify with values unique to this test, on the instance named `sdk`."""
    return f"""
      {sdk}.page("Docs", "Pricing {tag}", {{plan: "pro", tag: "{tag}"}});
      {sdk}.track("Order Completed {tag}", {{revenue: 30.5, items: [{{sku: "a-1", qty: 2}}], gift: false}});
      {sdk}.identify("user-{tag}", {{email: "{tag}@example.com", logins: 3}});
    """


def check_calls_mapped(stored: list[dict[str, Any]], tag: str, *, traits_in_context: bool) -> None:
    by_type = {e["type"]: e for e in stored}
    assert sorted(by_type) == ["identify", "page", "track"], sorted(by_type)
    page, track, identify = by_type["page"], by_type["track"], by_type["identify"]
    assert (page["name"], page["category"]) == (f"Pricing {tag}", "Docs")
    assert (page["properties"]["plan"], page["properties"]["tag"]) == ("pro", tag)
    assert track["event"] == f"Order Completed {tag}"
    assert track["properties"] == {"revenue": 30.5, "items": [{"sku": "a-1", "qty": 2}], "gift": False}
    assert identify["userId"] == f"user-{tag}"
    traits = identify["context"]["traits"] if traits_in_context else identify["traits"]
    assert traits == {"email": f"{tag}@example.com", "logins": 3}
    assert len({e["anonymousId"] for e in stored}) == 1, "one browser, one anonymousId"


# --- @rudderstack/analytics-js ---------------------------------------------------------------------------


def rudder_script(headwater: Any, tag: str, extra_options: str = "") -> str:
    return f"""
      const ra = new RudderAnalytics();
      ra.load("{headwater.write_key}", "{headwater.url}", {{
        configUrl: "{headwater.url}", polyfillIfRequired: false, {extra_options}
      }});
      {calls("ra", tag)}
    """


def check_rudder_js(headwater: Any, run: PageRun, start: datetime, tag: str) -> None:
    config = [r for r in run.to_data_plane("GET") if r.path.rstrip("/") == "/sourceConfig"]
    assert len(config) == 1, [r.url for r in run.requests]
    assert config[0].headers.get("authorization") == basic(headwater.write_key)
    assert parse_qs(urlsplit(config[0].url).query)["writeKey"] == [headwater.write_key]
    assert config[0].status == 200

    sent = run.sent()
    stored = read_back(headwater, sent)
    version = package_version("@rudderstack/analytics-js")
    library = {"name": "RudderLabs JavaScript SDK", "version": version}
    window = Window(start, datetime.now(UTC))
    check_all(stored, sent, window=window, channel="web", timestamp_rule="corrected", library=library)
    check_calls_mapped(stored, tag, traits_in_context=True)


def test_rudder_js_xhr(headwater, browser, page_origin):
    """Default delivery: one preflighted POST /v1/{type} per call, Basic auth, AnonymousId header."""
    tag = uuid.uuid4().hex
    start = now_ms()
    run = visit(
        browser, page_origin, headwater.url, "rudder-analytics.js", rudder_script(headwater, tag), events=3
    )
    posts = run.to_data_plane("POST")
    assert sorted(r.path for r in posts) == ["/v1/identify", "/v1/page", "/v1/track"]
    for req in posts:
        assert req.status == 200, (req.url, req.status)
        assert req.headers["authorization"] == basic(headwater.write_key)
        assert base64.b64decode(req.headers["anonymousid"]).decode() == req.body["anonymousId"]
    check_rudder_js(headwater, run, start, tag)


def test_rudder_js_batching(headwater, browser, page_origin):
    """queueOptions.batch: the three calls arrive as one POST /v1/batch."""
    tag = uuid.uuid4().hex
    start = now_ms()
    options = "queueOptions: {batch: {enabled: true, maxItems: 3, flushInterval: 500}},"
    run = visit(
        browser,
        page_origin,
        headwater.url,
        "rudder-analytics.js",
        rudder_script(headwater, tag, options),
        events=3,
    )
    posts = run.to_data_plane("POST")
    assert [r.path for r in posts] == ["/v1/batch"], [r.url for r in posts]
    assert posts[0].status == 200
    assert posts[0].headers["authorization"] == basic(headwater.write_key)
    check_rudder_js(headwater, run, start, tag)


def test_rudder_js_beacon(headwater, browser, page_origin):
    """useBeacon: navigator.sendBeacon to /beacon/v1/batch?writeKey=, a text/plain blob, no auth header."""
    tag = uuid.uuid4().hex
    start = now_ms()
    options = "useBeacon: true, beaconQueueOptions: {maxItems: 3, flushQueueInterval: 500},"
    run = visit(
        browser,
        page_origin,
        headwater.url,
        "rudder-analytics.js",
        rudder_script(headwater, tag, options),
        events=3,
    )
    posts = run.to_data_plane("POST")
    assert [r.path for r in posts] == ["/beacon/v1/batch"] * len(run.beacons), [r.url for r in posts]
    for req in posts:
        assert parse_qs(urlsplit(req.url).query)["writeKey"] == [headwater.write_key]
        assert "authorization" not in req.headers
    check_rudder_js(headwater, run, start, tag)


# --- @segment/analytics-next -----------------------------------------------------------------------------


def segment_script(headwater: Any, tag: str, extra_settings: str = "") -> str:
    host = urlsplit(headwater.url).netloc
    return f"""
      const sa = AnalyticsBrowser.load(
        {{writeKey: "{headwater.write_key}", cdnURL: "{headwater.url}"}},
        {{integrations: {{"Segment.io": {{apiHost: "{host}/v1", protocol: "http", {extra_settings}}}}}}},
      );
      {calls("sa", tag)}
    """


def check_segment_next(headwater: Any, run: PageRun, start: datetime, tag: str, *, paths: list[str]) -> None:
    settings = [r for r in run.to_data_plane("GET") if r.path.endswith("/settings")]
    assert [r.path for r in settings] == [f"/v1/projects/{headwater.write_key}/settings"]
    assert settings[0].status == 200

    posts = [r for r in run.to_data_plane("POST") if r.path != "/v1/m"]  # /v1/m: SDK telemetry, discarded
    assert sorted(r.path for r in posts) == sorted(paths), [r.url for r in posts]
    for req in posts:
        assert req.status == 200, (req.url, req.status)
        assert req.headers["content-type"] == "text/plain", "analytics-next posts text/plain"
        assert req.body["writeKey"] == headwater.write_key, "analytics-next authenticates in the body"

    sent = run.sent()
    stored = read_back(headwater, sent)
    version = "npm:next-" + package_version("@segment/analytics-next")
    check_all(
        stored,
        sent,
        window=Window(start, datetime.now(UTC)),
        channel=None,
        library={"name": "analytics.js", "version": version},
        timestamp_rule="corrected",
    )
    check_calls_mapped(stored, tag, traits_in_context=False)


def test_segment_next_standard(headwater, browser, page_origin):
    """Standard delivery: settings from /v1/projects/{key}/settings, then text/plain /v1/p, /v1/t, /v1/i."""
    tag = uuid.uuid4().hex
    start = now_ms()
    run = visit(
        browser, page_origin, headwater.url, "segment-analytics.js", segment_script(headwater, tag), events=3
    )
    check_segment_next(headwater, run, start, tag, paths=["/v1/i", "/v1/p", "/v1/t"])


def test_segment_next_batching(headwater, browser, page_origin):
    """deliveryStrategy batching: one text/plain POST /v1/b with body writeKey and a batch-level sentAt."""
    tag = uuid.uuid4().hex
    start = now_ms()
    strategy = 'deliveryStrategy: {strategy: "batching", config: {size: 3, timeout: 500}},'
    run = visit(
        browser,
        page_origin,
        headwater.url,
        "segment-analytics.js",
        segment_script(headwater, tag, strategy),
        events=3,
    )
    check_segment_next(headwater, run, start, tag, paths=["/v1/b"])
