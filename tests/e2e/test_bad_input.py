"""Bad input over real HTTP to a running `headwater up`: a clear 4xx, and the workers keep serving.

The ASGI-level tests in tests/collect cover each rule; these send the nastiest inputs through the
real server (uvicorn, httptools, chunked bodies) and check no worker died and nothing was stored.
"""

from __future__ import annotations

import base64
import gzip
import uuid
import zlib

import httpx
import orjson
import pytest

from tests.conftest import RunningHeadwater

pytestmark = pytest.mark.slow


def auth(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def deep(levels: int) -> bytes:
    return b'{"anonymousId":"a","properties":' + b"[" * levels + b"]" * levels + b"}"


def bomb() -> bytes:
    """~20 KB of gzip that inflates to 64 MiB: far past the 4 MiB cap."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * (1 << 20)
    return b"".join(compressor.compress(block) for _ in range(64)) + compressor.flush()


CASES = [
    ("malformed json", {}, b'{"anonymousId": "a",', 400, "invalid json"),
    ("invalid utf-8", {}, b'{"anonymousId":"\xff\xfe"}', 400, "invalid json"),
    ("not an object", {}, b"[1, 2, 3]", 400, "event is not a valid rudder event"),
    ("deep nesting", {}, deep(100_000), 400, "invalid json"),
    ("gzip bomb", {"Content-Encoding": "gzip"}, bomb(), 413, "request size exceeds max limit"),
    (
        "truncated gzip",
        {"Content-Encoding": "gzip"},
        gzip.compress(b'{"anonymousId":"a"}')[:15],
        400,
        "failed to read body from request",
    ),
    (
        "over the cap",
        {},
        b'{"anonymousId":"a","p":"' + b"x" * (5 << 20) + b'"}',
        413,
        "request size exceeds max limit",
    ),
]


@pytest.mark.parametrize(("name", "headers", "body", "status", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_bodies_get_a_clear_4xx_and_the_server_keeps_serving(
    headwater: RunningHeadwater, name: str, headers: dict[str, str], body: bytes, status: int, message: str
) -> None:
    pids = headwater.worker_pids()
    response = httpx.post(
        f"{headwater.url}/v1/track",
        content=body,
        headers={**auth(headwater.write_key), **headers},
        timeout=30,
    )
    assert (response.status_code, response.text.strip()) == (status, message)
    marker = f"after {name} {uuid.uuid4()}"
    good = httpx.post(
        f"{headwater.url}/v1/track",
        headers=auth(headwater.write_key),
        timeout=10,
        json={"anonymousId": "a", "event": marker},
    )
    assert good.status_code == 200
    assert headwater.events(lambda e: e.get("event") == marker, count=1)
    assert headwater.worker_pids() == pids, "a worker died"


def test_a_huge_valid_batch_under_the_cap_is_stored_whole(headwater: RunningHeadwater) -> None:
    marker = f"huge {uuid.uuid4()}"
    events = [
        {"anonymousId": f"a{i}", "event": marker, "properties": {"blob": "y" * 1500}} for i in range(2500)
    ]
    body = orjson.dumps({"batch": events})
    assert 3_500_000 < len(body) < 4 * 1024 * 1024
    response = httpx.post(
        f"{headwater.url}/v1/batch",
        content=gzip.compress(body),
        headers={**auth(headwater.write_key), "Content-Encoding": "gzip"},
        timeout=60,
    )
    assert response.status_code == 200
    assert len(headwater.events(lambda e: e.get("event") == marker, count=2500)) == 2500


@pytest.mark.parametrize(
    ("headers", "path", "status", "message"),
    [
        ({}, "/v1/track", 401, "failed to read writekey from header"),
        ({"Authorization": "Basic !!!notbase64"}, "/v1/track", 401, "failed to read writekey from header"),
        ({"Authorization": "Bearer token-only"}, "/v1/track", 401, "failed to read writekey from header"),
        (auth("no-such-key"), "/v1/track", 401, "invalid write key"),
        ({}, "/v1/track?writeKey=no-such-key", 401, "invalid write key"),
        ({}, "/beacon/v1/batch", 401, "failed to read writekey from query params"),
    ],
)
def test_wrong_auth_in_every_form(
    headwater: RunningHeadwater, headers: dict[str, str], path: str, status: int, message: str
) -> None:
    marker = f"unauthorised {uuid.uuid4()}"
    response = httpx.post(
        f"{headwater.url}{path}",
        headers=headers,
        timeout=10,
        content=orjson.dumps({"batch": [{"anonymousId": "a", "event": marker}]})
        if "batch" in path
        else orjson.dumps({"anonymousId": "a", "event": marker}),
    )
    assert (response.status_code, response.text.strip()) == (status, message)
    assert headwater.events(lambda e: e.get("event") == marker) == []


def test_disabled_source_is_404_and_stores_nothing(headwater: RunningHeadwater) -> None:
    marker = f"disabled {uuid.uuid4()}"
    response = httpx.post(
        f"{headwater.url}/v1/track",
        headers=auth(headwater.disabled_write_key),
        timeout=10,
        json={"anonymousId": "a", "event": marker},
    )
    assert (response.status_code, response.text.strip()) == (404, "source is disabled")
    ok = httpx.post(
        f"{headwater.url}/v1/track",
        headers=auth(headwater.write_key),
        timeout=10,
        json={"anonymousId": "a", "event": marker + " ok"},
    )
    assert ok.status_code == 200
    headwater.events(lambda e: e.get("event") == marker + " ok", count=1)
    assert headwater.events(lambda e: e.get("event") == marker) == []
