"""The one error the API raises on purpose: bad input, answered as `{"error": {"message", "field"}}`."""

from __future__ import annotations

__all__ = ["ApiError"]


class ApiError(Exception):
    """A request the API refuses; `field` names the parameter at fault (dotted for nested ones)."""

    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
