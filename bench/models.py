"""Models benchmark (issue 5): dbt build times, full against incremental, and analytics API latency.

data    `bench/models_data.py` makes a fresh DuckDB warehouse of `--events` demo events in the tables
        and columns the Headwater loader writes (`events` schema), or `--data FILE` copies one made
        before. The generation time is printed, not judged.
models  The warehouse is opened as the warehouse process opens it (`DuckDBEngine`, the default 1 GiB
        buffer pool) and held open while dbt runs in-process on the same file
        (`headwater.models.dbt.invoke_dbt`, profile from `headwater.models.profiles.write_profiles`).
        Timed: `dbt build --full-refresh` (models, seeds and the project's tests), then `--rounds`
        times: append 1% new events (`models_data.append_events`: new and returning devices, 5% late,
        later uuid_ts) and `dbt build`. Baseline, same run: the full build; ratio = incremental /
        full (target <= 0.1). Also printed: `dbt build` with nothing new (dbt's fixed cost) and the
        slowest nodes of each build.
api     The analytics API is served against the built warehouse (its FastAPI app under uvicorn on
        loopback, in this process, as `headwater up` runs it) and each endpoint is asked `--requests`
        times with date ranges of 7, 30 and 90 days ending on varied days, one request at a time
        (latency, not throughput). Baseline, same run and same ranges: the same question answered by
        a straightforward query on the raw event tables (sessions by a window function over
        `events.pages`/`tracks`/`screens`, a funnel by self-joins on `events.tracks`, ...), run
        through the same engine's `query`. Printed: p50/p95 of each (target p95 <= 500 ms) and
        ratio = endpoint p50 / baseline p50.

    python bench/models.py [--events 1000000] [--rounds 3] [--only data|models|api] [--data FILE]
                           [--requests 40] [--workdir DIR] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

sys.path.insert(0, str(Path(__file__).parent))

import models_data
from headwater.analytics.server import serve
from headwater.analytics.settings import AnalyticsSettings
from headwater.demo.catalogue import FIRST_NAMES
from headwater.models.dbt import DbtOutcome, invoke_dbt
from headwater.models.profiles import write_profiles
from headwater.warehouse.engines.duckdb import DuckDBEngine
from headwater.warehouse.settings import WarehouseSettings

MODELS_SCHEMA = "analytics"


def code_version() -> str:
    """The commit the bench runs against, `-dirty` if the tree has changes (the figures belong to it)."""
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=Path(__file__).parent
    )
    return done.stdout.strip() or "unknown"


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) {five:.2f} (5 min)"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# -- data -------------------------------------------------------------------------------------------


def prepare_data(args: argparse.Namespace, root: Path) -> Path:
    path = root / "warehouse.duckdb"
    if args.data is not None:
        began = time.perf_counter()
        shutil.copyfile(args.data, path)
        print(
            f"data: copied {args.data} ({path.stat().st_size / 1024**3:.2f} GiB) in "
            f"{time.perf_counter() - began:.1f} s",
            flush=True,
        )
        return path
    summary = models_data.make_warehouse(path, args.events, workers=args.workers)
    print(
        f"data: {summary.events:,} events in {summary.seconds:.1f} s "
        f"({summary.events / summary.seconds:,.0f} events/s; base {summary.base_seconds:.1f} s); "
        f"{summary.first_ts:%Y-%m-%d} .. {summary.last_ts:%Y-%m-%d}; "
        f"{sum(summary.rows.values()):,} rows in {len(summary.rows)} tables; "
        f"file {path.stat().st_size / 1024**3:.2f} GiB",
        flush=True,
    )
    return path


# -- models ---------------------------------------------------------------------------------------------


@dataclass
class Build:
    label: str
    seconds: float
    outcome: DbtOutcome

    def by_type(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for node in self.outcome.nodes:
            totals[node.resource_type] = totals.get(node.resource_type, 0.0) + node.seconds
        return totals

    def slowest(self, top: int) -> str:
        nodes = sorted(self.outcome.nodes, key=lambda n: -n.seconds)[:top]
        return ", ".join(f"{n.name} {n.seconds:.1f}" for n in nodes)


class Warehouse:
    """The warehouse file held open as the warehouse process holds it, with dbt's profile beside it."""

    def __init__(self, path: Path, root: Path, threads: int) -> None:
        self.settings = WarehouseSettings(engine="duckdb", duckdb_path=path)
        self.engine = DuckDBEngine(
            path, memory_limit=self.settings.duckdb_memory_limit, default_namespace=self.settings.namespace
        )
        self.profiles = write_profiles(root / "profiles", self.settings, MODELS_SCHEMA, threads=threads)
        self.work = root / "dbt"

    def __enter__(self) -> Warehouse:
        self.engine.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.engine.close()

    def build(self, label: str, *extra: str) -> Build:
        began = time.perf_counter()
        outcome = invoke_dbt(["build", *extra], profiles_dir=self.profiles, work_dir=self.work)
        seconds = time.perf_counter() - began
        if not outcome.success:
            failed = [f"{n.name}: {n.message[:300]}" for n in outcome.failures[:8]]
            raise SystemExit(f"bench: dbt {label} failed: {outcome.error[:1000]}\n  " + "\n  ".join(failed))
        build = Build(label, seconds, outcome)
        types = ", ".join(f"{kind} {spent:.1f} s" for kind, spent in sorted(build.by_type().items()))
        print(f"  {label}: {seconds:.1f} s ({types}); {load_note()}", flush=True)
        print(f"    slowest: {build.slowest(6)}", flush=True)
        return build

    def append(self, percent: float) -> None:
        summary = models_data.append_events(self.engine.path, percent, engine=self.engine)
        print(f"  appended {summary.events:,} events ({percent}%) in {summary.seconds:.1f} s", flush=True)


