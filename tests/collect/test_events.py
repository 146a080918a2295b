"""Wire tests for the event routes: every route, every auth variant in order, and the exact replies."""

from __future__ import annotations

import base64

import orjson
import pytest

from tests.collect.asgi import basic
from tests.collect.conftest import (
    GOOD_EVENT,
    LENIENT_KEY,
    OFF_KEY,
    RUDDER_KEY,
    UNKNOWN_KEY,
    WEB_KEY,
    Harness,
)

TEXT = "text/plain; charset=utf-8"
LONG_ROUTES = ["track", "identify", "page", "screen", "group", "alias"]


@pytest.mark.parametrize("kind", LONG_ROUTES)
def test_single_event_route_forces_its_type(hw: Harness, kind: str) -> None:
    response = hw.post(f"/v1/{kind}", auth=WEB_KEY, json={**GOOD_EVENT, "type": "something-else"})
    assert (response.status, response.body, response.header("content-type")) == (200, b"ok", TEXT)
    stored = hw.writer.last()
    assert stored["type"] == kind
    assert hw.writer.records[-1][0] == "src-web"


@pytest.mark.parametrize("kind", LONG_ROUTES)
def test_segment_short_alias_maps_to_its_type_with_json_success(hw: Harness, kind: str) -> None:
    event = {k: v for k, v in GOOD_EVENT.items() if k != "type"}
    response = hw.post(
        f"/v1/{kind[0]}", json={**event, "writeKey": WEB_KEY}, headers={"content-type": "text/plain"}
    )
    assert response.status == 200
    assert response.json() == {"success": True}
    assert response.header("content-type") == "application/json"
    assert hw.writer.last()["type"] == kind


@pytest.mark.parametrize("path", ["/v1/batch", "/v1/import", "/v1/b"])
def test_batch_routes_keep_each_events_type(hw: Harness, path: str) -> None:
    batch = [
        {"type": "identify", "userId": "u-1", "traits": {"email": "x@y.z"}},
        {"type": "page", "anonymousId": "a-1", "name": "Home"},
        {"type": "screen", "anonymousId": "a-1", "event": "Home"},
    ]
    response = hw.post(path, auth=WEB_KEY, json={"batch": batch})
    assert response.status == 200
    assert [e["type"] for e in hw.writer.events()] == ["identify", "page", "screen"]
    assert hw.writer.calls == 1, "one request is one append"


def test_v1_m_is_accepted_and_discarded_without_auth(hw: Harness) -> None:
    response = hw.post("/v1/m", body=b'{"series":[{"type":"Counter","metric":"x","value":1}]}')
    assert response.status == 200
    assert hw.writer.records == []


# -- auth order ------------------------------------------------------------------------------------


def test_basic_auth_username_is_the_write_key(hw: Harness) -> None:
    response = hw.post("/v1/track", json=GOOD_EVENT, headers={"authorization": basic(WEB_KEY, "ignored")})
    assert response.status == 200
    assert hw.writer.records[-1][0] == "src-web"


def test_basic_wins_over_query_and_body(hw: Harness) -> None:
    response = hw.post(
        "/v1/batch",
        auth=RUDDER_KEY,
        query={"writeKey": UNKNOWN_KEY},
        json={"writeKey": UNKNOWN_KEY, "batch": [{**GOOD_EVENT, "writeKey": UNKNOWN_KEY}]},
    )
    assert response.status == 200
    assert hw.writer.records[-1][0] == "src-rudder"


def test_a_wrong_key_in_the_first_place_is_not_rescued_by_a_later_one(hw: Harness) -> None:
    response = hw.post(
        "/v1/track", auth=UNKNOWN_KEY, query={"writeKey": WEB_KEY}, json={**GOOD_EVENT, "writeKey": WEB_KEY}
    )
    assert (response.status, response.body) == (401, b"invalid write key\n")
    assert hw.writer.records == []


def test_query_write_key_wins_over_body(hw: Harness) -> None:
    response = hw.post(
        "/v1/batch", query={"writeKey": RUDDER_KEY}, json={"writeKey": WEB_KEY, "batch": [GOOD_EVENT]}
    )
    assert response.status == 200
    assert hw.writer.records[-1][0] == "src-rudder"


