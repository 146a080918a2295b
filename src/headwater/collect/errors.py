"""Errors of the data plane, split by what the client does next.

    HeadwaterError
    └── CollectError
        ├── RequestRefused        the request is wrong (4xx from the reply table); the client must change it,
        │                         retrying the same bytes cannot succeed. Names the check that refused.
        ├── ClientDisconnected    the client went away while sending its body; nobody is left to answer
        └── PersistError          the events did not become durable (5xx); the client retries later
            ├── PersistTimeout    the log did not confirm within collect.write_timeout_seconds (504)
            └── LogUnavailable    the log writer is closed, e.g. the worker is shutting down (503)

These never escape the ASGI app: it turns each into its reply. Messages say the fix for the operator
reading a log line; the client sees only the fixed strings of `responses.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from headwater.errors import HeadwaterError

if TYPE_CHECKING:
    from headwater.collect.responses import Reply

__all__ = [
    "ClientDisconnected",
    "CollectError",
    "LogUnavailable",
    "PersistError",
    "PersistTimeout",
    "RequestRefused",
]


class CollectError(HeadwaterError):
    """Base for errors of the data plane."""


class RequestRefused(CollectError):
    """A named check refused the request; `reply` is what the client gets."""

    def __init__(self, reply: Reply, check: str) -> None:
        super().__init__(f"{check}: {reply.message} (HTTP {reply.status}); the client must fix the request")
        self.reply = reply
        self.check = check


class ClientDisconnected(CollectError):
    """The client closed the connection before its body arrived; nothing is stored and nothing answered."""

    def __init__(self) -> None:
        super().__init__("client disconnected before sending its whole body; the SDK will retry")


class PersistError(CollectError):
    """The log did not make the request's events durable; the client got a 5xx and will resend."""

    def __init__(self, reply: Reply, detail: str) -> None:
        super().__init__(f"{detail}; check the log directory's disk (space, permissions, health)")
        self.reply = reply


class PersistTimeout(PersistError):
    """The append did not finish within `collect.write_timeout_seconds` (it may still complete later)."""


class LogUnavailable(PersistError):
    """The writer is closed: the worker is stopping; the client retries against another worker."""
