"""What each endpoint answers, as pydantic models: they document the fields in the OpenAPI schema."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AttributionResponse",
    "ErrorResponse",
    "FunnelResponse",
    "OverviewResponse",
    "PathsResponse",
    "RetentionResponse",
    "TimelineResponse",
    "UserResponse",
    "UsersResponse",
]


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class ErrorBody(_Out):
    message: str
    field: str | None = Field(default=None, description="The parameter at fault, dotted for nested ones.")


class ErrorResponse(_Out):
    error: ErrorBody


class DateRange(_Out):
    date_from: date = Field(alias="from", serialization_alias="from")
    date_to: date = Field(alias="to", serialization_alias="to")


class Metric(_Out):
    value: int | float | None = Field(description="This period (counts are whole numbers).")
    previous: int | float | None = Field(description="The previous period of equal length.")
    change: float | None = Field(description="(value - previous) / previous; null when previous is 0.")


class OverviewMetrics(_Out):
    users: Metric
    sessions: Metric
    page_views: Metric
    bounce_rate: Metric
    avg_session_duration_s: Metric
    conversions: Metric
    revenue: Metric


class TopPage(_Out):
    path: str | None
    count: int
    previous: int
    change: float | None


class TopEvent(_Out):
    name: str | None
    count: int
    previous: int
    change: float | None


class TopChannel(_Out):
    channel: str | None
    sessions: int
    users: int
    previous: int = Field(description="Sessions in the previous period.")
    change: float | None


class OverviewResponse(_Out):
    range: DateRange
    previous_range: DateRange
    metrics: OverviewMetrics
    top_pages: list[TopPage]
    top_events: list[TopEvent]
    top_channels: list[TopChannel]


class FunnelStepResult(_Out):
    step: int = Field(description="1-based; for unordered funnels step k means 'completed at least k steps'.")
    name: str
    kind: str
    count: int = Field(description="People whose furthest step is at least this one.")
    conversion_from_previous: float | None
    conversion_from_first: float | None
    dropped: int = Field(description="People who reached this step and not the next.")
    mean_time_to_convert_s: float | None = Field(description="From the previous step, converted people only.")
    median_time_to_convert_s: float | None


class FunnelBreakdownValue(_Out):
    value: str
    steps: list[FunnelStepResult]


class FunnelDropoff(_Out):
    after_step: int
    person_ids: list[str] = Field(
        description="People whose furthest step is after_step (up to dropoff_limit)."
    )


class FunnelResponse(_Out):
    order: str
    window_seconds: int
    steps: list[FunnelStepResult]
    breakdown: str | None
    breakdown_values: list[FunnelBreakdownValue]
    dropoffs: list[FunnelDropoff]


class RetentionValue(_Out):
    period: int
    count: int
    rate: float | None


class RetentionCohort(_Out):
    cohort: date = Field(description="First day of the cohort's period (UTC).")
    size: int
    values: list[RetentionValue]


class RetentionResponse(_Out):
    period: str
    mode: str
    cumulative: bool
    cohorts: list[RetentionCohort]


class PathNode(_Out):
    key: str = Field(description="<step>_<item>")
    step: int
    item: str
    value: int = Field(description="Session paths passing through this node.")


class PathLink(_Out):
    source: str
    target: str
    value: int = Field(description="Session paths taking this link.")
    average_conversion_time_s: float | None


class PathsResponse(_Out):
    item_type: str
    nodes: list[PathNode]
    links: list[PathLink]


class AttributionRow(_Out):
    value: str = Field(description="The channel or campaign.")
    conversions: float = Field(description="Credited conversions (fractions).")
    revenue: float
    removal_effect: float | None = Field(default=None, description="Markov only.")


class AttributionModelResult(_Out):
    model: str
    rows: list[AttributionRow]
    conversions: float
    revenue: float


class AttributionResponse(_Out):
    group_by: str
    models: list[AttributionModelResult]


class UsersResponse(_Out):
    total: int
    limit: int
    offset: int
    users: list[dict[str, Any]]


class UserResponse(_Out):
    profile: dict[str, Any] = Field(description="The user_profiles row.")
    aliases: list[dict[str, Any]] = Field(description="identity_map rows of the person.")


class TimelineResponse(_Out):
    person_id: str
    limit: int
    offset: int
    has_more: bool
    events: list[dict[str, Any]]
