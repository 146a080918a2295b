"""Settings that belong to no single stage."""

from __future__ import annotations

from headwater.settings import declare

DATA_DIR = declare(
    "data_dir",
    "str",
    "./headwater-data",
    "Directory for all state: log segments, staging, the warehouse, control data.",
)
LOG_LEVEL = declare(
    "log_level",
    "str",
    "info",
    "Level of Headwater's own structured logs.",
    choices=("debug", "info", "warning", "error"),
)
