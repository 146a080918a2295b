"""User paths with PostHog's semantics: the most common next steps after a start item, or before an end.

A person's events of the chosen item type (page paths, screen names, track event names, or all
three) are split into path sessions when the gap between consecutive events exceeds 30 minutes
(the platform's session rule), consecutive repeats of an item collapse into one (keeping the later
time), and each session path is cut to `steps` items: from the first occurrence of `start`, or the
last `steps` items up to the first occurrence of `end`, or from the session's beginning. Nodes are
keyed `<step>_<item>`; a link's value is the number of session paths taking it, with the average
time between the two items. The `edge_limit` heaviest links are kept, then only those reachable from
a step-1 node.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from headwater.analytics.filters import scope_conditions
from headwater.analytics.requests import PathsRequest
from headwater.analytics.sql import Params, Tables, range_bounds, run

__all__ = ["SESSION_GAP_SECONDS", "paths"]

SESSION_GAP_SECONDS = 1800

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
    n = params.bind(request.steps)
    gap = SESSION_GAP_SECONDS
    # Two sorts of the person's events: neighbours first (where sessions break, which rows are
    # repeats of the next one), then running counts: `sn` numbers the path session and `kc` the
    # kept (collapsed) items of the person, so an item's place in its session is `kc` minus the
    # session's first `kc`, found by grouping instead of a third sort.
    order = "PARTITION BY person_id ORDER BY es, message_id"
    running = f"{order} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
    prefix = (
        "WITH ev AS ("
        f"SELECT e.person_id, e.message_id, EXTRACT(EPOCH FROM e.ts) AS es, {item} AS item "
        f"FROM {tables.model('events_sessionized')} AS e WHERE {where} AND {item} IS NOT NULL), "
        f"marks AS (SELECT ev.*, LAG(es) OVER ({order}) AS pes, LEAD(es) OVER ({order}) AS nes, "
        f"LEAD(item) OVER ({order}) AS nitem FROM ev), "
        "flags AS (SELECT person_id, message_id, es, item, "
        f"CASE WHEN pes IS NULL OR es - pes > {gap} THEN 1 END AS brk, "
        f"CASE WHEN nes IS NOT NULL AND nes - es <= {gap} AND nitem = item THEN NULL ELSE 1 END AS keep "
        "FROM marks), "
        f"split AS (SELECT person_id, es, item, keep, COUNT(brk) OVER ({running}) AS sn, "
        f"COUNT(keep) OVER ({running}) AS kc FROM flags), "
        "collapsed AS (SELECT person_id, sn, es, item, kc FROM split WHERE keep = 1), "
    )
    if request.start is not None:
        anchor = params.bind(request.start)
        cut = (
            f"anchor AS (SELECT person_id, sn, MIN(kc) AS a FROM collapsed WHERE item = {anchor} "
            "GROUP BY person_id, sn), "
            "kept AS (SELECT c.person_id, c.sn, c.es, c.item, c.kc - x.a + 1 AS step FROM collapsed AS c "
            "JOIN anchor AS x ON x.person_id = c.person_id AND x.sn = c.sn WHERE c.kc >= x.a AND "
            f"c.kc < x.a + {n}), "
        )
    elif request.end is not None:
        anchor = params.bind(request.end)
        # a: the end item's first kc in the session, b: the session's first kc.
        cut = (
            f"anchor AS (SELECT person_id, sn, MIN(CASE WHEN item = {anchor} THEN kc END) AS a, "
            "MIN(kc) AS b FROM collapsed GROUP BY person_id, sn), "
            f"kept AS (SELECT c.person_id, c.sn, c.es, c.item, c.kc - x.a + LEAST(x.a - x.b + 1, {n}) "
            "AS step FROM collapsed AS c JOIN anchor AS x ON x.person_id = c.person_id AND x.sn = c.sn "
            f"WHERE x.a IS NOT NULL AND c.kc <= x.a AND c.kc > x.a - {n}), "
        )
    else:
        cut = (
            "anchor AS (SELECT person_id, sn, MIN(kc) AS b FROM collapsed GROUP BY person_id, sn), "
            "kept AS (SELECT c.person_id, c.sn, c.es, c.item, c.kc - x.b + 1 AS step FROM collapsed AS c "
            "JOIN anchor AS x ON x.person_id = c.person_id AND x.sn = c.sn "
            f"WHERE c.kc < x.b + {n}), "
        )
    statement = (
        prefix + cut + "linked AS (SELECT step, item, "
        "LEAD(item) OVER (PARTITION BY person_id, sn ORDER BY step) AS target, "
        "LEAD(es) OVER (PARTITION BY person_id, sn ORDER BY step) - es AS dt FROM kept) "
        "SELECT step, item, target, COUNT(*) AS n, AVG(dt) AS avg_dt FROM linked GROUP BY step, item, target"
    )
    result = run(tables.engine, statement, params)
    return _graph(request, result.rows)


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
