"""Funnels with PostHog's semantics, computed in one set-based statement.

Every person's funnel-relevant events in the range are numbered in time order (ties: the event
matching the earlier step first, which stands in for PostHog's "try every order of simultaneous
events and keep the best"). Persons are told apart by `person_key`, an integer: partitioning and
sorting a 90-day range by the text person id cost twice as much. Every step-1 event starts an
attempt (re-entry); the attempt is chained greedily: step k+1 is the first step-(k+1) event after
the event that matched step k (`ordered`), or the very next event of the person (`strict`, where
every event of the person in the range takes part). The one sort of the events computes the order
and, for `ordered`, running counts of each step's events: the first step-k event after a row is the
one whose count is the row's plus one, an equi-join (a second window of "next step-k row" would sort
everything again). Taking the earliest match at each step reaches at least as far as any other
choice, so the attempt's furthest step is the last chained event within the window measured from
its step-1 event. Each person counts once, at the furthest step over all their attempts (ties: the
earliest attempt, whose step times give time to convert).

`unordered`: for each event matching any step, count the steps that match it or occur after it
within the window; the person's result is the largest count ("completed k steps").

Exclusions (ordered/strict): an exclusion event after an attempt's step `from_step` and before its
step `to_step` (or before the window closes when that step is never reached) removes the person.
Breakdowns take the value on the person's earliest funnel event where it is set (PostHog's
first-touch attribution); values past the limit are grouped as `Other`. Drop-off lists take up to
`dropoff_limit` persons per step in person_key order (an arbitrary but repeatable sample) and
report their person ids.
"""

from __future__ import annotations

from typing import Any

from headwater.analytics.filters import event_condition, scope_conditions
from headwater.analytics.requests import FunnelRequest
from headwater.analytics.sql import Params, Tables, person_ids, range_bounds, run

__all__ = ["funnel"]


