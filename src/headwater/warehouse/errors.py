"""Errors of the warehouse stage.

HeadwaterError
└── WarehouseError
    ├── EventRejected        one event cannot become rows (not an object, unknown type, too many columns)
    ├── WarehouseUnavailable the engine is down or refusing (connection, disk full, permission): retry
    ├── RowsRefused          the engine refused the data itself: isolate the events and fail them
    └── StagingError         the staging store (folder or S3) failed: retry
"""

from __future__ import annotations

from headwater.errors import HeadwaterError

__all__ = ["EventRejected", "RowsRefused", "StagingError", "WarehouseError", "WarehouseUnavailable"]


class WarehouseError(HeadwaterError):
    """Base of the warehouse stage's errors."""


class EventRejected(WarehouseError):
    """The event cannot be turned into rows; it goes to the failed-events table with this reason."""


class WarehouseUnavailable(WarehouseError):
    """The engine cannot take a load right now; the loader backs off and retries the same batch."""


class RowsRefused(WarehouseError):
    """The engine rejected the batch's data (not its availability); the loader bisects to find the events."""


class StagingError(WarehouseError):
    """Writing, reading or deleting a staged file failed; the loader retries the batch."""
