"""The same endpoints on PostgreSQL (a representative subset of the DuckDB tests' hand-computed values)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest

from headwater.analytics.server import serve
from headwater.analytics.settings import AnalyticsSettings
from headwater.warehouse.engines.postgres import PostgresEngine
from tests.analytics.conftest import post
from tests.analytics.dataset import load
from tests.analytics.test_funnels import F1_STEPS, MARCH, counts
from tests.analytics.test_reports import AUGUST, MAY, P1, R1, by_model, links, matrix
from tests.warehouse.engines_fixtures import fresh_postgres_dsn


@pytest.fixture(scope="module")
def pg_api() -> Iterator[httpx.Client]:
    with fresh_postgres_dsn() as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            load(conn, "postgres")
        engine = PostgresEngine(dsn)
        server = serve(AnalyticsSettings(port=0), engine, None, dict)
        try:
            with httpx.Client(base_url=str(server.url), timeout=30) as client:
                yield client
        finally:
            server.close()
            engine.close()


def test_funnels_on_postgres(pg_api: httpx.Client) -> None:
    body = {**MARCH, "steps": F1_STEPS, "window_value": 1}
    ordered = post(pg_api, "funnels", body)
    assert counts(ordered) == [4, 2, 1]
    assert ordered["steps"][1]["median_time_to_convert_s"] == 750.0
    assert ordered["dropoffs"][0]["person_ids"] == ["U3", "U4"]
    assert counts(post(pg_api, "funnels", {**body, "order": "strict"})) == [4, 0, 0]
    assert counts(post(pg_api, "funnels", {**body, "order": "unordered"})) == [4, 3, 2]
    excluded = post(pg_api, "funnels", {**body, "exclusions": [{"name": "Logout"}]})
    assert counts(excluded) == [3, 1, 1]
    broken = post(pg_api, "funnels", {**body, "breakdown": "channel"})
    assert {g["value"]: counts(g) for g in broken["breakdown_values"]} == {
        "Direct": [3, 1, 0],
        "Email": [1, 1, 1],
    }
    priced = [
        {"name": "View", "properties": [{"property": "price", "operator": "gt", "value": 10}]},
        *F1_STEPS[1:],
    ]
    assert counts(post(pg_api, "funnels", {**body, "steps": priced})) == [3, 1, 1]
    weird = [{"name": "View", "properties": [{"property": 'we"ird', "value": "x"}]}, *F1_STEPS[1:]]
    assert counts(post(pg_api, "funnels", {**body, "steps": weird})) == [2, 1, 1]


def test_reports_on_postgres(pg_api: httpx.Client) -> None:
    assert matrix(post(pg_api, "retention", R1))["2024-01-01"] == [2, 1, 1, 1]
    assert matrix(post(pg_api, "retention", {**R1, "cumulative": True}))["2024-01-01"] == [2, 2, 2, 1]
    assert matrix(post(pg_api, "retention", {**R1, "mode": "first_time"}))["2024-01-02"] == [1, 1, 0]
    assert links(post(pg_api, "paths", P1)) == {
        ("1_/", "2_/pricing"): 3,
        ("2_/pricing", "3_/signup"): 1,
        ("1_/", "2_/blog"): 1,
    }
    models = by_model(post(pg_api, "attribution", {**MAY, "models": ["linear", "markov"]}))
    assert models["linear"]["Email"] == (1.25, 75.0)
    assert models["markov"]["B"][0] == pytest.approx(4 / 3)
    overview = post(pg_api, "overview", AUGUST)
    assert overview["metrics"]["sessions"]["value"] == 3
    assert overview["metrics"]["bounce_rate"]["value"] == pytest.approx(2 / 3)
    assert overview["top_pages"][0] == {"path": "/a", "count": 3, "previous": 2, "change": 0.5}


def test_users_and_injection_on_postgres(pg_api: httpx.Client) -> None:
    assert pg_api.get("/api/v1/users", params={"q": "example.com"}).json()["total"] == 1
    timeline = pg_api.get("/api/v1/users/p-alice/events", params={"limit": 1}).json()
    assert [event["event_name"] for event in timeline["events"]] == ["Signup"]
    text = "'; DROP TABLE analytics.sessions; -- %s %(p0)s"
    assert counts(post(pg_api, "funnels", {**MARCH, "steps": [{"name": text}, {"name": text}]})) == [0, 0]
    assert pg_api.get("/api/v1/users", params={"q": text}).json()["total"] == 0
    assert post(pg_api, "overview", AUGUST)["metrics"]["sessions"]["value"] == 3  # the table is still there
