"""Demo traffic: a seeded, realistic shop's web, mobile and server events, sent through the real HTTP API.

`generate` is pure (same arguments, byte-identical events); `plan_requests` groups them into the
requests each SDK would make; `send` delivers them. The `headwater demo` command lives in
`headwater.demo.command` and is registered by the CLI.
"""

from headwater.demo.batches import Request, plan_requests
from headwater.demo.errors import (
    DeliveryError,
    DeliveryFailedError,
    DemoError,
    DemoSetupError,
    RequestRejectedError,
    SourceDisabledError,
    WriteKeyRejectedError,
)
from headwater.demo.sender import SendReport, send, send_requests
from headwater.demo.traffic import (
    DEFAULT_DAYS,
    DEFAULT_EVENTS,
    DEFAULT_SEED,
    DEFAULT_START,
    Event,
    Sdk,
    TrafficSummary,
    generate,
    summarize,
)

__all__ = [
    "DEFAULT_DAYS",
    "DEFAULT_EVENTS",
    "DEFAULT_SEED",
    "DEFAULT_START",
    "DeliveryError",
    "DeliveryFailedError",
    "DemoError",
    "DemoSetupError",
    "Event",
    "Request",
    "RequestRejectedError",
    "Sdk",
    "SendReport",
    "SourceDisabledError",
    "TrafficSummary",
    "WriteKeyRejectedError",
    "generate",
    "plan_requests",
    "send",
    "send_requests",
    "summarize",
]
