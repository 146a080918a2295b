"""User paths with PostHog's semantics: the most common next steps after a start item, or before an end.

A person's events of the chosen item type (page paths, screen names, track event names, or all
three) are split into path sessions when the gap between consecutive events exceeds 30 minutes
(the platform's session rule), consecutive repeats of an item collapse into one (keeping the later
time), and each session path is cut to `steps` items: from the first occurrence of `start`, or the
last `steps` items up to the first occurrence of `end`, or from the session's beginning. Nodes are
keyed `<step>_<item>`; a link's value is the number of session paths taking it, with the average
time between the two items. The `edge_limit` heaviest links are kept, then only those reachable from
a step-1 node.

Events at the same instant are taken in the order of their items' text (any fixed order would do;
this one needs no id column). The events come back from one sorted query, the walk over them is numpy.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from headwater.analytics.filters import scope_conditions
from headwater.analytics.requests import PathsRequest
from headwater.analytics.sql import Params, Tables, range_bounds, run_arrow

__all__ = ["SESSION_GAP_SECONDS", "paths"]

SESSION_GAP_SECONDS = 1800

# Largest (step, item, next item) key space counted in a dense table rather than by sorting the keys.
_DENSE_KEYS = 1 << 22

_ITEMS = {
    "pages": ("e.page_path", "e.event_type = 'page'"),
    "screens": ("e.screen_name", "e.event_type = 'screen'"),
    "events": ("e.event_name", "e.event_type = 'track'"),
    "all": (
        "CASE e.event_type WHEN 'page' THEN e.page_path WHEN 'screen' THEN e.screen_name ELSE "
        "e.event_name END",
        "e.event_type IN ('page', 'screen', 'track')",
    ),
}


def paths(request: PathsRequest, tables: Tables) -> dict[str, Any]:
    params = Params()
    start, end = range_bounds(request.date_from, request.date_to)
    item, kind = _ITEMS[request.item_type]
    where = " AND ".join([*scope_conditions(request, tables, params, start=start, end=end), kind])
    # The events come back ordered by (person, time, item) with each item as a small integer code
    # (its rank among the range's items, so ties break by the item); the code's text comes in rows of
    # their own, person key -1, ahead of the events. Everything after the one sort is linear work in
    # numpy: three window passes over the same rows in SQL cost three sorts.
    statement = (
        "WITH ev AS ("
        "SELECT e.person_key AS pk, CAST(EXTRACT(EPOCH FROM e.ts) AS DOUBLE PRECISION) AS es, "
        f"{item} AS item "
        f"FROM {tables.model('events_sessionized')} AS e WHERE {where} AND {item} IS NOT NULL "
        "AND e.person_key IS NOT NULL), "
        "items AS (SELECT item, CAST(ROW_NUMBER() OVER (ORDER BY item) AS INTEGER) AS code "
        "FROM (SELECT DISTINCT item FROM ev) AS d) "
        "SELECT ev.pk, ev.es, i.code, CAST(NULL AS TEXT) AS item FROM ev JOIN items AS i ON i.item = ev.item "
        "UNION ALL SELECT CAST(-1 AS BIGINT), CAST(0 AS DOUBLE PRECISION), code, item FROM items "
        "ORDER BY 1, 2, 3"
    )
    table = run_arrow(tables.engine, statement, params)
    pk = table.column("pk").to_numpy()
    names_at = int(np.searchsorted(pk, 0))  # the dictionary rows come first
    codes = table.column("code").to_numpy()
    names: list[str] = [""] * (names_at + 1)
    for code, text in zip(
        codes[:names_at].tolist(), table.column("item").slice(0, names_at).to_pylist(), strict=True
    ):
        names[int(code)] = str(text)
    anchor_text = request.start if request.start is not None else request.end
    anchor = names.index(anchor_text, 1) if anchor_text is not None and anchor_text in names[1:] else -1
    rows = _links(
        pk[names_at:],
        table.column("es").to_numpy()[names_at:],
        codes[names_at:].astype(np.int64),
        request.steps,
        anchor,
        "end" if request.end is not None else "start" if request.start is not None else None,
    )
    return _graph(request, [(step, names[c], names[t] if t else None, n, dt) for step, c, t, n, dt in rows])


def _links(
    pk: Any, es: Any, code: Any, steps: int, anchor: int, anchored: str | None
) -> list[tuple[int, int, int, int, float | None]]:
    """(step, item code, next item code or 0, session paths, mean seconds to it) from sorted events."""
    n = len(pk)
    if n == 0 or (anchored is not None and anchor < 0):
        return []
    brk = np.ones(n, dtype=bool)
    brk[1:] = (pk[1:] != pk[:-1]) | (es[1:] - es[:-1] > SESSION_GAP_SECONDS)
    # A row repeating the next one's item in the same path session collapses into it (the later time).
    keep = np.ones(n, dtype=bool)
    keep[:-1] = brk[1:] | (code[1:] != code[:-1])
    session = np.cumsum(brk)[keep]
    times, items = es[keep], code[keep]
    m = len(session)
    first = np.ones(m, dtype=bool)
    first[1:] = session[1:] != session[:-1]
    index = np.arange(m)
    pos = index - np.maximum.accumulate(np.where(first, index, 0))  # 0-based place in the session
    if anchored is None:
        cut = pos < steps
        step = pos + 1
    else:
        ordinal = np.cumsum(first) - 1
        at = np.full(int(ordinal[-1]) + 1, -1, dtype=np.int64)
        hits = np.flatnonzero(items == anchor)
        earliest = hits[np.r_[True, ordinal[hits[1:]] != ordinal[hits[:-1]]]] if len(hits) else hits
        at[ordinal[earliest]] = pos[earliest]
        a = at[ordinal]
        if anchored == "start":
            cut = (a >= 0) & (pos >= a) & (pos < a + steps)
            step = pos - a + 1
        else:
            cut = (a >= 0) & (pos <= a) & (pos > a - steps)
            step = pos - a + np.minimum(a + 1, steps)
    # The link from each kept row is to the next kept row of the same session.
    linked = np.zeros(m, dtype=bool)
    linked[:-1] = cut[:-1] & cut[1:] & ~first[1:]
    target = np.zeros(m, dtype=np.int64)
    target[:-1] = np.where(linked[:-1], items[1:], 0)
    gap = np.zeros(m, dtype=np.float64)
    gap[:-1] = np.where(linked[:-1], times[1:] - times[:-1], 0.0)
    width = int(items.max()) + 1
    key = (step[cut].astype(np.int64) * width + items[cut]) * width + target[cut]
    space = (steps + 1) * width * width
    if space <= _DENSE_KEYS:  # few distinct items: count straight into a table of every key
        counted = np.bincount(key, minlength=space)
        groups = np.flatnonzero(counted)
        counts = counted[groups]
        seconds = np.bincount(key, weights=gap[cut], minlength=space)[groups]
    else:
        found = np.unique(key, return_inverse=True, return_counts=True)
        groups, counts = found[0], found[2]
        seconds = np.bincount(found[1], weights=gap[cut], minlength=len(groups))
    out = []
    for group, count, total in zip(groups.tolist(), counts.tolist(), seconds.tolist(), strict=True):
        rest, to = divmod(group, width)
        step_no, source = divmod(rest, width)
        out.append((step_no, source, to, count, total / count if to else None))
    return out


def _key(step: int, item: str) -> str:
    return f"{step}_{item}"


def _graph(request: PathsRequest, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    node_values: dict[str, int] = defaultdict(int)
    node_info: dict[str, tuple[int, str]] = {}
    edges: list[dict[str, Any]] = []
    for step, item, target, count, avg_dt in rows:
        step, count = int(step), int(count)
        source = _key(step, str(item))
        node_values[source] += count
        node_info[source] = (step, str(item))
        if target is not None:
            edges.append(
                {
                    "source": source,
                    "target": _key(step + 1, str(target)),
                    "value": count,
                    "average_conversion_time_s": None if avg_dt is None else float(avg_dt),
                }
            )
    edges.sort(key=lambda edge: (-edge["value"], edge["source"], edge["target"]))
    edges = edges[: request.edge_limit]
    # Keep only links reachable from a step-1 node through kept links.
    reachable = {key for key, (step, _) in node_info.items() if step == 1}
    kept: list[dict[str, Any]] = []
    for edge in sorted(edges, key=lambda e: int(e["source"].split("_", 1)[0])):
        if edge["source"] in reachable:
            kept.append(edge)
            reachable.add(edge["target"])
    kept.sort(key=lambda edge: (-edge["value"], edge["source"], edge["target"]))
    used = {edge["source"] for edge in kept} | {edge["target"] for edge in kept}
    if not kept:
        used = {key for key, (step, _) in node_info.items() if step == 1}
    nodes = [
        {"key": key, "step": node_info[key][0], "item": node_info[key][1], "value": node_values[key]}
        for key in used
        if key in node_info
    ]
    nodes.sort(key=lambda node: (node["step"], -node["value"], node["item"]))
    return {"item_type": request.item_type, "nodes": nodes, "links": kept}