def funnel(request: FunnelRequest, tables: Tables) -> dict[str, Any]:
    params = Params()
    start, end = range_bounds(request.date_from, request.date_to)
    n = len(request.steps)
    window = params.bind(float(request.window_seconds))
    scope = scope_conditions(request, tables, params, start=start, end=end)
    steps = [event_condition(step, tables, params, f"steps.{i}") for i, step in enumerate(request.steps)]
    exclusions = [
        event_condition(x, tables, params, f"exclusions.{i}") for i, x in enumerate(request.exclusions)
    ]
    flags = [f"{cond} AS s{i + 1}" for i, cond in enumerate(steps)]
    flags += [f"{cond} AS x{i + 1}" for i, cond in enumerate(exclusions)]
    breakdown = f"e.{request.breakdown}" if request.breakdown else "CAST(NULL AS TEXT)"
    relevant = " OR ".join(steps + exclusions)
    where = " AND ".join(scope + ([] if request.order == "strict" else [f"({relevant})"]))
    # Simultaneous events: the one matching the earlier step first. `tie` holds a bit per step (step 1
    # highest) and per exclusion, so rows equal in (es, tie, bd) are alike in everything the chaining
    # reads and their order cannot change a result; no text id is needed to make it deterministic.
    bits = [*steps, *exclusions]
    tie = " + ".join(
        f"(CASE WHEN {cond} THEN {1 << (len(bits) - i - 1)} ELSE 0 END)" for i, cond in enumerate(bits)
    )
    order = "PARTITION BY pk ORDER BY es, tie DESC" + (", bd" if request.breakdown else "")
    if request.order == "unordered":
        # The unordered count needs only "the next time of each step", taken in the same window.
        following = f"{order} ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING"
        marks = [f"MIN(CASE WHEN s{k} THEN es END) OVER ({following}) AS n{k}" for k in range(1, n + 1)]
    else:
        # Running counts of each step's (and exclusion's) events: the first step-k event after a row
        # is the step-k event whose count is the row's count + 1, found by an equi-join. Every window
        # function here shares one partitioning and order, so the rows are sorted once.
        running = f"{order} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
        marks = (
            []  # strict chains by row number alone
            if request.order == "strict"
            else [f"COUNT(CASE WHEN s{k} THEN 1 END) OVER ({running}) AS c{k}" for k in range(2, n + 1)]
        )
        marks += [
            f"COUNT(CASE WHEN x{j} THEN 1 END) OVER ({running}) AS cx{j}"
            for j in range(1, len(request.exclusions) + 1)
        ]
    base = (
        "WITH ev AS ("
        f"SELECT e.person_key AS pk, EXTRACT(EPOCH FROM e.ts) AS es, {tie} AS tie, "
        f"CAST({breakdown} AS TEXT) AS bd, {', '.join(flags)} "
        f"FROM {tables.model('events_sessionized')} AS e WHERE {where}), "
        f"seq AS (SELECT ev.*, {', '.join([f'ROW_NUMBER() OVER ({order}) AS rn', *marks])} FROM ev), "
    )
    body = (
        _unordered(n, window)
        if request.order == "unordered"
        else _chained(request, n, window, tables.engine.kind)
    )
    any_step = " OR ".join(f"s{i + 1}" for i in range(n))
    firsts = (
        "firsts AS (SELECT pk, bd FROM (SELECT pk, bd, ROW_NUMBER() OVER "
        f"(PARTITION BY pk ORDER BY rn) AS k FROM seq WHERE bd IS NOT NULL AND ({any_step})) "
        "AS f WHERE k = 1), "
        "people AS (SELECT b.*, COALESCE(f.bd, '(none)') AS value FROM best AS b "
        "LEFT JOIN firsts AS f ON f.pk = b.pk), "
        if request.breakdown
        else "people AS (SELECT b.*, '(none)' AS value FROM best AS b), "
    )
    people = (
        firsts + "ranks AS (SELECT value, ROW_NUMBER() OVER (ORDER BY COUNT(*) DESC, value) AS r FROM "
        "people GROUP BY value), "
        f"labelled AS (SELECT p.*, CASE WHEN r.r <= {params.bind(request.breakdown_limit)} THEN p.value "
        "ELSE 'Other' END AS label FROM people AS p JOIN ranks AS r ON r.value = p.value)"
    )
    counts = ", ".join(f"SUM(CASE WHEN reached >= {k} THEN 1 ELSE 0 END) AS c{k}" for k in range(1, n + 1))
    times = []
    for k in range(2, n + 1):
        gap = f"CASE WHEN reached >= {k} THEN t{k} - t{k - 1} END"
        times.append(f"AVG({gap}) AS mean{k}, PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY {gap}) AS med{k}")
    null_metrics = ", ".join(
        [f"CAST(NULL AS BIGINT) AS c{k}" for k in range(1, n + 1)]
        + [
            f"CAST(NULL AS DOUBLE PRECISION) AS mean{k}, CAST(NULL AS DOUBLE PRECISION) AS med{k}"
            for k in range(2, n + 1)
        ]
    )
    metrics = counts + (", " + ", ".join(times) if times else "")
    per_value = (
        f" UNION ALL SELECT 'group' AS kind, label, CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), {metrics} "
        "FROM labelled GROUP BY label"
        if request.breakdown
        else ""
    )
    statement = (
        base
        + body
        + people
        + " SELECT 'total' AS kind, CAST(NULL AS TEXT) AS label, CAST(NULL AS BIGINT) AS reached, "
        + f"CAST(NULL AS BIGINT) AS pk, {metrics} FROM labelled"
        + per_value
        + " UNION ALL SELECT 'dropoff' AS kind, NULL, reached, pk, "
        + null_metrics
        + " FROM (SELECT reached, pk, "
        + "ROW_NUMBER() OVER (PARTITION BY reached ORDER BY pk) AS k "
        + f"FROM best) AS d WHERE k <= {params.bind(request.dropoff_limit)}"
    )
    result = run(tables.engine, statement, params)
    return _shape(request, tables, result.columns, result.rows)


