"""Errors of the demo traffic generator.

HeadwaterError
└── DemoError
    ├── DemoSetupError            bad arguments or no write key to send with (terminal: fix the flags)
    └── DeliveryError             the server did not take the traffic; `status` is the last HTTP status
        ├── WriteKeyRejectedError     401: the key is unknown to the server (terminal)
        ├── SourceDisabledError       404: the key's source is disabled (terminal)
        ├── RequestRejectedError      another 4xx: the server refused a request as malformed (terminal)
        └── DeliveryFailedError       429/5xx/network errors outlasted every retry (retry later)
"""

from __future__ import annotations

from headwater.errors import HeadwaterError

__all__ = [
    "DeliveryError",
    "DeliveryFailedError",
    "DemoError",
    "DemoSetupError",
    "RequestRejectedError",
    "SourceDisabledError",
    "WriteKeyRejectedError",
]


class DemoError(HeadwaterError):
    """Base for errors of `headwater demo`."""


class DemoSetupError(DemoError):
    """The demo cannot start: an argument is out of range or there is no write key to use."""


class DeliveryError(DemoError):
    """Sending stopped; `status` is the HTTP status that stopped it (None for a network failure)."""

    def __init__(self, message: str, *, url: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.body = body


class WriteKeyRejectedError(DeliveryError):
    """401 from the data plane: the write key is not one of its sources."""


class SourceDisabledError(DeliveryError):
    """404 from the data plane: the write key's source exists but is disabled."""


class RequestRejectedError(DeliveryError):
    """A 4xx other than 401/404/429: resending the same body cannot help."""


class DeliveryFailedError(DeliveryError):
    """Retries ran out on 429, 5xx or network errors: the server is down, overloaded or elsewhere."""
