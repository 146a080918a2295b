"""Routing: unknown paths, wrong methods, the path prefix, HEAD, health, robots, CORS, lifespan."""

from __future__ import annotations

from typing import Any

import pytest

from tests.collect.conftest import GOOD_EVENT, UNKNOWN_KEY, WEB_KEY, Harness


@pytest.mark.parametrize(
    "path", ["/nope", "/v1/trackx", "/v1/track/", "/v2/batch", "/v1/x", "/sourceConfig/x"]
)
def test_unknown_paths_are_404_plain_text(hw: Harness, path: str) -> None:
    response = hw.post(path, auth=WEB_KEY, json=GOOD_EVENT)
    assert (response.status, response.body) == (404, b"404 page not found\n")
    assert response.header("content-type") == "text/plain; charset=utf-8"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v1/track", "POST, OPTIONS"),
        ("PUT", "/v1/batch", "POST, OPTIONS"),
        ("POST", "/health", "GET, HEAD, OPTIONS"),
        ("DELETE", "/pixel/v1/page", "GET, OPTIONS"),
    ],
)
def test_wrong_method_is_405_with_allow(hw: Harness, method: str, path: str, allow: str) -> None:
    response = hw.request(method, path, auth=WEB_KEY)
    assert (response.status, response.body) == (405, b"method not allowed\n")
    assert response.header("allow") == allow


def test_health_and_root_answer_rudder_like_json(hw: Harness) -> None:
    for path in ("/health", "/"):
        response = hw.get(path)
        assert response.status == 200
        document = response.json()
        assert {k: document[k] for k in ("server", "db", "acceptingEvents", "appType")} == {
            "server": "UP",
            "db": "UP",
            "acceptingEvents": "TRUE",
            "appType": "EMBEDDED",
        }


def test_robots_txt(hw: Harness) -> None:
    response = hw.get("/robots.txt")
    assert (response.status, response.body) == (200, b"User-agent: * \nDisallow: / \n")


def test_version(hw: Harness) -> None:
    from headwater import __version__

    assert hw.get("/version").json() == {"version": __version__}


def test_head_on_health_has_no_body(hw: Harness) -> None:
    response = hw.request("HEAD", "/health")
    assert response.status == 200 and response.body == b""
    assert int(response.header("content-length") or 0) > 0


def test_path_prefix_is_required_except_for_ops_paths(make: Any) -> None:
    hw = make(path_prefix="/collect")
    assert hw.post("/collect/v1/track", auth=WEB_KEY, json=GOOD_EVENT).status == 200
    assert hw.post("/v1/track", auth=WEB_KEY, json=GOOD_EVENT).status == 404
    assert hw.post("/collectx/v1/track", auth=WEB_KEY, json=GOOD_EVENT).status == 404
    assert hw.get("/collect/sourceConfig/", auth=WEB_KEY).status == 200
    assert hw.get("/collect").status == 200  # the prefix alone is the root: health
    for path in ("/health", "/collect/health", "/metrics", "/robots.txt"):
        assert hw.get(path).status == 200, path


def test_options_is_a_preflight_on_every_path(hw: Harness) -> None:
    headers = {
        "origin": "https://shop.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type,anonymousid,sentat,rsa-retry-attempt",
    }
    for path in ("/v1/track", "/sourceConfig/", "/anything/at/all", "/beacon/v1/batch"):
        response = hw.request("OPTIONS", path, headers=headers)
        assert response.status == 204 and response.body == b""
        assert response.header("access-control-allow-origin") == "https://shop.example"
        assert response.header("access-control-allow-credentials") == "true"
        assert response.header("access-control-allow-methods") == "GET, POST, HEAD, OPTIONS"
        assert response.header("access-control-allow-headers") == headers["access-control-request-headers"]
        assert response.header("access-control-max-age") == "900"
        assert "Origin" in (response.header("vary") or "")
    assert hw.writer.records == []


def test_options_without_origin_is_still_204(hw: Harness) -> None:
    response = hw.request("OPTIONS", "/v1/batch")
    assert response.status == 204
    assert response.header("access-control-allow-origin") is None


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("POST", "/v1/track", {"auth": WEB_KEY, "json": GOOD_EVENT}, 200),
        ("POST", "/v1/track", {"auth": UNKNOWN_KEY, "json": GOOD_EVENT}, 401),
        ("POST", "/v1/track", {"auth": WEB_KEY, "body": b"{"}, 400),
        ("GET", "/nope", {}, 404),
        ("GET", "/pixel/v1/page", {"query": {"writeKey": WEB_KEY, "anonymousId": "a"}}, 200),
        ("GET", "/sourceConfig/", {"auth": WEB_KEY}, 200),
        ("GET", "/health", {}, 200),
    ],
)
def test_every_response_echoes_the_origin_with_credentials(
    hw: Harness, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    headers = {"origin": "http://localhost:3000"}
    response = hw.request(method, path, headers=headers, **kwargs)
    assert response.status == status
    assert response.header("access-control-allow-origin") == "http://localhost:3000"
    assert response.header("access-control-allow-credentials") == "true"
    assert response.header("vary") == "Origin"


def test_without_origin_there_is_vary_but_no_allow_origin(hw: Harness) -> None:
    response = hw.track()
    assert response.header("vary") == "Origin"
    assert response.header("access-control-allow-origin") is None


def test_lifespan_and_websocket_scopes(hw: Harness) -> None:
    async def lifespan() -> list[dict[str, Any]]:
        inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return inbox.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await hw.app({"type": "lifespan"}, receive, send)
        await hw.app({"type": "websocket", "path": "/"}, receive, send)
        return sent

    assert hw.client.run(lifespan()) == [
        {"type": "lifespan.startup.complete"},
        {"type": "lifespan.shutdown.complete"},
    ]
