"""Control plane: sources and their write keys (destinations and connections come with later stages)."""

from headwater.control.errors import ControlError, SourceConfigError
from headwater.control.sources import (
    Source,
    SourceRegistry,
    effective_sources,
    ensure_demo_source,
    new_write_key,
    parse_sources,
)

__all__ = [
    "ControlError",
    "Source",
    "SourceConfigError",
    "SourceRegistry",
    "effective_sources",
    "ensure_demo_source",
    "new_write_key",
    "parse_sources",
]
