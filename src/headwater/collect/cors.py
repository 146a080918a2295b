"""CORS as rudder-server answers it (rs/cors with every origin, credentials and any header allowed).

Browsers never let a literal `*` cover `Authorization`, and the RudderStack JS SDK sends Basic auth
plus custom headers (`AnonymousId`, `SentAt`, `Rsa-*`), so the origin and the requested headers are
echoed back. `Vary: Origin` goes on every response because the answer depends on the Origin header.
"""

from __future__ import annotations

__all__ = ["ALLOW_METHODS", "MAX_AGE_SECONDS", "cors_headers", "preflight_headers"]

ALLOW_METHODS = b"GET, POST, HEAD, OPTIONS"
MAX_AGE_SECONDS = 900

_VARY = (b"vary", b"Origin")
_VARY_PREFLIGHT = (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
_CREDENTIALS = (b"access-control-allow-credentials", b"true")
_NO_ORIGIN = [_VARY]


def cors_headers(headers: dict[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    """Headers for an actual (non-preflight) response; a fresh list the caller may extend."""
    origin = headers.get(b"origin")
    if origin is None:
        return [_VARY]
    return [_VARY, (b"access-control-allow-origin", origin), _CREDENTIALS]


def preflight_headers(headers: dict[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    """Headers for the 204 answer to an OPTIONS request, on any path."""
    out = [_VARY_PREFLIGHT, (b"allow", ALLOW_METHODS)]
    origin = headers.get(b"origin")
    if origin is None:
        return out
    out.append((b"access-control-allow-origin", origin))
    out.append(_CREDENTIALS)
    out.append((b"access-control-allow-methods", ALLOW_METHODS))
    requested = headers.get(b"access-control-request-headers")
    if requested:
        out.append((b"access-control-allow-headers", requested))
    out.append((b"access-control-max-age", str(MAX_AGE_SECONDS).encode()))
    return out
