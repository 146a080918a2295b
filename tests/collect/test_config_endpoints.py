"""sourceConfig (RudderStack SDKs) and project settings (Segment SDKs)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.collect.conftest import OFF_KEY, UNKNOWN_KEY, WEB_KEY, Harness


@pytest.mark.parametrize("path", ["/sourceConfig", "/sourceConfig/"])
def test_source_config_with_basic_auth(hw: Harness, path: str) -> None:
    response = hw.get(path, auth=WEB_KEY, query={"p": "android", "v": "1.28.0", "bv": "34"})
    assert response.status == 200
    assert response.header("content-type") == "application/json"
    document = response.json()
    assert document["isHosted"] is False
    source = document["source"]
    assert {k: source[k] for k in ("id", "name", "writeKey", "enabled", "destinations")} == {
        "id": "src-web",
        "name": "web",
        "writeKey": WEB_KEY,
        "enabled": True,
        "destinations": [],
    }
    for required in ("workspaceId", "updatedAt"):
        assert isinstance(source[required], str) and source[required]
    assert source["config"]["statsCollection"] == {
        "errors": {"enabled": False},
        "metrics": {"enabled": False},
    }
    assert "dataplanes" not in source


def test_source_config_with_query_key_as_js_and_v2_sdks_send_it(hw: Harness) -> None:
    query = "p=npm&v=3.34.1&build=modern&writeKey=" + WEB_KEY + "&lockIntegrationsVersion=true"
    response = hw.get("/sourceConfig/", query=query)
    assert response.status == 200
    assert response.json()["source"]["id"] == "src-web"


def test_disabled_source_config_says_enabled_false(hw: Harness) -> None:
    response = hw.get("/sourceConfig", auth=OFF_KEY)
    assert response.status == 200
    assert response.json()["source"]["enabled"] is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({}, "failed to read writekey from header"), ({"auth": UNKNOWN_KEY}, "invalid write key")],
)
def test_source_config_refusals(hw: Harness, kwargs: dict[str, Any], message: str) -> None:
    response = hw.get("/sourceConfig", **kwargs)
    assert (response.status, response.text) == (401, message + "\n")


def test_source_config_head_has_headers_and_no_body(hw: Harness) -> None:
    get = hw.get("/sourceConfig/", auth=WEB_KEY)
    head = hw.request("HEAD", "/sourceConfig/", auth=WEB_KEY, query={"view": "ad"})
    assert head.status == 200 and head.body == b""
    assert head.header("content-length") == str(len(get.body))


def test_source_config_is_get_only(hw: Harness) -> None:
    response = hw.post("/sourceConfig", auth=WEB_KEY)
    assert response.status == 405
    assert response.header("allow") == "GET, HEAD, OPTIONS"


@pytest.mark.parametrize("prefix", ["/v1/projects/", "/projects/"])
def test_segment_settings_point_back_at_the_request_host(hw: Harness, prefix: str) -> None:
    response = hw.get(f"{prefix}{WEB_KEY}/settings")
    assert response.status == 200
    document = response.json()
    assert document["integrations"] == {
        "Segment.io": {"apiKey": WEB_KEY, "apiHost": "collect.test:8080/v1", "protocol": "http"}
    }
    assert document["metrics"] == {"sampleRate": 0}
    assert document["plan"] == {} and document["remotePlugins"] == [] and document["enabledMiddleware"] == {}


def test_segment_settings_use_the_public_url(make: Any) -> None:
    hw = make(public_url="https://collect.example.com/hw")
    document = hw.get(f"/v1/projects/{WEB_KEY}/settings").json()
    assert document["integrations"]["Segment.io"]["apiHost"] == "collect.example.com/hw/v1"
    assert document["integrations"]["Segment.io"]["protocol"] == "https"


def test_segment_settings_include_the_path_prefix_and_forwarded_proto(make: Any) -> None:
    hw = make(path_prefix="/collect")
    response = hw.get(f"/collect/v1/projects/{WEB_KEY}/settings", headers={"x-forwarded-proto": "https"})
    segment = response.json()["integrations"]["Segment.io"]
    assert (segment["apiHost"], segment["protocol"]) == ("collect.test:8080/collect/v1", "https")
    untrusted = make(trust_forwarded_for=False)
    response = untrusted.get(f"/v1/projects/{WEB_KEY}/settings", headers={"x-forwarded-proto": "https"})
    assert response.json()["integrations"]["Segment.io"]["protocol"] == "http"


def test_segment_settings_refusals(hw: Harness) -> None:
    assert (
        hw.get(f"/v1/projects/{UNKNOWN_KEY}/settings").status,
        hw.get(f"/v1/projects/{UNKNOWN_KEY}/settings").text,
    ) == (401, "invalid write key\n")
    assert hw.get(f"/v1/projects/{OFF_KEY}/settings").status == 404
    assert hw.get("/v1/projects//settings").status == 404
    assert hw.get(f"/v1/projects/{WEB_KEY}/x/settings").status == 404
    assert hw.post(f"/v1/projects/{WEB_KEY}/settings").status == 405
    head = hw.request("HEAD", f"/projects/{WEB_KEY}/settings")
    assert head.status == 200 and head.body == b""
