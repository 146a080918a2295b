"""The overview page: traffic totals, top pages, events and channels, each against the previous period.

The previous period is the same number of days ending the day before `from`. Sessions are the
`sessions` table's (server-only sessions, which have no anonymous id, are left out as in
`daily_traffic`), counted in the period their start falls in; a session is bounced when it is not
engaged (GA4: at most 10 s, fewer than two page/screen views and no conversion). Both periods come
from one scan each, grouped by which period a row falls in.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from headwater.analytics.filters import property_condition, scope_conditions, session_conditions
from headwater.analytics.requests import OverviewRequest
from headwater.analytics.sql import Params, Tables, range_bounds, run

__all__ = ["change", "overview"]

_METRICS = (
    "users",
    "sessions",
    "page_views",
    "bounce_rate",
    "avg_session_duration_s",
    "conversions",
    "revenue",
)


_COUNTS = frozenset({"users", "sessions", "page_views", "conversions"})


def change(current: float | None, previous: float | None) -> float | None:
    """Relative change (0.25 = +25 %); none when the previous value is zero or missing."""
    if current is None or previous is None or previous == 0:
        return None
    return (current - previous) / previous


def _metric(current: Any, previous: Any, *, count: bool) -> dict[str, Any]:
    """Counts stay whole numbers in the answer; averages and money are floats."""
    kind = int if count else float
    cur = kind(current) if current is not None else None
    prev = kind(previous) if previous is not None else None
    return {"value": cur, "previous": prev, "change": change(cur, prev)}


def overview(request: OverviewRequest, tables: Tables) -> dict[str, Any]:
    start, end = range_bounds(request.date_from, request.date_to)
    days = (request.date_to - request.date_from).days + 1
    prev_start = start - timedelta(days=days)
    sessions = _sessions(request, tables, start, end, prev_start)
    items = _top_items(request, tables, start, end, prev_start)
    channels = _top_channels(request, tables, start, end, prev_start)
    return {
        "range": {"from": request.date_from, "to": request.date_to},
        "previous_range": {
            "from": request.date_from - timedelta(days=days),
            "to": request.date_from - timedelta(days=1),
        },
        "metrics": sessions,
        "top_pages": items["page"],
        "top_events": items["track"],
        "top_channels": channels,
    }


def _session_where(
    request: OverviewRequest, tables: Tables, params: Params, start: Any, end: Any, prev_start: Any
) -> str:
    conditions = [
        f"s.session_start >= {params.ts(prev_start)}",
        f"s.session_start < {params.ts(end)}",
        "s.is_server_only IS NOT TRUE",
        *session_conditions(request, params),
    ]
    matched = property_condition(request.properties, tables, params, "properties", alias="e")
    if matched:
        # A session counts when it holds at least one event that satisfies the property filters.
        conditions.append(
            f"s.session_id IN (SELECT e.session_id FROM {tables.model('events_sessionized')} AS e "
            f"WHERE e.ts >= {params.ts(prev_start)} AND e.ts < {params.ts(end)} AND {matched})"
        )
    return " AND ".join(conditions)


def _sessions(
    request: OverviewRequest, tables: Tables, start: Any, end: Any, prev_start: Any
) -> dict[str, Any]:
    params = Params()
    current = params.ts(start)
    where = _session_where(request, tables, params, start, end, prev_start)
    result = run(
        tables.engine,
        f"SELECT CASE WHEN s.session_start >= {current} THEN 1 ELSE 0 END AS cur, "
        "COUNT(DISTINCT s.person_id) AS users, COUNT(*) AS sessions, "
        "SUM(s.n_page_views) AS page_views, "
        "AVG(CASE WHEN s.is_bounce THEN 1.0 ELSE 0.0 END) AS bounce_rate, "
        "AVG(s.duration_s) AS avg_session_duration_s, SUM(s.n_conversions) AS conversions, "
        "SUM(s.revenue) AS revenue "
        f"FROM {tables.model('sessions')} AS s WHERE {where} GROUP BY 1",
        params,
    )
    by_period = {int(row[0]): row[1:] for row in result.rows}
    zero: dict[str, Any] = {"users": 0, "sessions": 0, "page_views": 0, "conversions": 0, "revenue": 0.0}
    out: dict[str, Any] = {}
    for index, name in enumerate(_METRICS):
        cur = by_period[1][index] if 1 in by_period else zero.get(name)
        prev = by_period[0][index] if 0 in by_period else zero.get(name)
        out[name] = _metric(cur, prev, count=name in _COUNTS)
    return out


def _top_items(
    request: OverviewRequest, tables: Tables, start: Any, end: Any, prev_start: Any
) -> dict[str, list[dict[str, Any]]]:
    params = Params()
    current = params.ts(start)
    where = " AND ".join(scope_conditions(request, tables, params, start=prev_start, end=end))
    top = params.bind(request.top)
    result = run(
        tables.engine,
        "WITH counted AS ("
        "SELECT e.event_type AS kind, CASE WHEN e.event_type = 'page' THEN e.page_path ELSE "
        "e.event_name END AS item, "
        f"SUM(CASE WHEN e.ts >= {current} THEN 1 ELSE 0 END) AS cur, "
        f"SUM(CASE WHEN e.ts < {current} THEN 1 ELSE 0 END) AS prev "
        f"FROM {tables.model('events_sessionized')} AS e "
        f"WHERE {where} AND e.event_type IN ('page', 'track') GROUP BY 1, 2), "
        "ranked AS (SELECT kind, item, cur, prev, "
        "ROW_NUMBER() OVER (PARTITION BY kind ORDER BY cur DESC, item) AS rank FROM counted WHERE cur > 0) "
        f"SELECT kind, item, cur, prev FROM ranked WHERE rank <= {top} ORDER BY kind, rank",
        params,
    )
    out: dict[str, list[dict[str, Any]]] = {"page": [], "track": []}
    for kind, item, cur, prev in result.rows:
        label = "path" if kind == "page" else "name"
        out[str(kind)].append(
            {label: item, "count": int(cur), "previous": int(prev), "change": change(float(cur), float(prev))}
        )
    return out


def _top_channels(
    request: OverviewRequest, tables: Tables, start: Any, end: Any, prev_start: Any
) -> list[dict[str, Any]]:
    params = Params()
    current = params.ts(start)
    where = _session_where(request, tables, params, start, end, prev_start)
    top = params.bind(request.top)
    result = run(
        tables.engine,
        "WITH counted AS (SELECT s.channel AS channel, "
        f"SUM(CASE WHEN s.session_start >= {current} THEN 1 ELSE 0 END) AS cur, "
        f"SUM(CASE WHEN s.session_start < {current} THEN 1 ELSE 0 END) AS prev, "
        f"COUNT(DISTINCT CASE WHEN s.session_start >= {current} THEN s.person_id END) AS users "
        f"FROM {tables.model('sessions')} AS s WHERE {where} GROUP BY 1) "
        f"SELECT channel, cur, prev, users FROM counted WHERE cur > 0 ORDER BY cur DESC, channel LIMIT {top}",
        params,
    )
    return [
        {
            "channel": channel,
            "sessions": int(cur),
            "users": int(users),
            "previous": int(prev),
            "change": change(float(cur), float(prev)),
        }
        for channel, cur, prev, users in result.rows
    ]
