"""What each endpoint accepts, as typed pydantic models: the only shape a request reaches SQL in."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "AttributionRequest",
    "EventSpec",
    "FunnelExclusion",
    "FunnelRequest",
    "OverviewRequest",
    "PathsRequest",
    "PropertyFilter",
    "RangeRequest",
    "RetentionRequest",
]

MAX_RANGE_DAYS = 3660


def _as_list(value: Any) -> Any:
    """Accept one value where a list is expected: `"channel": "Email"` means `["Email"]`."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return value


Names = Annotated[list[Annotated[str, Field(min_length=1, max_length=500)]], BeforeValidator(_as_list)]
Operator = Literal["eq", "neq", "contains", "not_contains", "gt", "gte", "lt", "lte", "is_set", "is_not_set"]
Scalar = str | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PropertyFilter(_Strict):
    """A condition on an event property: a column of the event's raw table (`pages`, `order_completed`...)."""

    property: str = Field(min_length=1, max_length=255, description="Property (raw column) name.")
    operator: Operator = "eq"
    value: Scalar | list[Scalar] | None = Field(
        default=None, description="Compared value; a list for eq/neq means any of them."
    )

    @model_validator(mode="after")
    def _value_needed(self) -> PropertyFilter:
        if self.operator not in ("is_set", "is_not_set") and self.value is None:
            raise ValueError(f"operator {self.operator} needs a value")
        if isinstance(self.value, list) and (self.operator not in ("eq", "neq") or not self.value):
            raise ValueError("a list of values needs operator eq or neq and at least one value")
        return self


class RangeRequest(_Strict):
    """A UTC date range (both days inclusive) and the filters every endpoint takes."""

    date_from: date = Field(alias="from", description="First day (UTC), inclusive.")
    date_to: date = Field(alias="to", description="Last day (UTC), inclusive.")
    channel: Names = Field(default_factory=list, description="Only sessions of these channels.")
    source: Names = Field(default_factory=list, description="Only sessions of these sources.")
    device_category: Names = Field(default_factory=list, description="Desktop, Mobile, Tablet, Other.")
    properties: list[PropertyFilter] = Field(
        default_factory=list, max_length=20, description="Event property conditions (all must hold)."
    )

    @field_validator("date_to")
    @classmethod
    def _ordered_range(cls, value: date, info: ValidationInfo) -> date:
        start = info.data.get("date_from")
        if isinstance(start, date):
            if value < start:
                raise ValueError("'to' is before 'from'")
            if (value - start).days >= MAX_RANGE_DAYS:
                raise ValueError(f"the range is longer than {MAX_RANGE_DAYS} days")
        return value


class OverviewRequest(RangeRequest):
    top: int = Field(default=10, ge=1, le=100, description="Rows in each top list.")


class EventSpec(_Strict):
    """One kind of event: a track event by name, a page view by path, or a screen view by name."""

    kind: Literal["event", "page", "screen"] = "event"
    name: str = Field(min_length=1, max_length=500, description="Event name, page path or screen name.")
    properties: list[PropertyFilter] = Field(default_factory=list, max_length=20)


class FunnelExclusion(EventSpec):
    """Users who do this between two steps of an attempt leave the funnel (PostHog exclusions)."""

    from_step: int = Field(default=1, ge=1, description="1-based step after which the exclusion applies.")
    to_step: int = Field(default=2, ge=2, description="1-based step before which it applies.")


WindowUnit = Literal["minute", "hour", "day", "week", "month"]
WINDOW_SECONDS: dict[str, int] = {
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "week": 7 * 86400,
    "month": 30 * 86400,
}
BREAKDOWNS = (
    "channel",
    "device_category",
    "os_name",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "referrer_host",
    "locale",
    "library_name",
    "device_type",
)


class FunnelRequest(RangeRequest):
    steps: list[EventSpec] = Field(min_length=2, max_length=20)
    window_value: int = Field(default=14, ge=1, le=10000, description="Conversion window length.")
    window_unit: WindowUnit = "day"
    order: Literal["ordered", "strict", "unordered"] = "ordered"
    exclusions: list[FunnelExclusion] = Field(default_factory=list, max_length=10)
    breakdown: Literal[BREAKDOWNS] | None = Field(  # type: ignore[valid-type]
        default=None,
        description="Break down by this event column (value on the person's first funnel event).",
    )
    breakdown_limit: int = Field(default=25, ge=1, le=100)
    dropoff_limit: int = Field(default=100, ge=0, le=1000, description="Person ids listed per drop-off step.")

    @field_validator("exclusions")
    @classmethod
    def _exclusions_fit(cls, value: list[FunnelExclusion], info: ValidationInfo) -> list[FunnelExclusion]:
        steps = info.data.get("steps")
        if value and info.data.get("order") == "unordered":
            raise ValueError("exclusions are not supported with order unordered")
        for exclusion in value:
            if isinstance(steps, list) and exclusion.to_step > len(steps):
                raise ValueError("an exclusion's to_step is past the last step")
            if exclusion.from_step >= exclusion.to_step:
                raise ValueError("an exclusion needs from_step < to_step")
        return value

    @property
    def window_seconds(self) -> int:
        return self.window_value * WINDOW_SECONDS[self.window_unit]


class RetentionRequest(RangeRequest):
    start_event: EventSpec | None = Field(default=None, description="Cohort event (none: any event).")
    return_event: EventSpec | None = Field(default=None, description="Return event (none: any event).")
    period: Literal["day", "week", "month"] = "day"
    mode: Literal["recurring", "first_time"] = "recurring"
    cumulative: bool = False
    periods: int | None = Field(
        default=None,
        ge=1,
        le=120,
        description="Periods after the cohort's (default: as many as the range holds).",
    )


class PathsRequest(RangeRequest):
    item_type: Literal["pages", "screens", "events", "all"] = "pages"
    start: str | None = Field(default=None, min_length=1, max_length=500, description="Start item.")
    end: str | None = Field(default=None, min_length=1, max_length=500, description="End item.")
    steps: int = Field(default=5, ge=2, le=20)
    edge_limit: int = Field(default=50, ge=1, le=1000)

    @model_validator(mode="after")
    def _one_anchor(self) -> PathsRequest:
        if self.start is not None and self.end is not None:
            raise ValueError("give start or end, not both")
        return self


RULE_MODELS = ("first_touch", "last_touch", "last_non_direct", "linear", "time_decay", "position_based")
AttributionModel = Literal[
    "first_touch", "last_touch", "last_non_direct", "linear", "time_decay", "position_based", "markov"
]


def _all_models() -> list[AttributionModel]:
    return [
        "first_touch",
        "last_touch",
        "last_non_direct",
        "linear",
        "time_decay",
        "position_based",
        "markov",
    ]


class AttributionRequest(RangeRequest):
    models: list[AttributionModel] = Field(default_factory=_all_models, min_length=1)
    group_by: Literal["channel", "campaign"] = "channel"

    @field_validator("group_by")
    @classmethod
    def _markov_by_channel(cls, value: str, info: ValidationInfo) -> str:
        if value != "channel" and "markov" in (info.data.get("models") or ()):
            raise ValueError(
                "the markov model is computed by channel only (attribution_paths holds channels)"
            )
        return value