def _chained(request: FunnelRequest, n: int, window: str, kind: str) -> str:
    """Attempts chained step by step; `reached` and step times per person (see the module docstring)."""
    strict = request.order == "strict"
    joins = []
    for k in range(2, n + 1):
        prev = "a" if k == 2 else f"b{k - 1}"
        on = f"b{k}.rn = {prev}.rn + 1" if strict else f"b{k}.c{k} = {prev}.c{k} + 1"
        joins.append(f"LEFT JOIN seq AS b{k} ON b{k}.pk = a.pk AND b{k}.s{k} AND {on}")
    alias = {1: "a", **{k: f"b{k}" for k in range(2, n + 1)}}
    # Step k counts when chained and within the window from the attempt's step-1 event.
    within = {k: f"({alias[k]}.es IS NOT NULL AND {alias[k]}.es - a.es <= {window})" for k in range(2, n + 1)}
    reached = "1" + "".join(f" + CASE WHEN {within[k]} THEN 1 ELSE 0 END" for k in range(2, n + 1))
    excluded = ["0"]
    for j, exclusion in enumerate(request.exclusions, start=1):
        frm, to = exclusion.from_step, exclusion.to_step
        # The first exclusion-j event after the attempt's step `frm` event.
        joins.append(
            f"LEFT JOIN seq AS x{j}e ON x{j}e.pk = a.pk AND x{j}e.x{j} "
            f"AND x{j}e.cx{j} = {alias[frm]}.cx{j} + 1"
        )
        reached_from = "TRUE" if frm == 1 else within[frm]
        seen = f"x{j}e.es"
        hit = (
            f"{reached_from} AND {seen} IS NOT NULL AND (({within[to]} AND {seen} < {alias[to]}.es) "
            f"OR (NOT {within[to]} AND {seen} <= a.es + {window}))"
        )
        excluded.append(f"CASE WHEN {hit} THEN 1 ELSE 0 END")
    times = ", ".join(f"{alias[k]}.es AS t{k}" for k in range(1, n + 1))
    attempts = (
        f"attempts AS (SELECT a.pk, {reached} AS reached, GREATEST({', '.join(excluded)}) "
        "AS excluded, "
        f"{times} FROM seq AS a {' '.join(joins)} WHERE a.s1), "
    )
    ts = [f"t{k}" for k in range(1, n + 1)]
    if kind == "duckdb":
        # One hash aggregation instead of a window sorting every attempt: the attempt reaching
        # furthest, the earliest of those (ARG_MIN's argument is a struct so NULL times are kept).
        fields = ", ".join(f"{c} := {c}" for c in ["reached", *ts])
        picked = ", ".join(f"STRUCT_EXTRACT(g.b, '{c}') AS {c}" for c in ["reached", *ts])
        best = (
            f"best AS (SELECT g.pk, {picked} FROM (SELECT pk, ARG_MIN(STRUCT_PACK({fields}), "
            "ROW(-reached, t1)) AS b, MAX(excluded) AS gone FROM attempts GROUP BY pk) AS g "
            "WHERE g.gone = 0), "
        )
    else:
        best = (
            "ranked AS (SELECT attempts.*, ROW_NUMBER() OVER (PARTITION BY pk ORDER BY reached "
            "DESC, t1) AS w, "
            "MAX(excluded) OVER (PARTITION BY pk) AS gone FROM attempts), "
            f"best AS (SELECT pk, reached, {', '.join(ts)} FROM ranked WHERE w = 1 AND gone = 0), "
        )
    return attempts + best


def _unordered(n: int, window: str) -> str:
    count = " + ".join(
        f"CASE WHEN s{k} OR (n{k} IS NOT NULL AND n{k} - es <= {window}) THEN 1 ELSE 0 END"
        for k in range(1, n + 1)
    )
    nulls = ", ".join(f"CAST(NULL AS DOUBLE PRECISION) AS t{k}" for k in range(1, n + 1))
    return (
        f"anchors AS (SELECT pk, {count} AS reached FROM seq WHERE "
        f"{' OR '.join(f's{k}' for k in range(1, n + 1))}), "
        f"best AS (SELECT pk, MAX(reached) AS reached, {nulls} FROM anchors GROUP BY pk), "
    )


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _steps(request: FunnelRequest, row: tuple[Any, ...], index: dict[str, int]) -> list[dict[str, Any]]:
    n = len(request.steps)
    counts = [int(row[index[f"c{k}"]] or 0) for k in range(1, n + 1)]
    steps = []
    for k in range(1, n + 1):
        count = counts[k - 1]
        prev = counts[k - 2] if k > 1 else count
        timed = k > 1 and request.order != "unordered"
        steps.append(
            {
                "step": k,
                "name": request.steps[k - 1].name,
                "kind": request.steps[k - 1].kind,
                "count": count,
                "conversion_from_previous": count / prev if prev else None,
                "conversion_from_first": count / counts[0] if counts[0] else None,
                "dropped": count - counts[k] if k < n else 0,
                "mean_time_to_convert_s": _num(row[index[f"mean{k}"]]) if timed else None,
                "median_time_to_convert_s": _num(row[index[f"med{k}"]]) if timed else None,
            }
        )
    return steps


def _shape(
    request: FunnelRequest, tables: Tables, columns: list[str], rows: list[tuple[Any, ...]]
) -> dict[str, Any]:
    n = len(request.steps)
    index = {name: i for i, name in enumerate(columns)}
    total: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    dropoffs: dict[int, list[int]] = {k: [] for k in range(1, n + 1)}
    for row in rows:
        kind = row[index["kind"]]
        if kind == "dropoff":
            dropoffs[int(row[index["reached"]])].append(int(row[index["pk"]]))
        elif kind == "total":
            total = _steps(request, row, index)
        else:
            groups.append({"value": row[index["label"]], "steps": _steps(request, row, index)})
    listed = [key for k in range(1, n) for key in dropoffs[k]]
    names = person_ids(tables, listed, request.date_from, request.date_to)
    groups.sort(key=lambda group: (-group["steps"][0]["count"], group["value"] == "Other", group["value"]))
    return {
        "order": request.order,
        "window_seconds": request.window_seconds,
        "steps": total,
        "breakdown": request.breakdown,
        "breakdown_values": groups,
        "dropoffs": [
            {"after_step": k, "person_ids": sorted(names[key] for key in dropoffs[k] if key in names)}
            for k in range(1, n)
            if request.dropoff_limit
        ],
    }
