"""Settings of the models stage: the dbt project, its vars and its schedules.

The dbt vars the project reads are derived from these, so an operator tunes sessions, conversions
and attribution in `headwater.yaml` like everything else, never in the packaged dbt_project.yml.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from headwater.settings import declare

if TYPE_CHECKING:
    from headwater.config import Config

__all__ = ["ModelsSettings", "split_list"]

declare(
    "models.enabled",
    "bool",
    True,
    "Run the dbt models on their schedules in `headwater up` (off: only `headwater models run`).",
)
declare("models.schema", "str", "analytics", "Schema the models are built in.")
declare(
    "models.schedule",
    "str",
    "0 * * * *",
    "Cron expression of incremental runs, in models.timezone (empty: none).",
)
declare(
    "models.full_refresh_schedule",
    "str",
    "30 3 * * *",
    "Cron expression of full rebuilds (`dbt build --full-refresh`), in models.timezone (empty: none).",
)
declare(
    "models.run_after_loads",
    "bool",
    True,
    "Also run incrementally once new loads have committed since the last run.",
)
declare(
    "models.min_interval_seconds",
    "float",
    300.0,
    "Least time between the start of one run and an after-loads run.",
    minimum=0,
)
declare(
    "models.timezone",
    "str",
    "UTC",
    "IANA time zone of the schedules and of the day/week/month buckets of the summaries.",
)
declare("models.threads", "int", 1, "dbt threads (models built at the same time).", minimum=1)
declare(
    "models.retries",
    "int",
    2,
    "Scheduled runs that fail are tried again this many times.",
    minimum=0,
)
declare(
    "models.retry_delay_seconds",
    "float",
    60.0,
    "Pause before the first retry; it doubles for each further one.",
    minimum=0,
)
declare(
    "models.session_timeout_minutes",
    "int",
    30,
    "A device's next event after this long idle starts a new session.",
    minimum=1,
)
declare(
    "models.trailing_window_hours",
    "int",
    3,
    "Incremental runs re-read raw rows loaded this long before the newest already modelled.",
    minimum=0,
)
declare(
    "models.conversion_events",
    "str",
    "Order Completed",
    "Comma-separated track event names that count as conversions.",
)
declare(
    "models.revenue_properties",
    "str",
    "revenue,total,value",
    "Comma-separated event properties tried in order for a conversion's revenue.",
)
declare(
    "models.attribution_lookback_days",
    "int",
    30,
    "Sessions this many days before a conversion can be credited with it.",
    minimum=1,
)
declare(
    "models.time_decay_half_life_days",
    "float",
    7.0,
    "Half-life of the time-decay attribution model, in days.",
    minimum=0.01,
)
declare("models.project_dir", "str", "", "dbt project to run (empty: the one inside Headwater).")
declare(
    "models.profiles_dir",
    "str",
    "",
    "Folder holding a profiles.yml with profile `headwater` (empty: generated from the warehouse settings).",
)
declare("models.target", "str", "", "Target of that profile to use (empty: its default).")


def split_list(text: str) -> list[str]:
    """`"a, b,,c"` → `["a", "b", "c"]`: comma lists are how list settings fit one env var."""
    return [part.strip() for part in text.split(",") if part.strip()]


@dataclass(frozen=True, slots=True)
class ModelsSettings:
    """The models stage's resolved settings."""

    enabled: bool = True
    schema: str = "analytics"
    schedule: str = "0 * * * *"
    full_refresh_schedule: str = "30 3 * * *"
    run_after_loads: bool = True
    min_interval_seconds: float = 300.0
    timezone: str = "UTC"
    threads: int = 1
    retries: int = 2
    retry_delay_seconds: float = 60.0
    session_timeout_minutes: int = 30
    trailing_window_hours: int = 3
    conversion_events: tuple[str, ...] = ("Order Completed",)
    revenue_properties: tuple[str, ...] = ("revenue", "total", "value")
    attribution_lookback_days: int = 30
    time_decay_half_life_days: float = 7.0
    project_dir: Path | None = None
    profiles_dir: Path | None = None
    target: str = ""
    work_dir: Path = field(default=Path("models"))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_config(cls, config: Config) -> ModelsSettings:
        """Resolve and check the settings that only make sense together (time zone, cron expressions)."""
        from headwater.config import ConfigError

        where = str(config.path) if config.path else "(defaults)"
        timezone = config["models.timezone"]
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(where, "models.timezone", f"unknown time zone {timezone!r}") from None
        from headwater.models.schedule import check_cron

        for key in ("models.schedule", "models.full_refresh_schedule"):
            problem = check_cron(config[key])
            if problem:
                raise ConfigError(where, key, problem)
        return cls(
            enabled=config["models.enabled"],
            schema=config["models.schema"],
            schedule=config["models.schedule"].strip(),
            full_refresh_schedule=config["models.full_refresh_schedule"].strip(),
            run_after_loads=config["models.run_after_loads"],
            min_interval_seconds=config["models.min_interval_seconds"],
            timezone=timezone,
            threads=config["models.threads"],
            retries=config["models.retries"],
            retry_delay_seconds=config["models.retry_delay_seconds"],
            session_timeout_minutes=config["models.session_timeout_minutes"],
            trailing_window_hours=config["models.trailing_window_hours"],
            conversion_events=tuple(split_list(config["models.conversion_events"])),
            revenue_properties=tuple(split_list(config["models.revenue_properties"])),
            attribution_lookback_days=config["models.attribution_lookback_days"],
            time_decay_half_life_days=config["models.time_decay_half_life_days"],
            project_dir=_folder(config, "models.project_dir"),
            profiles_dir=_folder(config, "models.profiles_dir"),
            target=config["models.target"],
            work_dir=config.data_dir / "models",
        )

    def describe(self) -> dict[str, Any]:
        """The schedule part, for status answers."""
        return {
            "enabled": self.enabled,
            "schema": self.schema,
            "schedule": self.schedule,
            "full_refresh_schedule": self.full_refresh_schedule,
            "run_after_loads": self.run_after_loads,
            "min_interval_seconds": self.min_interval_seconds,
            "timezone": self.timezone,
        }


def _folder(config: Config, key: str) -> Path | None:
    """A folder setting; relative paths in the file are relative to the file, as `data_dir` is."""
    raw = config[key]
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_absolute() and config.origins.get(key) == "file" and config.path is not None:
        path = config.path.parent / path
    return path.absolute()