def run_models(args: argparse.Namespace, path: Path, root: Path) -> None:
    print(f"\nmodels: dbt build on DuckDB, {args.threads} dbt thread(s), {os.cpu_count()} cores", flush=True)
    with Warehouse(path, root, args.threads) as warehouse:
        fulls = [warehouse.build("full build (--full-refresh, first: parses the project)", "--full-refresh")]
        for _ in range(args.full_rounds - 1):
            fulls.append(warehouse.build("full build (--full-refresh)", "--full-refresh"))
        noop = warehouse.build("incremental build, nothing new")
        increments = []
        for _ in range(args.rounds):
            warehouse.append(args.append_percent)
            increments.append(warehouse.build(f"incremental build after +{args.append_percent}%"))
    # The first full build also parses the project; later ones reuse dbt's partial parse.
    full = statistics.median(b.seconds for b in fulls)
    incremental = statistics.median(b.seconds for b in increments)
    full_models = statistics.median(b.by_type().get("model", 0.0) for b in fulls)
    incremental_models = statistics.median(b.by_type().get("model", 0.0) for b in increments)
    print(f"\nmodels medians ({len(fulls)} full, {len(increments)} incremental builds):")
    print(f"  full build         {full:8.1f} s   (models alone {full_models:.1f} s)")
    print(
        f"  incremental +{args.append_percent}%   {incremental:8.1f} s   "
        f"(models alone {incremental_models:.1f} s)"
    )
    print(f"  nothing new        {noop.seconds:8.1f} s")
    print(
        f"  ratio incremental / full: {incremental / full:.3f} (models alone "
        f"{incremental_models / max(full_models, 1e-9):.3f})   target <= 0.1",
        flush=True,
    )


# -- api -------------------------------------------------------------------------------------------------


Sample = Any  # a (from, to) date pair, a person id or a search text, depending on the question


@dataclass
class Question:
    """One endpoint and the same question asked of the raw tables, for one sample at a time."""

    name: str
    method: str
    path: Callable[[Sample], str]
    payload: Callable[[Sample], dict[str, Any]]
    baseline: Callable[[Sample], str]
    kind: str = "range"  # which samples: "range", "person" or "search"
    times: list[float] = field(default_factory=list)
    baseline_times: list[float] = field(default_factory=list)


def _range(span: tuple[date, date]) -> str:
    start, end = span
    return f"timestamp >= TIMESTAMPTZ '{start}' AND timestamp < TIMESTAMPTZ '{end + timedelta(days=1)}'"


def _views(span: tuple[date, date]) -> str:
    """Pages, screens and client tracks of the range, one row per event, keyed by device."""
    where = _range(span)
    return (
        "SELECT coalesce(anonymous_id, user_id) AS device, timestamp, 'page' AS kind, path AS name "
        f"FROM events.pages WHERE {where} "
        f"UNION ALL SELECT coalesce(anonymous_id, user_id), timestamp, 'screen', name FROM events.screens "
        f"WHERE {where} UNION ALL SELECT anonymous_id, timestamp, 'track', event FROM events.tracks "
        f"WHERE {where} AND anonymous_id IS NOT NULL"
    )


