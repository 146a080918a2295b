"""Settings of the analytics API, and where it finds the model and raw tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from headwater.settings import DECLARED, declare

if TYPE_CHECKING:
    from headwater.config import Config

__all__ = ["AnalyticsSettings"]

declare("analytics.enabled", "bool", True, "Serve the analytics HTTP API from the warehouse process.")
declare(
    "analytics.host",
    "str",
    "127.0.0.1",
    "Address the analytics API listens on (loopback by default: it has no authentication).",
)
declare("analytics.port", "int", 8090, "TCP port of the analytics API.", minimum=0, maximum=65535)

_DEFAULT_MODELS_SCHEMA = "analytics"


@dataclass(frozen=True, slots=True)
class AnalyticsSettings:
    """What the API needs from the config: where to listen and which schemas hold the tables."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8090
    models_schema: str = _DEFAULT_MODELS_SCHEMA
    raw_schema: str = "events"

    @classmethod
    def from_config(cls, config: Config) -> AnalyticsSettings:
        # `models.schema` is declared by the models stage; a build without it still has the default.
        schema = config.values.get("models.schema") if "models.schema" in DECLARED else None
        return cls(
            enabled=config["analytics.enabled"],
            host=config["analytics.host"],
            port=config["analytics.port"],
            models_schema=str(schema or _DEFAULT_MODELS_SCHEMA),
            raw_schema=config["warehouse.namespace"],
        )
