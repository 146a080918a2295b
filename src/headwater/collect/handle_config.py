"""Configuration the SDKs download before they send: RudderStack's sourceConfig and Segment's settings.

`/sourceConfig` (and `/sourceConfig/`, which the JS SDK uses) answers the minimal document
(docs/ingest-api.md) for the authenticated source: no destinations, SDK error and metrics reporting off,
no `dataplanes` (so the SDK keeps the data plane URL the app configured). The Android and iOS v1 SDKs
send nothing until this download succeeds with `enabled: true`.

A disabled source gets 200 with `"enabled": false` rather than rudder's 404: every RudderStack SDK
stops on that flag, while a 404 makes the v1 mobile SDKs retry the download and fall back to a
cached config that may say enabled. Unknown keys get 401 `invalid write key`, which the v1 SDKs
take as final.

`/v1/projects/{writeKey}/settings` and `/projects/{writeKey}/settings` (Segment's CDN paths) answer
settings with exactly one integration, `Segment.io`, whose `apiHost` points back at this data
plane (`collect.public_url`, else the request's Host plus the path prefix) and whose presence is
what makes analytics-next attach the write key. Any other integration key would make it download
destination code from Segment's CDN; `metrics.sampleRate: 0` stops its telemetry posts.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson

from headwater.collect.auth import CHECK_PRESENT, find_source, request_write_key
from headwater.collect.errors import RequestRefused
from headwater.collect.request import Request
from headwater.collect.responses import APPLICATION_JSON, NO_WRITE_KEY_HEADER
from headwater.collect.state import AppState
from headwater.control import Source

__all__ = ["ConfigHandler", "delivery_address", "segment_settings", "settings_write_key", "source_config"]

WORKSPACE_ID = "headwater"
SOURCE_CONFIG_PATHS = ("/sourceConfig", "/sourceConfig/")
_SETTINGS_PREFIXES = (
    ("/v1/projects/", "/v1/projects/{writeKey}/settings"),
    ("/projects/", "/projects/{writeKey}/settings"),
)
_NO_CACHE = [(b"cache-control", b"no-cache")]


def source_config(source: Source, updated_at: str) -> dict[str, Any]:
    """The sourceConfig document: what JS v3, Android/iOS v1 and Kotlin/Swift v2 all accept."""
    return {
        "isHosted": False,
        "source": {
            "id": source.id,
            "name": source.name,
            "writeKey": source.write_key,
            "enabled": source.enabled,
            "workspaceId": WORKSPACE_ID,
            "updatedAt": updated_at,
            "config": {"statsCollection": {"errors": {"enabled": False}, "metrics": {"enabled": False}}},
            "destinations": [],
        },
    }


def segment_settings(write_key: str, api_host: str, protocol: str) -> dict[str, Any]:
    """The settings analytics-next, analytics-kotlin and analytics-swift fetch from Segment's CDN."""
    return {
        "integrations": {"Segment.io": {"apiKey": write_key, "apiHost": api_host, "protocol": protocol}},
        "plan": {},
        "metrics": {"sampleRate": 0},
        "remotePlugins": [],
        "enabledMiddleware": {},
    }


def settings_write_key(path: str) -> tuple[str, str] | None:
    """(write key, route label) if `path` is one of Segment's settings paths."""
    if not path.endswith("/settings"):
        return None
    for prefix, label in _SETTINGS_PREFIXES:
        if path.startswith(prefix):
            key = path[len(prefix) : -len("/settings")]
            if key and "/" not in key:
                return key, label
    return None


def delivery_address(state: AppState, request: Request) -> tuple[str, str]:
    """(apiHost, protocol) that sends Segment SDKs back here: host[:port][/prefix]/v1 without a scheme."""
    settings = state.settings
    if settings.public_url:
        url = settings.public_url if "://" in settings.public_url else "https://" + settings.public_url
        parts = urlsplit(url)
        return parts.netloc + parts.path.rstrip("/") + "/v1", parts.scheme or "https"
    host_header = request.headers.get(b"host")
    if host_header:
        host = host_header.decode("latin-1")
    else:
        server = request.scope.get("server")
        host = f"{server[0]}:{server[1]}" if server else "localhost"
    protocol = str(request.scope.get("scheme", "http"))
    if settings.trust_forwarded_for:
        forwarded = request.headers.get(b"x-forwarded-proto")
        if forwarded:
            first = forwarded.split(b",", 1)[0].strip().decode("latin-1").lower()
            if first in ("http", "https"):
                protocol = first
    return host + settings.path_prefix + "/v1", protocol


class ConfigHandler:
    def __init__(self, state: AppState) -> None:
        self.state = state

    async def source_config(self, request: Request) -> None:
        request.route = "/sourceConfig"
        key = request_write_key(request)
        if key is None:
            raise RequestRefused(NO_WRITE_KEY_HEADER, CHECK_PRESENT)
        source = find_source(request, self.state.sources, key, allow_disabled=True)
        body = orjson.dumps(source_config(source, self.state.started_at))
        await request.respond(200, body, APPLICATION_JSON, _NO_CACHE)

    async def segment_settings(self, request: Request, write_key: str) -> None:
        source = find_source(request, self.state.sources, write_key)
        api_host, protocol = delivery_address(self.state, request)
        body = orjson.dumps(segment_settings(source.write_key, api_host, protocol))
        await request.respond(200, body, APPLICATION_JSON, _NO_CACHE)