def test_body_write_key_authenticates_segment_style(hw: Harness) -> None:
    response = hw.post(
        "/v1/batch", json={"writeKey": WEB_KEY, "batch": [GOOD_EVENT], "sentAt": "2026-08-01T10:00:00.000Z"}
    )
    assert response.status == 200
    assert response.json() == {"success": True}
    assert hw.writer.records[-1][0] == "src-web"


def test_first_batch_events_write_key_authenticates_batch_routes(hw: Harness) -> None:
    batch = [{**GOOD_EVENT, "writeKey": WEB_KEY}, {**GOOD_EVENT, "writeKey": WEB_KEY}]
    response = hw.post("/v1/b", json={"batch": batch})
    assert response.status == 200
    assert len(hw.writer.records) == 2


def test_event_write_key_beyond_the_first_event_is_not_looked_at(hw: Harness) -> None:
    batch = [GOOD_EVENT, {**GOOD_EVENT, "writeKey": WEB_KEY}]
    response = hw.post("/v1/batch", json={"batch": batch})
    assert (response.status, response.body) == (401, b"failed to read writekey from header\n")


def test_bearer_alone_is_not_a_write_key(hw: Harness) -> None:
    response = hw.post("/v1/batch", json={"batch": [GOOD_EVENT]}, headers={"authorization": "Bearer abc.def"})
    assert (response.status, response.body) == (401, b"failed to read writekey from header\n")


def test_bearer_with_body_write_key_is_accepted(hw: Harness) -> None:
    response = hw.post(
        "/v1/batch",
        json={"writeKey": WEB_KEY, "batch": [GOOD_EVENT]},
        headers={"authorization": "Bearer abc.def"},
    )
    assert response.status == 200


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Basic " + base64.b64encode(b":").decode(),
        "Basic !!!not-base64",
        "Basic " + base64.b64encode(b"nocolon").decode(),
        "Digest abc",
    ],
)
def test_missing_write_key_is_401(hw: Harness, authorization: str | None) -> None:
    headers = {"authorization": authorization} if authorization else {}
    response = hw.post("/v1/track", json=GOOD_EVENT, headers=headers)
    assert (response.status, response.body) == (401, b"failed to read writekey from header\n")
    assert response.header("content-type") == TEXT
    hw.assert_still_serves()


def test_unknown_write_key_is_401_before_the_body_is_read(hw: Harness) -> None:
    response = hw.post("/v1/batch", auth=UNKNOWN_KEY, body=b"x" * 10_000)
    assert (response.status, response.body) == (401, b"invalid write key\n")
    assert response.receive_calls == 0


def test_disabled_source_is_404(hw: Harness) -> None:
    response = hw.post("/v1/track", auth=OFF_KEY, json=GOOD_EVENT)
    assert (response.status, response.body) == (404, b"source is disabled\n")
    assert hw.writer.records == []
    hw.assert_still_serves()


def test_disabled_source_by_body_key_is_404_json(hw: Harness) -> None:
    response = hw.post("/v1/batch", json={"writeKey": OFF_KEY, "batch": [GOOD_EVENT]})
    assert response.status == 404
    assert response.json() == {"code": "source_disabled", "message": "source is disabled"}


# -- bodies and their 400s -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/v1/track", b"{not json", 400, "invalid json"),
        ("/v1/track", b"", 400, "invalid json"),
        ("/v1/track", b"[1, 2]", 400, "event is not a valid rudder event"),
        ("/v1/track", b'"a string"', 400, "event is not a valid rudder event"),
        ("/v1/track", b"null", 400, "event is not a valid rudder event"),
        ("/v1/batch", b"{}", 400, "empty batch payload"),
        ("/v1/batch", b'{"batch": []}', 400, "empty batch payload"),
        ("/v1/batch", b'{"batch": null}', 400, "empty batch payload"),
        ("/v1/batch", b"[]", 400, "empty batch payload"),
        ("/v1/batch", b"[{}]", 400, "empty batch payload"),
        ("/v1/batch", b'{"batch": "nope"}', 400, "event is not a valid rudder event"),
        ("/v1/batch", b'{"batch": [{"anonymousId": "a"}, 7]}', 400, "event is not a valid rudder event"),
        (
            "/v1/batch",
            b'{"batch": [{"anonymousId": "a"}, {"type": "track"}]}',
            400,
            "request neither has anonymousId nor userId",
        ),
        (
            "/v1/track",
            b'{"anonymousId": "  ", "userId": ""}',
            400,
            "request neither has anonymousId nor userId",
        ),
        (
            "/v1/track",
            b'{"anonymousId": null, "userId": null}',
            400,
            "request neither has anonymousId nor userId",
        ),
        ("/v1/track", b'{"anonymousId": "\\u0000"}', 400, "request neither has anonymousId nor userId"),
        ("/v1/track", b'{"userId": "\\t\\n"}', 400, "request neither has anonymousId nor userId"),
    ],
)
def test_bad_bodies_get_rudders_400s(hw: Harness, path: str, body: bytes, status: int, message: str) -> None:
    response = hw.post(path, auth=WEB_KEY, body=body)
    assert (response.status, response.text) == (status, message + "\n")
    assert response.header("content-type") == TEXT
    assert hw.writer.records == []
    hw.assert_still_serves()


