"""The FastAPI application: routes, validation into typed requests, and errors as JSON.

Handlers are plain functions, so FastAPI runs them in its thread pool, where each `Engine.query`
takes its own cursor; the live stream is the one async route. Every error answers
`{"error": {"message": ..., "field": ...}}`: 422 for a request that does not validate, 400 for one
that validates but cannot be answered as asked (an unknown property), 404 for an unknown person,
503 when the warehouse cannot answer (model tables not built yet).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException

from headwater.analytics import attribution, funnels, overview, paths, retention, users
from headwater.analytics.errors import ApiError
from headwater.analytics.live import event_stream
from headwater.analytics.requests import (
    AttributionRequest,
    FunnelRequest,
    OverviewRequest,
    PathsRequest,
    RetentionRequest,
)
from headwater.analytics.responses import (
    AttributionResponse,
    ErrorResponse,
    FunnelResponse,
    OverviewResponse,
    PathsResponse,
    RetentionResponse,
    TimelineResponse,
    UserResponse,
    UsersResponse,
)
from headwater.analytics.sql import Tables
from headwater.log.base import EventLog
from headwater.logs import get_logger

__all__ = ["AnalyticsContext", "create_app"]

log = get_logger("headwater.analytics")

PREFIX = "/api/v1"
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The request cannot be answered as asked."},
    422: {"model": ErrorResponse, "description": "The request does not validate."},
    503: {"model": ErrorResponse, "description": "The warehouse cannot answer (tables not built yet)."},
}


@dataclass
class AnalyticsContext:
    """What the routes read from: the warehouse tables, the event log and the pipeline's health."""

    tables: Tables
    event_log: EventLog | None
    health: Callable[[], dict[str, Any]]
    stop: threading.Event = field(default_factory=threading.Event)


def _error(status: int, message: str, field: str | None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "field": field}}, status_code=status)


def _field(location: tuple[Any, ...] | list[Any]) -> str | None:
    parts = [str(part) for part in location if part not in ("body", "query", "path")]
    return ".".join(parts) or None


def create_app(context: AnalyticsContext) -> FastAPI:
    app = FastAPI(
        title="Headwater analytics API",
        version="1",
        description="Overview, funnels, retention, paths, attribution, users, live events and pipeline "
        "health over the Headwater warehouse. Semantics: docs/analytics-api.md (PostHog-compatible "
        "funnels, retention and paths; all times UTC).",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {"msg": "invalid request", "loc": ()}
        message = str(first.get("msg", "invalid request"))
        return _error(422, message, _field(first.get("loc", ())))

    @app.exception_handler(ApiError)
    async def refused(request: Request, error: ApiError) -> JSONResponse:
        return _error(error.status, error.message, error.field)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail), None)

    @app.exception_handler(Exception)
    async def failed(request: Request, error: Exception) -> JSONResponse:
        log.exception("analytics request failed", extra={"path": request.url.path})
        return _error(500, "internal error", None)

    tables = context.tables

    @app.post(f"{PREFIX}/overview", response_model=OverviewResponse, responses=_ERRORS, tags=["traffic"])
    def post_overview(body: OverviewRequest) -> dict[str, Any]:
        """Users, sessions, page views, bounce rate, session duration, conversions and revenue with the
        change against the previous period of equal length; top pages, events and channels."""
        return overview.overview(body, tables)

    @app.post(f"{PREFIX}/funnels", response_model=FunnelResponse, responses=_ERRORS, tags=["product"])
    def post_funnel(body: FunnelRequest) -> dict[str, Any]:
        """Step counts, conversion, time to convert and drop-offs (PostHog semantics)."""
        return funnels.funnel(body, tables)

    @app.post(f"{PREFIX}/retention", response_model=RetentionResponse, responses=_ERRORS, tags=["product"])
    def post_retention(body: RetentionRequest) -> dict[str, Any]:
        """Cohort retention (recurring or first-time, optionally cumulative)."""
        return retention.retention(body, tables)

    @app.post(f"{PREFIX}/paths", response_model=PathsResponse, responses=_ERRORS, tags=["product"])
    def post_paths(body: PathsRequest) -> dict[str, Any]:
        """The most common paths after a start item or before an end item, as nodes and links."""
        return paths.paths(body, tables)

    @app.post(
        f"{PREFIX}/attribution", response_model=AttributionResponse, responses=_ERRORS, tags=["marketing"]
    )
    def post_attribution(body: AttributionRequest) -> dict[str, Any]:
        """Conversions and revenue credited per channel or campaign by each attribution model."""
        return attribution.attribution(body, tables)

    @app.get(f"{PREFIX}/users", response_model=UsersResponse, responses=_ERRORS, tags=["users"])
    def get_users(
        q: str | None = Query(
            default=None, max_length=500, description="Substring of id, user id, email or name."
        ),
        limit: int = Query(default=50, ge=1, le=1000),
        offset: int = Query(default=0, ge=0, le=1_000_000),
    ) -> dict[str, Any]:
        """Search people (user_profiles), most recently seen first."""
        return users.search(tables, q, limit, offset)

    @app.get(f"{PREFIX}/users/{{person_id}}", response_model=UserResponse, responses=_ERRORS, tags=["users"])
    def get_user(person_id: str) -> dict[str, Any]:
        """One person's profile and the ids stitched to them."""
        return users.profile(tables, person_id)

    @app.get(
        f"{PREFIX}/users/{{person_id}}/events",
        response_model=TimelineResponse,
        responses=_ERRORS,
        tags=["users"],
    )
    def get_timeline(
        person_id: str,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        before: Annotated[datetime | None, Query(description="Only events before this time.")] = None,
    ) -> dict[str, Any]:
        """One person's events, newest first."""
        return users.timeline(tables, person_id, limit, offset, before)

    @app.get(
        f"{PREFIX}/live",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events."}},
        tags=["pipeline"],
    )
    async def get_live(
        last: Annotated[int, Query(ge=0, le=1000, description="Recent events sent first.")] = 50,
        follow: Annotated[bool, Query(description="Keep the stream open and send new events.")] = True,
    ) -> StreamingResponse:
        """The newest events from the event log as server-sent events (`event: event`)."""
        if context.event_log is None:
            raise ApiError("no event log is attached to this process", None, status=503)
        stream = event_stream(context.event_log, last, follow, context.stop)
        return StreamingResponse(
            stream,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.get(f"{PREFIX}/health", tags=["pipeline"])
    def get_health() -> dict[str, Any]:
        """The pipeline's health as the warehouse process reports it (loader and scheduler)."""
        return context.health()

    return app
