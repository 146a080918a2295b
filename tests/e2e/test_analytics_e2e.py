"""The whole product: events in over HTTP, loaded and modelled by `headwater up`, read from the analytics API.

A real `headwater up` with models and the analytics API on; a small hand-designed event set sent to
`/v1/batch` the way the JavaScript SDK sends it (identify traits in `context.traits`, the page in
`context.page`, UTMs in `context.campaign`); the test waits for the loader, asks for a models run
through the CLI (which goes over the warehouse socket), then checks every report against numbers
worked out by hand below. Events carry explicit times on two fixed days, so every number but the
profiles' "days since" is independent of when the test runs.

    D0 = 2025-06-02 (Monday), D1 = 2025-06-03, UTC

    alice  device a1, Desktop   D0 10:00:00 page /            google / cpc / summer, referrer www.google.com
                                D0 10:01:00 Product Viewed
                                D0 10:02:00 Product Added
                                D0 10:03:00 identify alice    (email, name)
                                D0 10:04:00 Order Completed   revenue 30 (user alice)
    bob    device b1, Mobile    D0 11:00:00 page /products/sku-2   newsletter / email / june
                                D0 11:00:05 Product Viewed    (then leaves)
    carol  device c1, Desktop   D0 12:00:00 page /            no referrer, no utm
                                D0 12:00:20 page /pricing
                                D0 12:40:20 page /products/sku-3   (40 min later: a new session)
                                D0 12:40:30 Product Viewed
                                D0 12:40:40 identify carol    (logs in)
           device c2, Mobile    D1 09:00:00 identify carol    (logs in on her phone)
                                D1 09:00:10 page /account

Sessions (30-minute rule; engaged = > 10 s, or ≥ 2 page views, or a conversion; bounce = not engaged):
    S1 alice D0 10:00:00  240 s  1 view  Paid Search  engaged (conversion, 240 s)  1 order, 30
    S2 bob   D0 11:00:00    5 s  1 view  Email        bounce
    S3 carol D0 12:00:00   20 s  2 views Direct       engaged
    S4 carol D0 12:40:20   20 s  1 view  Direct       engaged (20 s > 10 s)
    S5 carol D1 09:00:00   10 s  1 view  Direct       bounce (exactly 10 s is not more than 10 s)
Persons: alice (a1), e2e-b1 (never logged in), carol (c1 and c2 both identified as carol).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner

from headwater.cli import main
from tests.conftest import RunningHeadwater, free_port, start_headwater

pytestmark = pytest.mark.slow

D0, D1 = "2025-06-02", "2025-06-03"
MAC_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Safari/605.1"
)
IPHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
HOST = "https://shop.example.com"


def _context(
    page: str, user_agent: str, session_id: int, *, query: str = "", referrer: str = "$direct"
) -> dict[str, Any]:
    url = HOST + page + (f"?{query}" if query else "")
    return {
        "library": {"name": "RudderLabs JavaScript SDK", "version": "3.7.0"},
        "userAgent": user_agent,
        "locale": "en-US",
        "sessionId": session_id,
        "page": {
            "path": page,
            "url": url,
            "title": page,
            "referrer": referrer,
            "search": f"?{query}" if query else "",
        },
    }


class Device:
    """One browser: the SDK's anonymousId, user agent and session id, and (after identify) its userId."""

    def __init__(self, anonymous_id: str, user_agent: str, session_id: int) -> None:
        self.anonymous_id = anonymous_id
        self.user_agent = user_agent
        self.session_id = session_id
        self.user_id: str | None = None
        self.events: list[dict[str, Any]] = []

    def _add(self, kind: str, message_id: str, day: str, clock: str, page: str, **fields: Any) -> None:
        stamp = f"{day}T{clock}.000Z"
        campaign = fields.pop("campaign", None)
        context = _context(page, self.user_agent, self.session_id, **fields.pop("page_context", {}))
        if campaign:
            context["campaign"] = campaign
        if "traits" in fields:
            context["traits"] = fields.pop("traits")  # the JS SDK sends identify traits in context.traits
        event: dict[str, Any] = {
            "type": kind,
            "messageId": message_id,
            "anonymousId": self.anonymous_id,
            "timestamp": stamp,
            "originalTimestamp": stamp,
            "channel": "web",
            "context": context,
            **fields,
        }
        if self.user_id:
            event["userId"] = self.user_id
        self.events.append(event)

    def page(self, message_id: str, day: str, clock: str, page: str, **fields: Any) -> None:
        self._add(
            "page", message_id, day, clock, page, properties={"path": page, "url": HOST + page}, **fields
        )

    def track(self, message_id: str, day: str, clock: str, page: str, event: str, **properties: Any) -> None:
        self._add("track", message_id, day, clock, page, event=event, properties=properties)

    def identify(self, message_id: str, day: str, clock: str, page: str, user_id: str, **traits: Any) -> None:
        self.user_id = user_id
        self._add(
            "identify", message_id, day, clock, page, userId=user_id, traits={"userId": user_id, **traits}
        )


