"""The data plane ("collect"): RudderStack- and Segment-compatible HTTP ingest into the event log.

`create_app(settings, sources, writer)` builds the raw ASGI app the ingest workers serve. The wire
contract it implements is docs/ingest-api.md (spec: docs/openapi.yaml).
"""

from headwater.collect.app import CollectApp, create_app
from headwater.collect.errors import (
    ClientDisconnected,
    CollectError,
    LogUnavailable,
    PersistError,
    PersistTimeout,
    RequestRefused,
)
from headwater.collect.metrics import CollectMetrics
from headwater.collect.responses import REPLIES, Reply
from headwater.collect.settings import CollectSettings

__all__ = [
    "REPLIES",
    "ClientDisconnected",
    "CollectApp",
    "CollectError",
    "CollectMetrics",
    "CollectSettings",
    "LogUnavailable",
    "PersistError",
    "PersistTimeout",
    "Reply",
    "RequestRefused",
    "create_app",
]