def baseline_overview(span: tuple[date, date]) -> str:
    """Sessions by a 30-minute gap window over the raw events; totals, bounce and duration."""
    return (
        f"WITH v AS ({_views(span)}), "
        "g AS (SELECT *, CASE WHEN lag(timestamp) OVER w IS NULL "
        "OR timestamp - lag(timestamp) OVER w > INTERVAL 30 MINUTE THEN 1 ELSE 0 END AS new_session "
        "FROM v WINDOW w AS (PARTITION BY device ORDER BY timestamp)), "
        "s AS (SELECT *, sum(new_session) OVER (PARTITION BY device ORDER BY timestamp "
        "ROWS UNBOUNDED PRECEDING) AS session FROM g), "
        "per AS (SELECT device, session, min(timestamp) AS t0, max(timestamp) AS t1, "
        "count(*) FILTER (WHERE kind <> 'track') AS views, "
        "count(*) FILTER (WHERE name = 'order_completed') AS orders FROM s GROUP BY ALL) "
        "SELECT count(*) AS sessions, count(DISTINCT device) AS users, sum(views) AS page_views, "
        "avg(CASE WHEN views < 2 AND orders = 0 AND t1 - t0 <= INTERVAL 10 SECOND THEN 1 ELSE 0 END) "
        "AS bounce, avg(epoch(t1 - t0)) AS duration FROM per"
    )


def baseline_funnel(span: tuple[date, date]) -> str:
    """Viewed, added, ordered within 14 days of the previous step, people by user or device id."""

    def step(previous: str, event: str) -> str:
        return (
            f"SELECT {previous}.p, min(x.timestamp) AS t FROM {previous} JOIN events.tracks x "
            f"ON coalesce(x.user_id, x.anonymous_id) = {previous}.p AND x.event = '{event}' "
            f"AND x.timestamp >= {previous}.t AND x.timestamp <= {previous}.t + INTERVAL 14 DAY GROUP BY 1"
        )

    return (
        "WITH a AS (SELECT coalesce(user_id, anonymous_id) AS p, min(timestamp) AS t FROM events.tracks "
        f"WHERE event = 'product_viewed' AND {_range(span)} GROUP BY 1), "
        f"b AS ({step('a', 'product_added')}), c AS ({step('b', 'order_completed')}) "
        "SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM b), (SELECT count(*) FROM c)"
    )


def baseline_retention(span: tuple[date, date]) -> str:
    """Daily cohorts of devices by first day seen in the range, and who came back on each later day."""
    return (
        f"WITH v AS ({_views(span)}), "
        "d AS (SELECT DISTINCT device, CAST(timestamp AS DATE) AS day FROM v), "
        "f AS (SELECT device, min(day) AS cohort FROM d GROUP BY 1) "
        "SELECT f.cohort, d.day - f.cohort AS offset_days, count(DISTINCT d.device) "
        "FROM f JOIN d USING (device) GROUP BY ALL ORDER BY ALL"
    )


def baseline_paths(span: tuple[date, date]) -> str:
    """Page-to-next-page transitions of each device (no sessions), the 50 most common."""
    return (
        "WITH p AS (SELECT path, lead(path) OVER (PARTITION BY anonymous_id ORDER BY timestamp) AS next "
        f"FROM events.pages WHERE {_range(span)}) "
        "SELECT path, next, count(*) AS n FROM p WHERE next IS NOT NULL GROUP BY ALL ORDER BY n DESC LIMIT 50"
    )


def baseline_attribution(span: tuple[date, date]) -> str:
    """Last touch: each order's latest earlier page (30 days) with a campaign or outside referrer."""
    return (
        "WITH o AS (SELECT id, anonymous_id, timestamp, revenue FROM events.order_completed "
        f"WHERE {_range(span)} AND anonymous_id IS NOT NULL), "
        "touch AS (SELECT anonymous_id, timestamp, "
        "coalesce(context_campaign_source, referring_domain) AS source FROM events.pages "
        "WHERE context_campaign_source IS NOT NULL OR referring_domain NOT LIKE '%alpenglow.example'), "
        "t AS (SELECT o.id, o.revenue, p.source, "
        "row_number() OVER (PARTITION BY o.id ORDER BY p.timestamp DESC) AS r FROM o JOIN touch p "
        "ON p.anonymous_id = o.anonymous_id AND p.timestamp <= o.timestamp "
        "AND p.timestamp > o.timestamp - INTERVAL 30 DAY) "
        "SELECT source, count(*), sum(revenue) FROM t WHERE r = 1 GROUP BY 1 ORDER BY 2 DESC"
    )