def designed_events() -> list[dict[str, Any]]:
    a1 = Device("e2e-a1", MAC_UA, 1748858400000)
    query = "utm_source=google&utm_medium=cpc&utm_campaign=summer"
    a1.page(
        "a1-p1",
        D0,
        "10:00:00",
        "/",
        campaign={"source": "google", "medium": "cpc", "name": "summer"},
        page_context={"query": query, "referrer": "https://www.google.com/"},
    )
    a1.track("a1-view", D0, "10:01:00", "/", "Product Viewed", product_id="sku-1", price=30)
    a1.track("a1-add", D0, "10:02:00", "/", "Product Added", product_id="sku-1", cart_id="cart-1")
    a1.identify("a1-login", D0, "10:03:00", "/", "alice", email="alice@example.com", name="Alice")
    a1.track("a1-order", D0, "10:04:00", "/", "Order Completed", order_id="o-1", revenue=30, currency="USD")

    b1 = Device("e2e-b1", IPHONE_UA, 1748862000000)
    b1.page(
        "b1-p1",
        D0,
        "11:00:00",
        "/products/sku-2",
        campaign={"source": "newsletter", "medium": "email", "name": "june"},
        page_context={"query": "utm_source=newsletter&utm_medium=email&utm_campaign=june"},
    )
    b1.track("b1-view", D0, "11:00:05", "/products/sku-2", "Product Viewed", product_id="sku-2", price=50)

    c1 = Device("e2e-c1", MAC_UA, 1748865600000)
    c1.page("c1-p1", D0, "12:00:00", "/")
    c1.page("c1-p2", D0, "12:00:20", "/pricing", page_context={"referrer": HOST + "/"})
    c1.page("c1-p3", D0, "12:40:20", "/products/sku-3")
    c1.track("c1-view", D0, "12:40:30", "/products/sku-3", "Product Viewed", product_id="sku-3", price=20)
    c1.identify(
        "c1-login", D0, "12:40:40", "/products/sku-3", "carol", email="carol@example.com", name="Carol"
    )

    c2 = Device("e2e-c2", IPHONE_UA, 1748941200000)
    c2.identify("c2-login", D1, "09:00:00", "/account", "carol", email="carol@example.com")
    c2.page("c2-p1", D1, "09:00:10", "/account")
    return [*a1.events, *b1.events, *c1.events, *c2.events]


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def eventually(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except (httpx.HTTPError, AssertionError) as error:  # the API thread may still be starting
            last = error
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout} s; last seen: {last!r}"[:3000])
        time.sleep(0.2)


class Api:
    def __init__(self, url: str) -> None:
        self.url = url + "/api/v1"
        self.client = httpx.Client(timeout=30)

    def post(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(self.url + route, json=body)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def get(self, route: str, **params: Any) -> dict[str, Any]:
        response = self.client.get(self.url + route, params=params)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def product(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningHeadwater, Api, dict[str, Any]]]:
    """`up` with the events loaded and a models run done; the run record the CLI printed."""
    analytics_port = free_port()
    running = start_headwater(
        tmp_path_factory.mktemp("analytics-e2e"),
        workers=1,
        extra={
            # No cron runs: the runs are the after-loads one and the one this test asks for.
            "models": {
                "enabled": True,
                "schedule": "",
                "full_refresh_schedule": "",
                "min_interval_seconds": 1,
            },
            "analytics": {"enabled": True, "port": analytics_port},
        },
    )
    api = Api(f"http://127.0.0.1:{analytics_port}")
    try:
        events = designed_events()
        body = {"batch": events, "sentAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")}
        sent = httpx.post(f"{running.url}/v1/batch", json=body, headers=basic(running.write_key), timeout=10)
        assert sent.status_code == 200, sent.text

        def loaded() -> bool:
            warehouse = api.get("/health")["warehouse"]
            return bool(warehouse["loader"]["events_loaded"] >= len(events) and warehouse["lag_total"] == 0)

        eventually(loaded, "all events loaded")
        ran = CliRunner().invoke(main, ["models", "run", "--json", "--config", str(running.config_path)])
        assert ran.exit_code == 0, ran.output
        yield running, api, orjson.loads(ran.output)
    finally:
        api.client.close()
        assert running.stop() == 0, running.log_path.read_text()[-4000:]


