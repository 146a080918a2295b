"""Every client-facing message and its status, in one table.

The strings are rudder-server's (lower-cased as since v1.46) because SDKs match on them: the v1 mobile
SDKs search error bodies for `invalid write key` and `request neither has anonymousId nor userId`, and
the v2 mobile SDKs branch on the status (401 shuts the SDK down, 404 stops uploads, 400/413 drop the
batch, 429/5xx retry). Plain bodies are `text/plain; charset=utf-8` with a trailing newline on errors,
as Go's `http.Error` writes them; success is `ok` without one.

Segment-style requests (the one-letter paths, or a write key found in the JSON body) get the same
status with a JSON body `{"code": ..., "message": ...}`, which analytics-python puts in its error logs;
success is then `{"success":true}`. The message text is the same, so substring matching still works.
"""

from __future__ import annotations

import orjson

__all__ = [
    "BODY_READ_FAILED",
    "BODY_TOO_LARGE",
    "EMPTY_BATCH",
    "EVENT_TOO_LARGE",
    "GATEWAY_TIMEOUT",
    "INTERNAL_ERROR",
    "INVALID_JSON",
    "INVALID_WRITE_KEY",
    "METHOD_NOT_ALLOWED",
    "NOT_FOUND",
    "NOT_RUDDER_EVENT",
    "NO_IDENTIFIER",
    "NO_WRITE_KEY_HEADER",
    "NO_WRITE_KEY_QUERY",
    "OK",
    "PERSIST_FAILED",
    "REPLIES",
    "SERVICE_UNAVAILABLE",
    "SOURCE_DISABLED",
    "TRANSPARENT_GIF",
    "UNSUPPORTED_ENCODING",
    "Reply",
]

TEXT_PLAIN = b"text/plain; charset=utf-8"
APPLICATION_JSON = b"application/json"
IMAGE_GIF = b"image/gif"


class Reply:
    """One row of the table: status, message, Segment-style code, and both rendered bodies."""

    __slots__ = ("code", "json_body", "message", "status", "text_body")

    def __init__(self, status: int, message: str, code: str) -> None:
        self.status = status
        self.message = message
        self.code = code
        if status == 200:
            self.text_body = message.encode()
            self.json_body = b'{"success":true}'
        else:
            self.text_body = message.encode() + b"\n"
            self.json_body = orjson.dumps({"code": code, "message": message})

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.message!r})"


# name: (status, message, Segment-style code)
_TABLE: dict[str, tuple[int, str, str]] = {
    "ok": (200, "ok", "success"),
    "invalid_json": (400, "invalid json", "invalid_request"),
    "not_rudder_event": (400, "event is not a valid rudder event", "invalid_request"),
    "empty_batch": (400, "empty batch payload", "invalid_request"),
    "no_identifier": (400, "request neither has anonymousId nor userId", "invalid_request"),
    "body_read_failed": (400, "failed to read body from request", "invalid_request"),
    "unsupported_encoding": (400, "unsupported content encoding", "invalid_request"),
    "no_write_key_header": (401, "failed to read writekey from header", "unauthorized"),
    "no_write_key_query": (401, "failed to read writekey from query params", "unauthorized"),
    "invalid_write_key": (401, "invalid write key", "unauthorized"),
    "source_disabled": (404, "source is disabled", "source_disabled"),
    "not_found": (404, "404 page not found", "not_found"),
    "method_not_allowed": (405, "method not allowed", "method_not_allowed"),
    "body_too_large": (413, "request size exceeds max limit", "payload_too_large"),
    "event_too_large": (413, "event size exceeds max limit", "payload_too_large"),
    "persist_failed": (500, "failed to persist events", "server_error"),
    "internal_error": (500, "internal server error", "server_error"),
    "service_unavailable": (503, "service unavailable", "service_unavailable"),
    "gateway_timeout": (504, "gateway timeout", "gateway_timeout"),
}

REPLIES: dict[str, Reply] = {name: Reply(*row) for name, row in _TABLE.items()}

OK = REPLIES["ok"]
INVALID_JSON = REPLIES["invalid_json"]
NOT_RUDDER_EVENT = REPLIES["not_rudder_event"]
EMPTY_BATCH = REPLIES["empty_batch"]
NO_IDENTIFIER = REPLIES["no_identifier"]
BODY_READ_FAILED = REPLIES["body_read_failed"]
UNSUPPORTED_ENCODING = REPLIES["unsupported_encoding"]
NO_WRITE_KEY_HEADER = REPLIES["no_write_key_header"]
NO_WRITE_KEY_QUERY = REPLIES["no_write_key_query"]
INVALID_WRITE_KEY = REPLIES["invalid_write_key"]
SOURCE_DISABLED = REPLIES["source_disabled"]
NOT_FOUND = REPLIES["not_found"]
METHOD_NOT_ALLOWED = REPLIES["method_not_allowed"]
BODY_TOO_LARGE = REPLIES["body_too_large"]
EVENT_TOO_LARGE = REPLIES["event_too_large"]
PERSIST_FAILED = REPLIES["persist_failed"]
INTERNAL_ERROR = REPLIES["internal_error"]
SERVICE_UNAVAILABLE = REPLIES["service_unavailable"]
GATEWAY_TIMEOUT = REPLIES["gateway_timeout"]

# A 1x1 transparent GIF89a, 43 bytes: header, 1x1 screen with a 2-colour table, a graphic control
# extension marking colour 0 transparent, one image descriptor, 2 bytes of LZW data, trailer.
TRANSPARENT_GIF = (
    b"GIF89a"
    b"\x01\x00\x01\x00\x80\x00\x00"
    b"\x00\x00\x00\xff\xff\xff"
    b"\x21\xf9\x04\x01\x00\x00\x00\x00"
    b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00"
    b"\x02\x02\x44\x01\x00"
    b"\x3b"
)