def _person_events(person: str) -> str:
    """The raw events of a user id and of every device an identify tied to it (or of one device)."""
    who = person.replace("'", "''")
    return (
        f"WITH ids AS (SELECT DISTINCT anonymous_id FROM events.identifies WHERE user_id = '{who}' "
        f"UNION SELECT '{who}'), e AS ("
        + " UNION ALL ".join(
            f"SELECT id, '{table}' AS kind, timestamp, user_id FROM events.{table} "
            f"WHERE user_id = '{who}' OR anonymous_id IN (SELECT * FROM ids)"
            for table in ("tracks", "pages", "screens")
        )
        + ")"
    )


def baseline_profile(person: str) -> str:
    return _person_events(person) + (
        " SELECT count(*), min(timestamp), max(timestamp), count(DISTINCT CAST(timestamp AS DATE)), "
        "count(*) FILTER (WHERE kind = 'pages'), "
        "(SELECT count(*) FROM events.order_completed o WHERE o.id IN (SELECT id FROM e)) FROM e"
    )


def baseline_timeline(person: str) -> str:
    return _person_events(person) + " SELECT * FROM e ORDER BY timestamp DESC, id DESC LIMIT 100"


def baseline_search(text: str) -> str:
    like = f"'%{text.replace(chr(39), chr(39) * 2)}%'"
    return (
        f"SELECT id, context_traits_email, context_traits_name FROM events.users WHERE id ILIKE {like} "
        f"OR context_traits_email ILIKE {like} OR context_traits_name ILIKE {like} "
        "ORDER BY received_at DESC LIMIT 50"
    )


def _body(extra: dict[str, Any]) -> Callable[[Sample], dict[str, Any]]:
    def body(span: tuple[date, date]) -> dict[str, Any]:
        return {"from": span[0].isoformat(), "to": span[1].isoformat(), **extra}

    return body


def questions() -> list[Question]:
    prefix = "/api/v1"
    steps = [
        {"kind": "event", "name": "Product Viewed"},
        {"kind": "event", "name": "Product Added"},
        {"kind": "event", "name": "Order Completed"},
    ]

    def fixed(path: str) -> Callable[[Sample], str]:
        return lambda _sample: prefix + path

    def person(suffix: str) -> Callable[[Sample], str]:
        return lambda who: f"{prefix}/users/{quote(who, safe='')}{suffix}"

    return [
        Question("overview", "POST", fixed("/overview"), _body({}), baseline_overview),
        Question("funnels", "POST", fixed("/funnels"), _body({"steps": steps}), baseline_funnel),
        Question("retention", "POST", fixed("/retention"), _body({"period": "day"}), baseline_retention),
        Question("paths", "POST", fixed("/paths"), _body({"item_type": "pages"}), baseline_paths),
        Question("attribution", "POST", fixed("/attribution"), _body({}), baseline_attribution),
        Question("users search", "GET", fixed("/users"), lambda q: {"q": q}, baseline_search, "search"),
        Question("user profile", "GET", person(""), lambda _who: {}, baseline_profile, "person"),
        Question("user events", "GET", person("/events"), lambda _who: {}, baseline_timeline, "person"),
    ]