def test_models_ran_and_pipeline_health(product: tuple[RunningHeadwater, Api, dict[str, Any]]) -> None:
    _, api, record = product
    assert (record["status"], record["trigger"]) == ("success", "cli"), record.get("error")
    health = api.get("/health")
    # 14 events sent, each loaded once; the models report shows this run as the latest.
    assert health["warehouse"]["loader"]["events_loaded"] == 14
    assert health["warehouse"]["loader"]["failed"] == 0 and health["warehouse"]["lag_total"] == 0
    assert health["models"]["last_run"]["run_id"] == record["run_id"]
    assert health["models"]["last_run"]["status"] == "success"
    assert health["models"]["scheduler"] == "running"


def test_overview(product: tuple[RunningHeadwater, Api, dict[str, Any]]) -> None:
    _, api, _ = product
    both = api.post("/overview", {"from": D0, "to": D1})
    assert both["previous_range"] == {"from": "2025-05-31", "to": "2025-06-01"}
    metrics = {name: metric["value"] for name, metric in both["metrics"].items()}
    # 3 persons; 5 sessions; views 1 + 1 + 2 + 1 + 1 = 6; bounces S2, S5 → 2/5; duration
    # (240 + 5 + 20 + 20 + 10) / 5 = 59 s; alice's one order of 30.
    assert metrics == {
        "users": 3,
        "sessions": 5,
        "page_views": 6,
        "bounce_rate": 0.4,
        "avg_session_duration_s": 59.0,
        "conversions": 1,
        "revenue": 30.0,
    }
    assert both["metrics"]["sessions"]["previous"] == 0 and both["metrics"]["sessions"]["change"] is None
    assert {p["path"]: p["count"] for p in both["top_pages"]} == {
        "/": 2,
        "/pricing": 1,
        "/products/sku-2": 1,
        "/products/sku-3": 1,
        "/account": 1,
    }
    assert both["top_pages"][0]["path"] == "/"
    assert (both["top_events"][0]["name"], both["top_events"][0]["count"]) == ("Product Viewed", 3)
    assert {e["name"]: e["count"] for e in both["top_events"]} == {
        "Product Viewed": 3,
        "Product Added": 1,
        "Order Completed": 1,
    }
    assert {(c["channel"], c["sessions"], c["users"]) for c in both["top_channels"]} == {
        ("Direct", 3, 1),
        ("Paid Search", 1, 1),
        ("Email", 1, 1),
    }
    # D1 alone against D0: 1 session (S5) vs 4 → change (1 - 4) / 4; 1 person vs 3.
    day1 = api.post("/overview", {"from": D1, "to": D1})["metrics"]
    assert (day1["sessions"]["value"], day1["sessions"]["previous"], day1["sessions"]["change"]) == (
        1,
        4,
        -0.75,
    )
    assert (day1["users"]["value"], day1["users"]["previous"]) == (1, 3)
    assert day1["bounce_rate"]["value"] == 1.0 and day1["bounce_rate"]["previous"] == 0.25  # S2 of S1..S4
    # Filters: Direct only → S3, S4, S5.
    direct = api.post("/overview", {"from": D0, "to": D1, "channel": "Direct"})["metrics"]
    assert (direct["sessions"]["value"], direct["users"]["value"], direct["page_views"]["value"]) == (3, 1, 4)


