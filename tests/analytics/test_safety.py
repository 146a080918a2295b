"""Validation errors name their field; SQL in any string parameter is refused or harmless."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from headwater.analytics.openapi import document
from headwater.warehouse.engines.duckdb import DuckDBEngine
from tests.analytics.conftest import post

MARCH = {"from": "2024-03-01", "to": "2024-03-31"}
STEPS = [{"name": "View"}, {"name": "AddToCart"}]
PLAN_GT = {"property": "plan", "operator": "gt", "value": 1}


def with_view_filter(**condition: Any) -> dict[str, Any]:
    return {**MARCH, "steps": [{"name": "View", "properties": [condition]}, {"name": "AddToCart"}]}


def error(api: httpx.Client, path: str, body: dict[str, Any], status: int) -> dict[str, Any]:
    return post(api, path, body, status)["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("overview", {"from": "2024-03-05", "to": "2024-03-01"}, 422, "to"),
        ("overview", {"from": "yesterday", "to": "2024-03-01"}, 422, "from"),
        ("overview", {"to": "2024-03-01"}, 422, "from"),
        ("overview", {**MARCH, "top": 0}, 422, "top"),
        ("overview", {**MARCH, "bogus": 1}, 422, "bogus"),
        ("funnels", {**MARCH, "steps": [{"name": "View"}]}, 422, "steps"),
        ("funnels", {**MARCH, "steps": STEPS, "window_unit": "year"}, 422, "window_unit"),
        ("funnels", {**MARCH, "steps": STEPS, "order": "sideways"}, 422, "order"),
        ("funnels", {**MARCH, "steps": STEPS, "breakdown": "email"}, 422, "breakdown"),
        ("funnels", {**MARCH, "steps": STEPS, "exclusions": [{"name": "X", "to_step": 3}]}, 422,
         "exclusions"),
        ("funnels", with_view_filter(property="price", operator="gt"), 422, "steps.0.properties.0"),
        ("funnels", with_view_filter(property="nope", value=1), 400, "steps.0.properties.0.property"),
        ("funnels", with_view_filter(property="price", value="ten"), 400, "steps.0.properties.0.value"),
        ("funnels", {**MARCH, "steps": STEPS, "properties": [PLAN_GT]},
         400, "properties.0.operator"),
        ("retention", {**MARCH, "period": "hour"}, 422, "period"),
        ("paths", {**MARCH, "start": "/", "end": "/x"}, 422, None),
        ("attribution", {**MARCH, "models": ["markov"], "group_by": "campaign"}, 422, "group_by"),
    ],
)  # fmt: skip
def test_validation_errors_name_the_field(
    api: httpx.Client, path: str, body: dict[str, Any], status: int, field: str | None
) -> None:
    found = error(api, path, body, status)
    assert found["message"]
    assert found["field"] == field


def test_query_parameter_errors(api: httpx.Client) -> None:
    response = api.get("/api/v1/users", params={"limit": 0})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "limit"
    assert api.get("/api/v1/nowhere").json()["error"]["message"] == "Not Found"
    bad_json = api.post(
        "/api/v1/overview", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 422


INJECTIONS = [
    "'; DROP TABLE analytics.sessions; --",
    "x' OR '1'='1",
    '"; DROP TABLE "analytics"."sessions"; --',
    "View') OR TRUE --",
    "$1",
    "%(p0)s",
    ":p0",
]


def sessions_count(engine: DuckDBEngine) -> int:
    return int(engine.query("SELECT count(*) FROM analytics.sessions").rows[0][0])


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_is_harmless(api: httpx.Client, duckdb_engine: DuckDBEngine, text: str) -> None:
    before = sessions_count(duckdb_engine)
    steps = [{"name": text}, {"kind": "page", "name": text}]
    assert [s["count"] for s in post(api, "funnels", {**MARCH, "steps": steps})["steps"]] == [0, 0]
    assert (
        post(api, "overview", {**MARCH, "channel": text, "source": text, "device_category": text})["metrics"][
            "sessions"
        ]["value"]
        == 0
    )
    assert post(api, "paths", {**MARCH, "start": text})["links"] == []
    assert post(api, "retention", {**MARCH, "start_event": {"name": text}})["cohorts"][0]["size"] == 0
    assert post(api, "attribution", {**MARCH, "channel": text})["models"][0]["rows"] == []
    # A property name that is not a column is refused before any SQL is written with it.
    refused = error(api, "overview", {**MARCH, "properties": [{"property": text, "value": text}]}, 400)
    assert refused["field"] == "properties.0.property"
    # As a value it is only compared.
    value = post(
        api, "funnels", {**MARCH, "steps": STEPS, "properties": [{"property": "plan", "value": text}]}
    )
    assert value["steps"][0]["count"] == 0
    assert api.get("/api/v1/users", params={"q": text}).json()["total"] == 0
    assert api.get(f"/api/v1/users/{text}").status_code in (404, 422)
    assert api.get(f"/api/v1/users/{text}/events").json()["events"] == []
    assert sessions_count(duckdb_engine) == before == 5


def test_openapi_document_is_served_and_committed() -> None:
    committed = Path(__file__).resolve().parents[2] / "docs" / "analytics-openapi.json"
    assert orjson.loads(committed.read_bytes()) == document(), (
        "regenerate: python -m headwater.analytics.openapi > docs/analytics-openapi.json"
    )


def test_openapi_route(api: httpx.Client) -> None:
    served = api.get("/api/v1/openapi.json").json()
    assert served == document()
    assert set(served["paths"]) >= {
        "/api/v1/overview", "/api/v1/funnels", "/api/v1/retention", "/api/v1/paths", "/api/v1/attribution",
        "/api/v1/users", "/api/v1/users/{person_id}", "/api/v1/users/{person_id}/events", "/api/v1/live",
        "/api/v1/health",
    }  # fmt: skip
