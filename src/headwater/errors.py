"""The root of every error Headwater raises on purpose.

    HeadwaterError
    ├── headwater.config.ConfigError        the config file or an override is wrong (terminal: fix the file)
    ├── headwater.log.LogError              the event log (see headwater.log.errors)
    └── headwater.collect.CollectError      the data plane (see headwater.collect.errors)

Each stage's `errors.py` draws its own subtree.
"""

from __future__ import annotations

__all__ = ["HeadwaterError"]


class HeadwaterError(Exception):
    """Base for errors the project raises deliberately; anything else is a bug."""
