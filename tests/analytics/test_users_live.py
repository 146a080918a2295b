"""Users search/profile/timeline, pipeline health and live events from a real embedded log."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson

from headwater.analytics.server import serve
from headwater.analytics.settings import AnalyticsSettings
from headwater.log import LogSettings, open_log
from headwater.warehouse.engines.duckdb import DuckDBEngine
from tests.analytics.conftest import HEALTH


def test_search_profile_and_timeline(api: httpx.Client) -> None:
    found = api.get("/api/v1/users", params={"q": "EXAMPLE.COM"}).json()
    assert found["total"] == 1
    assert [user["person_id"] for user in found["users"]] == ["p-alice"]
    everyone = api.get("/api/v1/users", params={"limit": 1, "offset": 1}).json()
    assert everyone["total"] == 2
    assert [user["person_id"] for user in everyone["users"]] == ["p-alice"]  # bob was seen last: first page
    assert (
        api.get("/api/v1/users", params={"q": "liddell"}).json()["users"][0]["email"] == "alice@example.com"
    )

    person = api.get("/api/v1/users/p-alice").json()
    assert person["profile"]["name"] == "Alice Liddell"
    assert person["profile"]["revenue"] == 30.0
    assert [alias["alias"] for alias in person["aliases"]] == ["a-p-alice", "alice"]
    missing = api.get("/api/v1/users/nobody")
    assert missing.status_code == 404
    assert missing.json()["error"]["field"] == "person_id"

    page = api.get("/api/v1/users/p-alice/events", params={"limit": 2}).json()
    # Alice's 4 events, newest first: Signup 08-09 10:02, /b 10:01, then /a 10:00, /a 08-08.
    assert [event["event_name"] for event in page["events"]] == ["Signup", "page"]
    assert page["has_more"] is True
    rest = api.get("/api/v1/users/p-alice/events", params={"limit": 2, "offset": 2}).json()
    assert [event["ts"][:16] for event in rest["events"]] == ["2024-08-09T10:00", "2024-08-08T10:00"]
    assert rest["has_more"] is False
    earlier = api.get("/api/v1/users/p-alice/events", params={"before": "2024-08-09T00:00:00Z"}).json()
    assert len(earlier["events"]) == 1


def test_health(api: httpx.Client) -> None:
    assert api.get("/api/v1/health").json() == HEALTH


def _event(n: int) -> bytes:
    return orjson.dumps({"type": "track", "event": f"E{n}", "messageId": f"live-{n}"})


def test_live_events_stream_then_follow(tmp_path: Path, duckdb_engine: DuckDBEngine) -> None:
    log = open_log(LogSettings(directory=tmp_path / "log"))
    writer = log.open_writer()
    server = serve(AnalyticsSettings(port=0), duckdb_engine, log, dict)
    try:
        asyncio.run(writer.append([("src", _event(n)) for n in range(3)]))
        seen: list[dict[str, object]] = []
        with (
            httpx.Client(base_url=str(server.url), timeout=10) as client,
            client.stream("GET", "/api/v1/live", params={"last": 2}) as response,
        ):
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                seen.append(orjson.loads(line[6:]))
                if len(seen) == 2:
                    # The two newest were sent; now one more lands and must follow.
                    asyncio.run(writer.append([("src", _event(3))]))
                if len(seen) == 3:
                    break
        assert [item["event"]["event"] for item in seen] == ["E1", "E2", "E3"]  # type: ignore[index]
        assert [item["offset"] for item in seen] == [1, 2, 3]
        assert seen[0]["source_id"] == "src"
        # Without follow the stream ends after the recent events.
        with httpx.Client(base_url=str(server.url), timeout=10) as client:
            body = client.get("/api/v1/live", params={"last": 10, "follow": "false"}).text
        assert body.count("event: event") == 4
    finally:
        server.close()
        asyncio.run(writer.aclose())
        log.close()