def test_a_batch_that_is_an_object_is_a_batch_of_one(hw: Harness) -> None:
    response = hw.post("/v1/batch", auth=WEB_KEY, json={"batch": GOOD_EVENT})
    assert response.status == 200
    assert hw.writer.last()["event"] == "Signed Up"


def test_one_bad_event_refuses_the_whole_batch(hw: Harness) -> None:
    batch = [GOOD_EVENT] * 5 + [{"type": "track", "event": "no ids"}] + [GOOD_EVENT] * 5
    response = hw.post("/v1/batch", auth=WEB_KEY, json={"batch": batch})
    assert (response.status, response.body) == (400, b"request neither has anonymousId nor userId\n")
    assert hw.writer.calls == 0


@pytest.mark.parametrize(
    "ids", [{"userId": 12345}, {"userId": 0}, {"anonymousId": 1.5}, {"userId": " u "}, {"userId": True}]
)
def test_non_string_and_padded_ids_count(hw: Harness, ids: dict[str, object]) -> None:
    response = hw.post("/v1/track", auth=WEB_KEY, json={"event": "x", **ids})
    assert response.status == 200
    for key, value in ids.items():
        assert hw.writer.last()[key] == value, "ids are stored as sent"


def test_missing_type_and_event_are_accepted(hw: Harness) -> None:
    response = hw.post(
        "/v1/batch", auth=WEB_KEY, json={"batch": [{"anonymousId": "a"}, {"type": "track", "userId": "u"}]}
    )
    assert response.status == 200
    assert len(hw.writer.records) == 2
    metrics = hw.get("/metrics").text
    assert 'headwater_collect_event_warnings_total{warning="missing_type"} 1.0' in metrics
    assert 'headwater_collect_event_warnings_total{warning="track_without_event"} 1.0' in metrics


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/json;charset=UTF-8", "application/x-www-form-urlencoded"],
)
def test_content_type_is_ignored(hw: Harness, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = hw.post("/v1/track", auth=WEB_KEY, body=orjson.dumps(GOOD_EVENT), headers=headers)
    assert response.status == 200


def test_segment_style_errors_are_json_with_rudders_messages(hw: Harness) -> None:
    response = hw.post("/v1/t", json={"writeKey": UNKNOWN_KEY, "anonymousId": "a"})
    assert response.status == 401
    assert response.header("content-type") == "application/json"
    assert response.json() == {"code": "unauthorized", "message": "invalid write key"}
    response = hw.post("/v1/b", json={"writeKey": WEB_KEY, "batch": [{"type": "track"}]})
    assert response.status == 400
    assert response.json()["message"] == "request neither has anonymousId nor userId"
    response = hw.post("/v1/batch", json={"writeKey": WEB_KEY, "batch": []})
    assert response.json() == {"code": "invalid_request", "message": "empty batch payload"}
    response = hw.post("/v1/p", body=b"{oops")
    assert response.json() == {"code": "invalid_request", "message": "invalid json"}


def test_lenient_source_does_not_change_request_level_refusals(hw: Harness) -> None:
    response = hw.post("/v1/batch", auth=LENIENT_KEY, body=b'{"batch": []}')
    assert (response.status, response.body) == (400, b"empty batch payload\n")
