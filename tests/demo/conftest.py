"""A tiny real HTTP server on a loopback port that records what the demo sends and answers as told."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    status: int = 0


@dataclass
class Recorder:
    """Requests seen so far; `answer(n, request)` gives (status, body, headers) for request n (from 0)."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    answer: Callable[[int, Received], tuple[int, str, dict[str, str]]] = lambda n, r: (200, "ok", {})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[Received]:
        return [r for r in self.requests if r.status == 200]


def _handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Content-Encoding") == "gzip":
                raw = gzip.decompress(raw)
            received = Received(self.path, dict(self.headers.items()), orjson.loads(raw))
            with recorder.lock:
                number = len(recorder.requests)
                recorder.requests.append(received)
            status, body, headers = recorder.answer(number, received)
            received.status = status
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    record = Recorder()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(record))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    record.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
