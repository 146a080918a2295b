"""Which source a request belongs to: the write key, looked for in the documented order.

1. HTTP Basic, write key as the username (RudderStack SDKs, new Segment browser and node SDKs);
2. `?writeKey=` (beacon, pixel, and the v2 mobile SDKs' sourceConfig call);
3. `writeKey` in the JSON body (analytics-python, the Segment mobile SDKs, older analytics.js);
4. on batch-shaped routes, `batch[0].writeKey` (analytics-next puts it on every event).

The first place that holds a key decides; a wrong key there is refused, never "corrected" by a later
one. `Authorization: Bearer` (Segment OAuth) is not a key: such requests carry the key in the body.
Write keys are never logged; refusals name the check, and the source's name once it is known.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from functools import lru_cache
from typing import Any

from headwater.collect.errors import RequestRefused
from headwater.collect.request import Request
from headwater.collect.responses import INVALID_WRITE_KEY, SOURCE_DISABLED
from headwater.control import Source, SourceRegistry

__all__ = ["basic_write_key", "body_write_key", "find_source", "request_write_key"]

CHECK_PRESENT = "write_key_present"
CHECK_KNOWN = "write_key_known"
CHECK_ENABLED = "source_enabled"


def basic_write_key(authorization: bytes | None) -> str | None:
    """The username of a Basic credential, or None (absent, Bearer, malformed, or an empty username)."""
    if not authorization or authorization[:6].lower() != b"basic ":
        return None
    return _decode_basic(authorization)


@lru_cache(maxsize=4096)
def _decode_basic(authorization: bytes) -> str | None:
    """Decoded once per distinct header: every request of an SDK carries the same one."""
    try:
        decoded = b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, colon, _password = decoded.partition(":")
    if not colon or not user:
        return None
    return user


def request_write_key(request: Request) -> str | None:
    """The key from the places that do not need the body: Basic auth, then `?writeKey=`."""
    key = basic_write_key(request.headers.get(b"authorization"))
    if key is not None:
        return key
    return request.query_value("writeKey") or None


def body_write_key(body: Any, batch_shaped: bool) -> str | None:
    """`writeKey` of the body object, then (batch routes) of its first event."""
    if type(body) is not dict:
        return None
    key = body.get("writeKey")
    if type(key) is str and key:
        return key
    if batch_shaped:
        batch = body.get("batch")
        if type(batch) is list and batch and type(batch[0]) is dict:
            key = batch[0].get("writeKey")
            if type(key) is str and key:
                return key
    return None


def find_source(
    request: Request, registry: SourceRegistry, key: str, *, allow_disabled: bool = False
) -> Source:
    """The key's source (named on the request for logs), or 401 `invalid write key` / 404 `disabled`."""
    source = registry.by_write_key(key)
    if source is None:
        raise RequestRefused(INVALID_WRITE_KEY, CHECK_KNOWN)
    request.source_name = source.name
    if not source.enabled and not allow_disabled:
        raise RequestRefused(SOURCE_DISABLED, CHECK_ENABLED)
    return source