def test_funnel(product: tuple[RunningHeadwater, Api, dict[str, Any]]) -> None:
    _, api, _ = product
    answer = api.post(
        "/funnels",
        {
            "from": D0,
            "to": D1,
            "steps": [
                {"kind": "event", "name": "Product Viewed"},
                {"kind": "event", "name": "Product Added"},
                {"kind": "event", "name": "Order Completed"},
            ],
        },
    )
    steps = answer["steps"]
    # Viewed: alice, bob, carol; added and ordered: alice (10:01 → 10:02 → 10:04).
    assert [s["count"] for s in steps] == [3, 1, 1]
    assert steps[1]["conversion_from_previous"] == pytest.approx(1 / 3)
    assert steps[2]["conversion_from_first"] == pytest.approx(1 / 3)
    assert (steps[1]["median_time_to_convert_s"], steps[2]["median_time_to_convert_s"]) == (60.0, 120.0)
    assert steps[0]["dropped"] == 2
    assert answer["dropoffs"][0] == {"after_step": 1, "person_ids": ["carol", "e2e-b1"]}
    # By channel (first funnel event's session): Paid Search 1/1/1, Email 1/0/0, Direct 1/0/0.
    split = api.post(
        "/funnels",
        {
            "from": D0,
            "to": D1,
            "steps": [{"kind": "event", "name": "Product Viewed"}, {"kind": "page", "name": "/"}],
            "breakdown": "channel",
        },
    )
    # Page "/" after a view: nobody (alice and carol saw "/" before their view).
    assert [s["count"] for s in split["steps"]] == [3, 0]
    assert {b["value"]: [s["count"] for s in b["steps"]] for b in split["breakdown_values"]} == {
        "Paid Search": [1, 0],
        "Email": [1, 0],
        "Direct": [1, 0],
    }


def test_retention(product: tuple[RunningHeadwater, Api, dict[str, Any]]) -> None:
    _, api, _ = product
    answer = api.post("/retention", {"from": D0, "to": D1, "period": "day"})
    cohorts = {
        c["cohort"]: (c["size"], [(v["period"], v["count"], v["rate"]) for v in c["values"]])
        for c in answer["cohorts"]
    }
    # D0: alice, bob, carol; only carol comes back on D1. D1: carol (its own day only).
    assert cohorts == {D0: (3, [(0, 3, 1.0), (1, 1, pytest.approx(1 / 3))]), D1: (1, [(0, 1, 1.0)])}


def test_paths(product: tuple[RunningHeadwater, Api, dict[str, Any]]) -> None:
    _, api, _ = product
    answer = api.post("/paths", {"from": D0, "to": D1, "item_type": "pages"})
    # Path sessions (split on > 30 min): alice [/], bob [/products/sku-2], carol [/, /pricing],
    # [/products/sku-3], [/account]. Only nodes on a kept link are listed (PostHog: one-item paths
    # make no link); "/" at step 1 is on 2 session paths (alice's and carol's first).
    assert {(n["key"], n["value"]) for n in answer["nodes"]} == {("1_/", 2), ("2_/pricing", 1)}
    assert answer["links"] == [
        {"source": "1_/", "target": "2_/pricing", "value": 1, "average_conversion_time_s": 20.0}
    ]


def test_attribution(product: tuple[RunningHeadwater, Api, dict[str, Any]]) -> None:
    _, api, _ = product
    answer = api.post("/attribution", {"from": D0, "to": D1})
    models = {m["model"]: m for m in answer["models"]}
    assert set(models) == {
        "first_touch",
        "last_touch",
        "last_non_direct",
        "linear",
        "time_decay",
        "position_based",
        "markov",
    }
    # One conversion (alice's, 30) whose only touch is her Paid Search session: every rule model
    # credits it whole to Paid Search.
    for name in ("first_touch", "last_touch", "last_non_direct", "linear", "time_decay", "position_based"):
        model = models[name]
        assert (model["conversions"], model["revenue"]) == (1.0, 30.0), name
        assert [(r["value"], r["conversions"], r["revenue"]) for r in model["rows"]] == [
            ("Paid Search", 1.0, 30.0)
        ], name
    # Markov over the paths Paid Search → conversion, Email → null, Direct → null: P(conversion) =
    # 1/3; without Paid Search it is 0 (removal effect 1), without Email or Direct still 1/3 (0).
    markov = {r["value"]: r for r in models["markov"]["rows"]}
    assert markov["Paid Search"]["conversions"] == pytest.approx(1.0)
    assert markov["Paid Search"]["revenue"] == pytest.approx(30.0)
    assert markov["Paid Search"]["removal_effect"] == pytest.approx(1.0)
    assert all(r["conversions"] == pytest.approx(0.0) for name, r in markov.items() if name != "Paid Search")
    by_campaign = api.post(
        "/attribution", {"from": D0, "to": D1, "models": ["first_touch"], "group_by": "campaign"}
    )
    assert [(r["value"], r["revenue"]) for r in by_campaign["models"][0]["rows"]] == [("summer", 30.0)]