def ranges(first: date, last: date, count: int, seed: int = 7) -> list[tuple[date, date]]:
    """`count` ranges of 7, 30 and 90 days ending on seeded days inside the data (clipped to it)."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        days = (7, 30, 90)[i % 3]
        earliest = min(last, first + timedelta(days=days - 1))
        end = earliest + timedelta(days=rng.randint(0, (last - earliest).days))
        out.append((max(first, end - timedelta(days=days - 1)), end))
    return out


def samples(engine: DuckDBEngine, count: int) -> dict[str, list[Sample]]:
    """Date ranges, people (by person id, from user_profiles) and search texts, all seeded."""
    lo, hi = engine.fetch("SELECT min(timestamp), max(timestamp) FROM events.tracks")[0]
    people = [
        str(who)
        for (who,) in engine.fetch(
            f"SELECT person_id FROM {MODELS_SCHEMA}.user_profiles ORDER BY hash(person_id) LIMIT {count}"
        )
    ]
    texts = [
        str(name).lower() for name in random.Random(11).sample(FIRST_NAMES, min(count, len(FIRST_NAMES)))
    ]
    return {
        "range": list(ranges(lo.date(), hi.date(), count)),
        "person": (people * count)[:count],
        "search": (texts * count)[:count],
    }


def run_api(args: argparse.Namespace, path: Path) -> None:
    print(f"\napi: {args.requests} requests per endpoint, one at a time; {load_note()}", flush=True)
    settings = WarehouseSettings(engine="duckdb", duckdb_path=path)
    engine = DuckDBEngine(
        path, memory_limit=settings.duckdb_memory_limit, default_namespace=settings.namespace
    )
    engine.open()
    api = None
    try:
        asked = questions()
        chosen = samples(engine, args.requests)
        api = serve(
            AnalyticsSettings(port=0, models_schema=MODELS_SCHEMA, raw_schema=settings.namespace),
            engine,
            None,
            lambda: {"status": "ok"},
        )
        with httpx.Client(base_url=str(api.url), timeout=300) as client:
            for question in asked:
                todo = chosen[question.kind]
                for warm in todo[:2]:  # the first requests also warm DuckDB's buffers and the catalogue
                    _ask(client, question, warm)
                    engine.query(question.baseline(warm))
                for sample in todo:
                    began = time.perf_counter()
                    _ask(client, question, sample)
                    question.times.append(time.perf_counter() - began)
                    began = time.perf_counter()
                    engine.query(question.baseline(sample))
                    question.baseline_times.append(time.perf_counter() - began)
                _report(question)
    finally:
        if api is not None:
            api.close()
        engine.close()


def _ask(client: httpx.Client, question: Question, sample: Sample) -> None:
    path = question.path(sample)
    if question.method == "GET":
        response = client.get(path, params=question.payload(sample))
    else:
        response = client.request(question.method, path, json=question.payload(sample))
    if response.status_code != 200:
        raise SystemExit(
            f"bench: {question.method} {path} answered {response.status_code}: {response.text[:500]}"
        )


def _report(question: Question) -> None:
    p50, p95 = pct(question.times, 0.5) * 1000, pct(question.times, 0.95) * 1000
    b50, b95 = pct(question.baseline_times, 0.5) * 1000, pct(question.baseline_times, 0.95) * 1000
    print(
        f"  {question.name:<13} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms {'ok  ' if p95 <= 500 else 'OVER'}   "
        f"raw-table query p50 {b50:8.1f} ms  p95 {b95:8.1f} ms   ratio p50 {p50 / b50:6.3f}  "
        f"p95 {p95 / b95:6.3f}",
        flush=True,
    )


# -- main -------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, help="copy this generated warehouse instead of generating one")
    parser.add_argument("--rounds", type=int, default=3, help="incremental builds (each after a new append)")
    parser.add_argument(
        "--full-rounds", type=int, default=1, help="full builds (the first parses the project)"
    )
    parser.add_argument("--append-percent", type=float, default=1.0)
    parser.add_argument("--requests", type=int, default=40, help="requests per endpoint")
    parser.add_argument("--threads", type=int, default=1, help="dbt threads (models.threads)")
    parser.add_argument("--workers", type=int, default=2, help="processes making the base demo traffic")
    parser.add_argument("--only", choices=("data", "models", "api"))
    parser.add_argument("--keep", type=Path, help="copy the built warehouse here at the end")
    parser.add_argument("--workdir", type=Path, default=None, help="where temporary data goes (default /tmp)")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the finally block removes the data.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    root = Path(tempfile.mkdtemp(prefix="headwater-modelsbench-", dir=args.workdir))
    print(f"{os.cpu_count()} cores; code {code_version()}; {load_note()}; work in {root}\n", flush=True)
    try:
        path = prepare_data(args, root)
        if args.only in (None, "models"):
            run_models(args, path, root)
        if args.only == "api":
            # The API needs the model tables: one full build, not timed as a figure.
            with Warehouse(path, root, args.threads) as warehouse:
                warehouse.build("full build (for the api)", "--full-refresh")
        if args.only in (None, "api"):
            run_api(args, path)
        if args.keep is not None:
            shutil.copyfile(path, args.keep)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
