"""Attribution: the rule models summed from `attribution_credits`, and the Markov model computed here.

Rule models (first_touch, last_touch, last_non_direct, linear, time_decay, position_based) are
built by the models stage; this sums each model's credit (fractional conversions) and revenue
credit per channel or campaign for conversions in the range.

Markov (first order, removal effect): every path of `attribution_paths` ending in the range, with
converted and non-converting paths, is a walk start -> channel ... -> conversion | null. From the
transition counts, P = probability of reaching conversion from start. Removing a channel sends
every transition into it to null; its removal effect is 1 - P(without it) / P. Each channel's share
is its removal effect over the sum of all effects, times the conversions (and the revenue) of the
range. The database groups paths by text, so Python only sees the distinct paths.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from headwater.analytics.filters import property_condition
from headwater.analytics.requests import RULE_MODELS, AttributionRequest
from headwater.analytics.sql import Params, Tables, range_bounds, run

__all__ = ["attribution", "markov_credits"]

_START, _CONVERSION, _NULL = "(start)", "(conversion)", "(null)"
PATH_SEPARATOR = " > "


def attribution(request: AttributionRequest, tables: Tables) -> dict[str, Any]:
    out: dict[str, Any] = {"group_by": request.group_by, "models": []}
    rules = [model for model in request.models if model in RULE_MODELS]
    if rules:
        out["models"].extend(_rules(request, tables, rules))
    if "markov" in request.models:
        out["models"].append(_markov(request, tables))
    order = {name: i for i, name in enumerate(request.models)}
    out["models"].sort(key=lambda model: order[model["model"]])
    return out


def _rules(request: AttributionRequest, tables: Tables, models: Sequence[str]) -> list[dict[str, Any]]:
    params = Params()
    start, end = range_bounds(request.date_from, request.date_to)
    column = "a.channel" if request.group_by == "channel" else "a.campaign"
    conditions = [
        f"a.conversion_ts >= {params.ts(start)}",
        f"a.conversion_ts < {params.ts(end)}",
        f"a.model IN ({params.bind_list(models)})",
    ]
    for name in ("channel", "source"):
        values = getattr(request, name)
        if values:
            conditions.append(f"a.{name} IN ({params.bind_list(values)})")
    matched = property_condition(request.properties, tables, params, "properties", "a", "conversion_id")
    if matched:
        conditions.append(matched)
    if request.device_category:
        conditions.append(
            f"a.conversion_id IN (SELECT c.conversion_id FROM {tables.model('conversions')} AS c "
            f"JOIN {tables.model('sessions')} AS s ON s.session_id = c.session_id "
            f"WHERE s.device_category IN ({params.bind_list(request.device_category)}))"
        )
    result = run(
        tables.engine,
        f"SELECT a.model, {column} AS grp, SUM(a.credit) AS conversions, SUM(a.revenue_credit) AS revenue "
        f"FROM {tables.model('attribution_credits')} AS a WHERE {' AND '.join(conditions)} "
        f"GROUP BY a.model, {column} ORDER BY a.model, conversions DESC, grp",
        params,
    )
    grouped: dict[str, list[dict[str, Any]]] = {model: [] for model in models}
    for model, group, conversions, revenue in result.rows:
        grouped[str(model)].append(
            {
                "value": group if group is not None else "(none)",
                "conversions": float(conversions or 0),
                "revenue": float(revenue or 0),
            }
        )
    return [
        {
            "model": model,
            "rows": rows,
            "conversions": sum(row["conversions"] for row in rows),
            "revenue": sum(row["revenue"] for row in rows),
        }
        for model, rows in grouped.items()
    ]


def _markov(request: AttributionRequest, tables: Tables) -> dict[str, Any]:
    params = Params()
    start, end = range_bounds(request.date_from, request.date_to)
    result = run(
        tables.engine,
        "SELECT p.path, p.converted, COUNT(*) AS n, SUM(COALESCE(p.revenue, 0)) AS revenue "
        f"FROM {tables.model('attribution_paths')} AS p "
        f"WHERE p.path_end_ts >= {params.ts(start)} AND p.path_end_ts < {params.ts(end)} AND "
        "p.path IS NOT NULL "
        "GROUP BY p.path, p.converted",
        params,
    )
    paths = [
        (
            [part for part in str(path).split(PATH_SEPARATOR) if part],
            bool(converted),
            int(n),
            float(revenue or 0),
        )
        for path, converted, n, revenue in result.rows
    ]
    credits = markov_credits([(path, converted, n) for path, converted, n, _ in paths])
    conversions = sum(n for _, converted, n, _ in paths if converted)
    revenue = sum(value for _, converted, _, value in paths if converted)
    wanted = set(request.channel)
    rows: list[dict[str, Any]] = [
        {
            "value": channel,
            "conversions": share * conversions,
            "revenue": share * revenue,
            "removal_effect": effect,
        }
        for channel, (share, effect) in credits.items()
        if not wanted or channel in wanted
    ]
    rows.sort(key=lambda row: (-row["conversions"], row["value"]))
    return {
        "model": "markov",
        "rows": rows,
        "conversions": sum(row["conversions"] for row in rows),
        "revenue": sum(row["revenue"] for row in rows),
    }


def markov_credits(paths: list[tuple[list[str], bool, int]]) -> dict[str, tuple[float, float]]:
    """Channel -> (share of conversions, removal effect) for (channels, converted, count) paths."""
    counts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    channels: set[str] = set()
    for steps, converted, n in paths:
        walk = [_START, *steps, _CONVERSION if converted else _NULL]
        channels.update(steps)
        for here, there in pairwise(walk):
            counts[here][there] += n
    base = _conversion_probability(counts, None)
    if base <= 0:
        return {}
    effects = {
        channel: max(0.0, 1.0 - _conversion_probability(counts, channel) / base) for channel in channels
    }
    total = sum(effects.values())
    if total <= 0:
        return {}
    return {channel: (effect / total, effect) for channel, effect in sorted(effects.items())}


def _conversion_probability(counts: dict[str, dict[str, float]], removed: str | None) -> float:
    """P(reach conversion from start) of the absorbing chain, with `removed` turned into a dead end."""
    states = [state for state in counts if state != removed]
    index = {state: i for i, state in enumerate(states)}
    size = len(states)
    # p = T p + b, where b is each state's direct probability of converting: solve (I - T) p = b.
    matrix = np.eye(size)
    target = np.zeros(size)
    for state in states:
        row = counts[state]
        total = sum(row.values())
        if total <= 0:
            continue
        for there, n in row.items():
            if there == _CONVERSION:
                target[index[state]] += n / total
            elif there in index:
                matrix[index[state], index[there]] -= n / total
    try:
        solved = np.linalg.solve(matrix, target)
    except np.linalg.LinAlgError:
        solved = np.linalg.lstsq(matrix, target, rcond=None)[0]
    return float(solved[index[_START]]) if _START in index else 0.0