def test_users_profiles_and_timeline(product: tuple[RunningHeadwater, Api, dict[str, Any]]) -> None:
    _, api, _ = product
    everyone = api.get("/users")
    assert everyone["total"] == 3
    # Most recently seen first: carol (D1 09:00:10), bob (D0 11:00:05), alice (D0 10:04).
    assert [u["person_id"] for u in everyone["users"]] == ["carol", "e2e-b1", "alice"]
    found = api.get("/users", q="EXAMPLE.com")
    assert found["total"] == 2 and {u["email"] for u in found["users"]} == {
        "alice@example.com",
        "carol@example.com",
    }

    alice = api.get("/users/alice")["profile"]
    # 1 session; events = page + 3 tracks (the identify is not activity) = 4; 1 order of 30.
    assert (alice["user_id"], alice["email"], alice["name"]) == ("alice", "alice@example.com", "Alice")
    assert (alice["sessions"], alice["events"], alice["page_views"], alice["orders"]) == (1, 4, 1, 1)
    assert (alice["revenue"], alice["first_channel"], alice["first_campaign"]) == (
        30.0,
        "Paid Search",
        "summer",
    )

    carol = api.get("/users/carol")
    # c1 and c2 both identified as carol: 3 sessions (S3, S4, S5), events 3 + 1 + 1 pages/tracks on c1
    # plus 1 page on c2 = 5, page views 4, no orders, acquired Direct.
    profile = carol["profile"]
    assert (profile["n_anonymous_ids"], profile["sessions"], profile["events"], profile["page_views"]) == (
        2,
        3,
        5,
        4,
    )
    assert (profile["orders"], profile["first_channel"], profile["email"]) == (
        0,
        "Direct",
        "carol@example.com",
    )
    assert {(a["alias"], a["alias_type"]) for a in carol["aliases"]} == {
        ("e2e-c1", "anonymous_id"),
        ("e2e-c2", "anonymous_id"),
        ("carol", "user_id"),
    }

    timeline = api.get("/users/carol/events", limit=3)
    # Newest first: c2-p1 (D1 09:00:10), c2-login (09:00:00), c1-login (D0 12:40:40); 4 more remain.
    assert [e["message_id"] for e in timeline["events"]] == ["c2-p1", "c2-login", "c1-login"]
    assert timeline["has_more"] is True
    rest = api.get("/users/carol/events", limit=10, offset=3)
    assert [e["message_id"] for e in rest["events"]] == ["c1-view", "c1-p3", "c1-p2", "c1-p1"]
    assert rest["has_more"] is False
    assert [e["session_index"] for e in rest["events"]] == [2, 2, 1, 1]  # c1's two sessions
    missing = api.client.get(api.url + "/users/nobody")
    assert missing.status_code == 404 and missing.json()["error"]["message"]


def test_live_events_stream_a_new_event(product: tuple[RunningHeadwater, Api, dict[str, Any]]) -> None:
    running, api, _ = product
    message_id = f"live-{time.monotonic_ns()}"
    with (
        httpx.Client(timeout=httpx.Timeout(15.0)) as client,
        client.stream("GET", api.url + "/live", params={"last": 0}) as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == ": headwater live events"  # the stream took its starting positions
        event = {
            "type": "track",
            "event": "Live Check",
            "anonymousId": "e2e-live",
            "messageId": message_id,
        }
        sent = httpx.post(f"{running.url}/v1/track", json=event, headers=basic(running.write_key), timeout=10)
        assert sent.status_code == 200, sent.text
        deadline = time.monotonic() + 15
        received: dict[str, Any] | None = None
        for line in lines:
            if line.startswith("data: "):
                data = orjson.loads(line[len("data: ") :])
                if data["event"].get("messageId") == message_id:
                    received = data
                    break
            assert time.monotonic() < deadline, "the live stream did not deliver the event"
    assert received is not None
    assert received["event"]["event"] == "Live Check" and received["event"]["anonymousId"] == "e2e-live"
    assert isinstance(received["partition"], int) and isinstance(received["offset"], int)
