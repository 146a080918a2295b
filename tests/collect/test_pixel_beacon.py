"""The pixel (GET, always a GIF) and beacon (POST, key in the query) endpoint families."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.collect.conftest import GOOD_EVENT, OFF_KEY, UNKNOWN_KEY, WEB_KEY, Harness


def assert_gif(response: Any) -> None:
    assert response.status == 200
    assert response.header("content-type") == "image/gif"
    assert len(response.body) == 43
    assert response.body.startswith(b"GIF89a") and response.body.endswith(b";")


def test_pixel_page_builds_nested_json_from_dotted_keys(hw: Harness) -> None:
    query = [
        ("writeKey", WEB_KEY),
        ("anonymousId", '"a-1"'),
        ("name", "Home"),
        ("context.page.url", "https://x.example/?q=1"),
        ("context.page.title", "Hi"),
        ("properties.k", "v"),
        ("properties.n", "42"),
        ("type", "track"),
    ]
    response = hw.get("/pixel/v1/page", query=query, client=("192.0.2.9", 1))
    assert_gif(response)
    stored = hw.writer.last()
    assert stored["type"] == "page"
    assert stored["anonymousId"] == "a-1"
    assert stored["name"] == "Home"
    assert stored["context"] == {"page": {"url": "https://x.example/?q=1", "title": "Hi"}}
    assert stored["properties"] == {"k": "v", "n": "42"}
    assert stored["channel"] == "web" and stored["integrations"] == {"All": True}
    assert stored["request_ip"] == "192.0.2.9", "rudder's empty request_ip bug is fixed"
    assert "writeKey" not in stored and WEB_KEY.encode() not in hw.writer.records[-1][1]
    assert stored["originalTimestamp"] == stored["sentAt"] == stored["receivedAt"] == stored["timestamp"]


def test_pixel_first_value_wins_and_blank_page_name_is_unknown_page(hw: Harness) -> None:
    query = [
        ("writeKey", WEB_KEY),
        ("anonymousId", "a"),
        ("name", ""),
        ("name", "Second"),
        ("context.x", "1"),
        ("context", "flat"),
    ]
    assert_gif(hw.get("/pixel/v1/page", query=query))
    stored = hw.writer.last()
    assert stored["name"] == "Unknown Page"
    assert stored["context"] == "flat", "a later key replaces an earlier object"


def test_pixel_track_with_event(hw: Harness) -> None:
    assert_gif(hw.get("/pixel/v1/track", query={"writeKey": WEB_KEY, "anonymousId": "a", "event": "Opened"}))
    stored = hw.writer.last()
    assert (stored["type"], stored["event"]) == ("track", "Opened")


def test_pixel_uses_forwarded_for_like_every_route(hw: Harness) -> None:
    hw.get(
        "/pixel/v1/page",
        query={"writeKey": WEB_KEY, "anonymousId": "a"},
        headers={"x-forwarded-for": "203.0.113.1"},
    )
    assert hw.writer.last()["request_ip"] == "203.0.113.1"


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/pixel/v1/track", {"writeKey": WEB_KEY, "anonymousId": "a", "event": ""}),
        ("/pixel/v1/page", {"anonymousId": "a"}),
        ("/pixel/v1/page", {"writeKey": UNKNOWN_KEY, "anonymousId": "a"}),
        ("/pixel/v1/page", {"writeKey": OFF_KEY, "anonymousId": "a"}),
        ("/pixel/v1/page", {"writeKey": WEB_KEY}),
        ("/pixel/v1/page", {"writeKey": WEB_KEY, "anonymousId": "a", "a" + ".a" * 400: "deep"}),
    ],
)
def test_pixel_answers_the_gif_even_when_nothing_is_stored(
    hw: Harness, path: str, query: dict[str, str]
) -> None:
    assert_gif(hw.get(path, query=query))
    assert hw.writer.records == []
    hw.assert_still_serves()


def test_pixel_answers_the_gif_when_the_log_fails(hw: Harness) -> None:
    hw.writer.fail = OSError("disk on fire")
    assert_gif(hw.get("/pixel/v1/page", query={"writeKey": WEB_KEY, "anonymousId": "a"}))


def test_pixel_is_get_only(hw: Harness) -> None:
    assert hw.post("/pixel/v1/page", query={"writeKey": WEB_KEY}).status == 405


def test_beacon_takes_the_key_from_the_query_and_a_text_plain_body(hw: Harness) -> None:
    body = orjson.dumps({"batch": [GOOD_EVENT, GOOD_EVENT], "sentAt": "2026-08-01T10:00:00.000Z"})
    response = hw.post(
        "/beacon/v1/batch", query={"writeKey": WEB_KEY}, body=body, headers={"content-type": "text/plain"}
    )
    assert (response.status, response.body) == (200, b"ok")
    assert len(hw.writer.records) == 2 and hw.writer.calls == 1


def test_beacon_without_a_key_names_the_query(hw: Harness) -> None:
    response = hw.post("/beacon/v1/batch", json={"batch": [GOOD_EVENT]})
    assert (response.status, response.body) == (401, b"failed to read writekey from query params\n")
    response = hw.post("/beacon/v1/batch", query={"writeKey": UNKNOWN_KEY}, json={"batch": [GOOD_EVENT]})
    assert (response.status, response.body) == (401, b"invalid write key\n")
    hw.assert_still_serves()
