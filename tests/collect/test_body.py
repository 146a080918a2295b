"""Body reading: encodings, the decoded-size cap enforced while streaming, and hostile bodies."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from headwater.collect import body as body_module
from tests.collect.asgi import basic
from tests.collect.conftest import GOOD_EVENT, WEB_KEY, Harness

BATCH = orjson.dumps({"batch": [GOOD_EVENT, {**GOOD_EVENT, "event": "Second"}]})


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("encoding", "encoded"),
    [
        ("gzip", gzip.compress(BATCH)),
        ("GZIP", gzip.compress(BATCH)),
        ("x-gzip", gzip.compress(BATCH)),
        ("deflate", zlib.compress(BATCH)),
        ("deflate", raw_deflate(BATCH)),
        ("identity", BATCH),
    ],
)
def test_encoded_bodies_are_decoded(hw: Harness, encoding: str, encoded: bytes) -> None:
    response = hw.post("/v1/batch", auth=WEB_KEY, body=encoded, headers={"content-encoding": encoding})
    assert (response.status, response.body) == (200, b"ok")
    assert [e["event"] for e in hw.writer.events()] == ["Signed Up", "Second"]


def test_gzip_decodes_while_streaming_in_tiny_chunks(hw: Harness) -> None:
    encoded = gzip.compress(BATCH)
    response = hw.post(
        "/v1/batch", auth=WEB_KEY, chunks=chunked(encoded, 3), headers={"content-encoding": "gzip"}
    )
    assert response.status == 200
    assert len(hw.writer.records) == 2


def test_concatenated_gzip_members_are_one_body(hw: Harness) -> None:
    encoded = gzip.compress(BATCH[:10]) + gzip.compress(BATCH[10:])
    response = hw.post("/v1/batch", auth=WEB_KEY, body=encoded, headers={"content-encoding": "gzip"})
    assert response.status == 200
    assert len(hw.writer.records) == 2


@pytest.mark.parametrize(
    ("encoding", "encoded"),
    [
        ("gzip", gzip.compress(BATCH)[:-9]),  # truncated: no trailer
        ("gzip", gzip.compress(BATCH)[:20]),
        ("gzip", b"not gzip at all"),
        ("gzip", b""),
        ("gzip", gzip.compress(BATCH) + b"trailing garbage"),
        ("deflate", zlib.compress(BATCH)[:-3]),
        ("deflate", b"\xff\xfe garbage"),
    ],
)
def test_broken_compressed_streams_are_400(hw: Harness, encoding: str, encoded: bytes) -> None:
    response = hw.post("/v1/batch", auth=WEB_KEY, body=encoded, headers={"content-encoding": encoding})
    assert (response.status, response.body) == (400, b"failed to read body from request\n")
    assert hw.writer.records == []
    hw.assert_still_serves()


def test_unknown_content_encoding_is_400(hw: Harness) -> None:
    response = hw.post("/v1/batch", auth=WEB_KEY, body=BATCH, headers={"content-encoding": "br"})
    assert (response.status, response.body) == (400, b"unsupported content encoding\n")
    hw.assert_still_serves()


_real_decompressobj = zlib.decompressobj


class CountingDecompressor:
    """Wraps zlib's decompressor to count every decoded byte the app produced."""

    produced = 0

    def __init__(self, wbits: int) -> None:
        self._inner = _real_decompressobj(wbits)

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        out = self._inner.decompress(data, max_length)
        CountingDecompressor.produced += len(out)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_gzip_bomb_stops_at_cap_plus_one_decoded_bytes(make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cap = 64 * 1024
    hw = make(max_body_bytes=cap)
    monkeypatch.setattr(body_module.zlib, "decompressobj", CountingDecompressor)
    CountingDecompressor.produced = 0
    bomb = gzip.compress(b"[" + b" " * (50 * 1024 * 1024), compresslevel=9)  # 50 MiB of whitespace
    response = hw.post(
        "/v1/batch", auth=WEB_KEY, chunks=chunked(bomb, 1024), headers={"content-encoding": "gzip"}
    )
    assert (response.status, response.body) == (413, b"request size exceeds max limit\n")
    assert CountingDecompressor.produced <= cap + 1
    assert response.received_bytes < len(bomb), "the app must stop reading once over the cap"
    monkeypatch.undo()
    hw.assert_still_serves()


def test_plain_body_stops_reading_at_the_first_chunk_past_the_cap(make: Any) -> None:
    cap, chunk = 4096, 100
    hw = make(max_body_bytes=cap)
    data = b" " * 10 * cap
    response = hw.post("/v1/batch", auth=WEB_KEY, chunks=chunked(data, chunk))
    assert (response.status, response.body) == (413, b"request size exceeds max limit\n")
    assert response.received_bytes <= cap + chunk
    assert response.received_bytes > cap
    hw.assert_still_serves()


def test_body_of_exactly_the_cap_is_accepted_and_one_more_byte_is_not(make: Any) -> None:
    cap = 4096
    hw = make(max_body_bytes=cap)
    exact = BATCH + b" " * (cap - len(BATCH))
    assert len(exact) == cap
    assert hw.post("/v1/batch", auth=WEB_KEY, chunks=chunked(exact, 512)).status == 200
    assert hw.post("/v1/batch", auth=WEB_KEY, chunks=chunked(exact + b" ", 512)).status == 413
    encoded = gzip.compress(exact)
    assert (
        hw.post("/v1/batch", auth=WEB_KEY, body=encoded, headers={"content-encoding": "gzip"}).status == 200
    )
    encoded = gzip.compress(exact + b" ")
    assert (
        hw.post("/v1/batch", auth=WEB_KEY, body=encoded, headers={"content-encoding": "gzip"}).status == 413
    )


def test_declared_content_length_over_the_cap_is_refused_unread(make: Any) -> None:
    hw = make(max_body_bytes=4096)
    response = hw.post("/v1/batch", auth=WEB_KEY, body=b" " * 10, headers={"content-length": "5000"})
    assert response.status == 413
    assert response.receive_calls == 0


def test_endless_empty_deflate_blocks_are_bounded(make: Any) -> None:
    """Compressed input that decodes to nothing must still stop: the compressed bytes are capped too."""
    hw = make(max_body_bytes=4096)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    empty_stored_block = b"\x00\x00\x00\xff\xff"  # non-final stored block of length 0

    def stream() -> Iterator[bytes]:
        yield header
        while True:
            yield empty_stored_block * 200

    response = hw.post("/v1/batch", auth=WEB_KEY, chunks=stream(), headers={"content-encoding": "gzip"})
    assert response.status == 413
    hw.assert_still_serves()


def test_invalid_utf8_is_invalid_json(hw: Harness) -> None:
    body = b'{"type":"track","anonymousId":"a","event":"\xff\xfe"}'
    response = hw.post("/v1/track", auth=WEB_KEY, body=body)
    assert (response.status, response.body) == (400, b"invalid json\n")
    hw.assert_still_serves()


@pytest.mark.parametrize(
    "body", [b'{"anonymousId":"a","n":1e400}', b'"\\ud800"', b"\xef\xbb\xbf{}", b'{"a":NaN}']
)
def test_json_orjson_refuses_is_invalid_json(hw: Harness, body: bytes) -> None:
    response = hw.post("/v1/track", auth=WEB_KEY, body=body)
    assert (response.status, response.body) == (400, b"invalid json\n")


def test_nesting_past_the_parser_limit_is_invalid_json(hw: Harness) -> None:
    body = b'{"anonymousId":"a","p":' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    response = hw.post("/v1/track", auth=WEB_KEY, body=body)
    assert (response.status, response.body) == (400, b"invalid json\n")
    hw.assert_still_serves()


def test_nesting_that_parses_but_cannot_be_stored_is_400(hw: Harness) -> None:
    """orjson reads 1024 levels but writes only 254: such an event is refused, not a 500."""
    deep = b'{"d":' * 600 + b'"leaf"' + b"}" * 600
    body = b'{"batch":[' + orjson.dumps(GOOD_EVENT) + b',{"anonymousId":"a","p":' + deep + b"}]}"
    response = hw.post("/v1/batch", auth=WEB_KEY, body=body)
    assert (response.status, response.body) == (400, b"invalid json\n")
    assert hw.writer.records == []
    hw.assert_still_serves()


def test_a_near_cap_batch_is_accepted_and_an_over_cap_one_is_413(hw: Harness) -> None:
    event = {**GOOD_EVENT, "properties": {"blob": "x" * 30_000}}
    near = {"batch": [event] * 130}  # ~3.9 MB, under the 4 MiB default
    response = hw.post("/v1/batch", auth=WEB_KEY, body=orjson.dumps(near))
    assert response.status == 200
    assert len(hw.writer.records) == 130
    over = {"batch": [event] * 150}
    response = hw.post("/v1/batch", auth=WEB_KEY, body=orjson.dumps(over))
    assert (response.status, response.body) == (413, b"request size exceeds max limit\n")
    hw.assert_still_serves()


def test_oversized_invalid_body_is_413_because_the_cap_comes_first(make: Any) -> None:
    hw = make(max_body_bytes=2048)
    response = hw.post("/v1/batch", auth=WEB_KEY, body=b"{garbage" * 1000)
    assert response.status == 413


def test_client_disconnect_mid_body_stores_nothing(hw: Harness) -> None:
    async def scenario() -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []
        messages = [
            {"type": "http.request", "body": BATCH[:10], "more_body": True},
            {"type": "http.disconnect"},
        ]

        async def receive() -> dict[str, Any]:
            return messages.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/v1/batch",
            "query_string": b"",
            "scheme": "http",
            "headers": [(b"authorization", basic(WEB_KEY).encode())],
            "client": ("1.2.3.4", 1),
        }
        await hw.app(scope, receive, send)
        return sent

    assert hw.client.run(scenario()) == []
    assert hw.writer.records == []
    hw.assert_still_serves()
