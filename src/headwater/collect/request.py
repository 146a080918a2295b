"""One HTTP request as the handlers see it: headers, query, client address, and how to answer.

Headers are kept as the raw lower-case bytes ASGI gives us, looked up by exact name; decoding
happens only for the few a handler reads. The response helpers add the CORS headers and drop the
body for HEAD, so no handler has to remember either.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

from headwater.collect.cors import cors_headers
from headwater.collect.responses import APPLICATION_JSON, TEXT_PLAIN, Reply
from headwater.collect.types import Receive, Scope, Send

__all__ = ["Request"]


class Request:
    """Per-request state; `route`, `status` and `source_name` feed metrics and refusal logs."""

    __slots__ = (
        "_query",
        "head",
        "headers",
        "method",
        "path",
        "receive",
        "route",
        "scope",
        "segment_style",
        "send",
        "source_name",
        "started",
        "status",
    )

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.started = time.perf_counter()
        self.scope = scope
        self.receive = receive
        self.send = send
        self.headers: dict[bytes, bytes] = dict(scope["headers"])
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.head = False
        self.route = "unmatched"
        self.status = 0
        self.source_name = ""
        self.segment_style = False
        self._query: list[tuple[str, str]] | None = None

    # -- reading ---------------------------------------------------------------------------------

    def query_pairs(self) -> list[tuple[str, str]]:
        """The query string as (key, value) pairs in order, blanks kept, percent-decoded as UTF-8."""
        if self._query is None:
            raw: bytes = self.scope.get("query_string", b"")
            self._query = parse_qsl(raw.decode("latin-1"), keep_blank_values=True) if raw else []
        return self._query

    def query_value(self, key: str) -> str | None:
        """The first value of a query parameter, as Go's `url.Values.Get` returns it."""
        raw: bytes = self.scope.get("query_string", b"")
        if not raw or key.encode() not in raw:
            return None
        for name, value in self.query_pairs():
            if name == key:
                return value
        return None

    def peer_ip(self) -> str:
        client = self.scope.get("client")
        return str(client[0]) if client else ""

    def client_ip(self, trust_forwarded_for: bool) -> str:
        """First X-Forwarded-For entry with spaces removed (as rudder-go-kit does), else the peer address."""
        if trust_forwarded_for:
            forwarded = self.headers.get(b"x-forwarded-for")
            if forwarded:
                first = forwarded.split(b",", 1)[0].replace(b" ", b"").replace(b"\t", b"")
                if first:
                    return first.decode("latin-1")
        return self.peer_ip()

    # -- answering -------------------------------------------------------------------------------

    async def respond(
        self,
        status: int,
        body: bytes,
        content_type: bytes,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        """Send one complete response with CORS headers; HEAD gets the headers and no body."""
        self.status = status
        headers = cors_headers(self.headers)
        headers.append((b"content-type", content_type))
        headers.append((b"content-length", str(len(body)).encode()))
        if extra:
            headers.extend(extra)
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": b"" if self.head else body})

    async def reply(self, reply: Reply, extra: list[tuple[bytes, bytes]] | None = None) -> None:
        """Answer with a row of the reply table, JSON-shaped for Segment-style requests."""
        if self.segment_style:
            await self.respond(reply.status, reply.json_body, APPLICATION_JSON, extra)
        else:
            await self.respond(reply.status, reply.text_body, TEXT_PLAIN, extra)
