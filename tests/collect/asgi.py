"""A minimal in-process ASGI driver: full control of body chunks, and a count of what the app read.

httpx's ASGITransport buffers the whole body before the app sees it; these tests need to stream a
body in chunks (lazily, from an iterator) and check that the app stopped reading at the cap.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson

_UNSET: Any = object()


def basic(write_key: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{write_key}:{password}".encode()).decode()


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    received_bytes: int = 0
    receive_calls: int = 0

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name.lower():
                return value
        return None

    def header_list(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name.lower()]

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class _Stats:
    received_bytes: int = 0
    receive_calls: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)


class Client:
    """Sync facade over one private event loop (closed by `close()`), so tests stay plain functions."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()

    def close(self) -> None:
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def request(self, method: str, path: str, **kwargs: Any) -> Response:
        return self.run(self.arequest(method, path, **kwargs))

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Response:
        return self.request("POST", path, **kwargs)

    async def arequest(
        self,
        method: str,
        path: str,
        *,
        json: Any = _UNSET,
        body: bytes | None = None,
        chunks: Iterable[bytes] | None = None,
        headers: dict[str, str] | list[tuple[str, str]] | None = None,
        auth: str | None = None,
        query: dict[str, str] | list[tuple[str, str]] | str | None = None,
        client: tuple[str, int] | None = ("198.51.100.7", 40123),
        scheme: str = "http",
    ) -> Response:
        if json is not _UNSET:
            body = orjson.dumps(json)
        if chunks is None:
            chunks = [body] if body else []
        header_list: list[tuple[bytes, bytes]] = [(b"host", b"collect.test:8080")]
        items = headers.items() if isinstance(headers, dict) else (headers or [])
        for key, value in items:
            header_list.append((key.lower().encode("latin-1"), value.encode("latin-1")))
        if auth is not None:
            header_list.append((b"authorization", basic(auth).encode()))
        if isinstance(query, str):
            query_string = query
        elif query:
            query_string = urlencode(query)
        else:
            query_string = ""
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": scheme,
            "path": path,
            "raw_path": path.encode(),
            "query_string": query_string.encode("latin-1"),
            "root_path": "",
            "headers": header_list,
            "client": client,
            "server": ("collect.test", 8080),
        }
        stats = _Stats()
        iterator: Iterator[bytes] = iter(chunks)
        pending: list[bytes] = []
        done = False

        def next_chunk() -> bytes | None:
            try:
                return next(iterator)
            except StopIteration:
                return None

        async def receive() -> dict[str, Any]:
            nonlocal done
            stats.receive_calls += 1
            if done:
                await asyncio.sleep(0)
                return {"type": "http.disconnect"}
            chunk = pending.pop() if pending else next_chunk()
            if chunk is None:
                done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            following = next_chunk()
            if following is None:
                done = True
            else:
                pending.append(following)
            stats.received_bytes += len(chunk)
            return {"type": "http.request", "body": chunk, "more_body": not done}

        async def send(message: dict[str, Any]) -> None:
            stats.sent.append(message)

        await self.app(scope, receive, send)
        return _response(stats)


def _response(stats: _Stats) -> Response:
    starts = [m for m in stats.sent if m["type"] == "http.response.start"]
    bodies = [m for m in stats.sent if m["type"] == "http.response.body"]
    assert len(starts) == 1, f"expected one response start, got {stats.sent}"
    assert stats.sent[0] is starts[0], "body sent before the response start"
    assert bodies and not bodies[-1].get("more_body", False), "response never finished"
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in starts[0]["headers"]]
    body = b"".join(m.get("body", b"") for m in bodies)
    return Response(starts[0]["status"], headers, body, stats.received_bytes, stats.receive_calls)
