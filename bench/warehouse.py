"""Warehouse benchmark: load rate against the engine's own insert speed, freshness, and loader memory.

load       Demo traffic (`headwater.demo`: web, mobile and server SDKs, planned into the requests they
           would make) goes through the data plane's enrichment (`headwater.collect.enrich`) and is
           appended to a fresh embedded log. The in-process `Loader` then drains it into a fresh
           warehouse (DuckDB file; PostgreSQL database created on 127.0.0.1:5432 and dropped after),
           staging through a local folder. Ceiling, same round: the rows the loader produced are
           exported (DuckDB: Parquet; PostgreSQL: CSV) and inserted into fresh, empty tables of the same
           schema by the engine alone (`INSERT ... SELECT * FROM read_parquet(...)`; `COPY ... FROM
           STDIN (FORMAT csv)`), all tables in one transaction. Ratio = ceiling time / loader time.
           Each round also prints the loader's own phase laps (`Loader.phase_seconds`); then one
           drain of `--breakdown-events` per engine with the loader's collaborators wrapped in
           timers (exclusive time per part, GC time), and one under cProfile.
freshness  A real `headwater up` (2 ingest workers, DuckDB) takes a paced, steady stream of batches;
           every 10th request carries a marker track event. For each marker: the time its 200 came
           back, then the time a poll of the warehouse (`select id from tracks where id in (...)` over
           the Unix socket, every 100 ms) first returned it.
memory     A backlog is written straight to a log, then `python -m headwater.warehouse.worker` drains
           it; its VmRSS is sampled from /proc every 0.2 s (with DuckDB's own `duckdb_memory()`
           total) and VmHWM read at the end. Run for a 1M and a 10M backlog, each stopped after
           `--memory-max-seconds`; the baseline is the same worker idle on an empty log.

    python bench/warehouse.py [--events 1000000] [--rounds 3] [--skip-postgres] [--only load|freshness|memory]
                              [--rate 10000 2000] [--memory-events 1000000 10000000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import cProfile
import gc
import os
import pstats
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson
import psycopg
import uvloop
import yaml

from headwater.collect.enrich import Stamp, enrich
from headwater.demo import generate, plan_requests
from headwater.log import LogSettings, open_log
from headwater.warehouse import loader as loader_module
from headwater.warehouse.batch import BatchBuilder
from headwater.warehouse.client import WarehouseClient
from headwater.warehouse.engines.open import open_engine
from headwater.warehouse.errors import WarehouseError
from headwater.warehouse.loader import Loader
from headwater.warehouse.settings import WarehouseSettings
from headwater.warehouse.staging import open_stage

SOURCE_ID = "demo"
KEY = "2dUZ8nGkWarehouseBench0000A"
AUTH = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
DEMO_CHUNK = 50_000
ADMIN_DSNS = (
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql://root@127.0.0.1:5432/test",
    "postgresql://postgres@127.0.0.1:5432/postgres",
)


def code_version() -> str:
    """The commit the bench runs against, `-dirty` if the tree has changes (the figures belong to it)."""
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=Path(__file__).parent
    )
    return done.stdout.strip() or "unknown"


def mb(n: float) -> str:
    return f"{n / 1024**2:,.0f} MiB"


# -- traffic ----------------------------------------------------------------------------------------


def demo_chunks(total: int, seed: int = 42) -> Iterator[list[tuple[str, bytes]]]:
    """Log entries as the data plane stores them, `DEMO_CHUNK` demo events at a time.

    Each chunk is a separate seeded demo population (so messageIds never repeat) planned into the
    requests its SDKs would make; each request is enriched as one request is in `handle_events`: one
    `Stamp` (server clock, the X-Forwarded-For address, the route's forced type, the batch's sentAt and
    context), then `enrich`, then `orjson.dumps` per event.
    """
    made = 0
    index = 0
    while made < total:
        count = min(DEMO_CHUNK, total - made)
        events = generate(seed=seed + index, events=count)
        entries: list[tuple[str, bytes]] = []
        for request in plan_requests(events):
            body: Any = request.body
            if request.path == "/v1/batch":
                batch: dict[str, Any] | None = body
                members = list(body["batch"])
                forced = None
            else:
                batch, members, forced = None, [body], request.path.rsplit("/", 1)[1]
            stamp = Stamp(ip=request.headers["X-Forwarded-For"], rule="auto", forced_type=forced, batch=batch)
            enrich(members, stamp)
            entries.extend((SOURCE_ID, orjson.dumps(event)) for event in members)
        made += count
        index += 1
        yield entries


async def _append_all(directory: Path, chunks: Iterator[list[tuple[str, bytes]]]) -> tuple[int, int]:
    event_log = open_log(LogSettings(directory=directory, fsync=False))
    writer = event_log.open_writer()
    count = size = 0
    try:
        for entries in chunks:
            for start in range(0, len(entries), 2000):
                await writer.append(entries[start : start + 2000])
            count += len(entries)
            size += sum(len(payload) for _, payload in entries)
    finally:
        await writer.aclose()
        event_log.close()
    return count, size


def write_log(directory: Path, chunks: Iterator[list[tuple[str, bytes]]]) -> tuple[int, int]:
    """Append every chunk to a fresh log (fsync off: the records are the same, only setup is faster)."""
    return uvloop.run(_append_all(directory, chunks))


def cheap_chunks(
    total: int, templates: list[bytes], chunk: int = 100_000
) -> Iterator[list[tuple[str, bytes]]]:
    """`total` entries cycling through enriched demo payloads, each copy with its own messageId.

    The 8 hex digits of the id's first group are replaced by the copy number, so ids stay unique and
    the payload keeps its length and shape; no JSON is parsed or written.
    """
    marker = b'"messageId":"'
    parts = []
    for payload in templates:
        at = payload.index(marker) + len(marker)
        parts.append((payload[:at], payload[at + 8 :]))
    out: list[tuple[str, bytes]] = []
    made = 0
    copy = 0
    while made < total:
        prefix = b"%08x" % copy
        for head, tail in parts:
            out.append((SOURCE_ID, head + prefix + tail))
            made += 1
            if made >= total:
                break
            if len(out) >= chunk:
                yield out
                out = []
        copy += 1
    if out:
        yield out


# -- PostgreSQL -------------------------------------------------------------------------------------


_admin: list[str] = []


def admin_dsn() -> str:
    if _admin:
        return _admin[0]
    for dsn in ADMIN_DSNS:
        try:
            with psycopg.connect(dsn, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            continue
        _admin.append(dsn)
        return dsn
    raise SystemExit("bench: no PostgreSQL at 127.0.0.1:5432 (use --skip-postgres)")


@contextmanager
def fresh_postgres() -> Iterator[str]:
    name = f"hw_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_dsn().rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- where the loader's time goes -------------------------------------------------------------------


class PartTimer:
    """Exclusive wall time per part: a wrapped call nested in another is not counted twice.

    Each thread keeps its own nesting; a part timed off the loader's thread (the staging thread) is
    labelled as such, since it overlaps the loader's own time rather than adding to it.
    """

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._local = threading.local()
        self._main = threading.get_ident()

    def _stack(self) -> list[float]:
        stack: list[float] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def _label(self, label: str) -> str:
        return label if threading.get_ident() == self._main else f"[thread] {label}"

    def wrap(self, name: str | Callable[..., str], fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            label = self._label(name(*args, **kwargs) if callable(name) else name)
            stack = self._stack()
            stack.append(0.0)
            began = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - began
                nested = stack.pop()
                self.totals[label] = self.totals.get(label, 0.0) + elapsed - nested
                self.calls[label] = self.calls.get(label, 0) + 1
                if stack:
                    stack[-1] += elapsed

        return timed

    def add(self, label: str, elapsed: float) -> None:
        label = self._label(label)
        self.totals[label] = self.totals.get(label, 0.0) + elapsed
        stack = self._stack()
        if stack:
            stack[-1] += elapsed


def instrument(loader: Loader, timer: PartTimer) -> Callable[[], None]:
    """Time the loader's parts by wrapping its collaborators' methods (bench only; undone by the result)."""
    engine, stage, consumer, bookkeeping = loader.engine, loader.stage, loader.consumer, loader.bookkeeping
    wrapped: list[tuple[Any, str]] = []

    def on(obj: Any, attribute: str, label: str | Callable[..., str]) -> None:
        setattr(obj, attribute, timer.wrap(label, getattr(obj, attribute)))
        wrapped.append((obj, attribute))

    on(consumer, "poll", "log read (poll)")
    on(loader, "_drop_duplicates", "dedup: check window")
    on(loader, "_remember_ids", "dedup: remember ids")
    on(loader.transformer, "rows", "transform (event -> rows)")
    on(stage, "put", "stage: parquet write + fsync")
    on(stage, "read", "stage: parquet read")
    on(stage, "delete_load", "stage: delete")
    on(engine, "append", "engine insert")
    on(engine, "merge_users", "engine: users merge")
    on(
        engine,
        "register",
        lambda name, data: "engine: users merge" if "users" in name else "dedup: check window",
    )
    on(engine, "create_table", "engine DDL")
    on(engine, "add_columns", "engine DDL")
    on(bookkeeping, "record_load", "bookkeeping")
    on(bookkeeping, "offsets", "bookkeeping")
    on(consumer, "commit", "bookkeeping")

    original_tx = engine.transaction

    @contextmanager
    def timed_transaction() -> Iterator[None]:
        manager = original_tx()
        manager.__enter__()
        try:
            yield
        except BaseException:
            if not manager.__exit__(*sys.exc_info()):
                raise
            return
        began = time.perf_counter()
        manager.__exit__(None, None, None)
        timer.add("engine commit", time.perf_counter() - began)

    engine.transaction = timed_transaction  # type: ignore[method-assign]
    wrapped.append((engine, "transaction"))

    class TimedBuilder(BatchBuilder):
        add = timer.wrap("arrow build: collect rows", BatchBuilder.add)  # type: ignore[assignment]
        build = timer.wrap("arrow build: to arrow", BatchBuilder.build)  # type: ignore[assignment]

    # The loader names both through its module globals; swapping them there times every call.
    globals_of_loader = vars(loader_module)
    real_orjson = globals_of_loader["orjson"]

    class TimedJson:
        loads = staticmethod(timer.wrap("decode (orjson.loads)", orjson.loads))
        dumps = staticmethod(orjson.dumps)
        JSONDecodeError = orjson.JSONDecodeError

    globals_of_loader["BatchBuilder"] = TimedBuilder
    globals_of_loader["orjson"] = TimedJson

    def undo() -> None:
        for obj, attribute in wrapped:
            delattr(obj, attribute)
        globals_of_loader["BatchBuilder"] = BatchBuilder
        globals_of_loader["orjson"] = real_orjson

    return undo


# -- load rate --------------------------------------------------------------------------------------


@dataclass
class LoadRun:
    engine: str
    batch: int
    events: int
    seconds: float
    loads: int
    rows: int
    cpu_seconds: float = 0.0
    gc_seconds: float = 0.0
    ceiling_seconds: float = 0.0
    ceiling_rows: int = 0
    tables: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    parts: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def ceiling_rate(self) -> float:
        return self.events / self.ceiling_seconds

    @property
    def ratio(self) -> float:
        return self.ceiling_seconds / self.seconds


def drain(
    log_dir: Path,
    settings: WarehouseSettings,
    total: int,
    timer: PartTimer | None = None,
    profile: cProfile.Profile | None = None,
) -> LoadRun:
    """Load the log with an in-process Loader until at least `total` events are in."""
    event_log = open_log(LogSettings(directory=log_dir, fsync=False))
    engine = open_engine(settings)
    stage = open_stage(settings)
    loader = Loader(settings, engine, stage, event_log)
    undo: Callable[[], None] | None = None
    try:
        loader.start()
        if timer is not None:
            undo = instrument(loader, timer)
        stop = threading.Event()
        seen = 0
        if profile is not None:
            profile.enable()
        gc_spent = [0.0, 0.0]

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                gc_spent[1] = time.perf_counter()
            else:
                gc_spent[0] += time.perf_counter() - gc_spent[1]

        if timer is not None:
            gc.callbacks.append(on_gc)
        cpu = time.process_time()
        began = time.perf_counter()
        while seen < total:
            items = loader.collect(stop)
            loader.load_items(items, stop)
            seen += len(items)
        seconds = time.perf_counter() - began
        cpu = time.process_time() - cpu
        if timer is not None:
            gc.callbacks.remove(on_gc)
        if profile is not None:
            profile.disable()
        stats = loader.stats
        if stats.events_loaded != seen or stats.failed or stats.duplicates:
            raise SystemExit(
                f"bench: loaded {stats.events_loaded} of {seen} "
                f"(failed {stats.failed}, duplicates {stats.duplicates}): {stats.failures_by_reason}"
            )
        # `phase_seconds` is the loader's own lap timer (a few perf_counter calls per load).
        phases = dict(getattr(loader, "phase_seconds", {}))
        return LoadRun(
            settings.engine,
            settings.batch_max_events,
            seen,
            seconds,
            stats.loads,
            stats.rows,
            cpu_seconds=cpu,
            gc_seconds=gc_spent[0],
            phases=phases,
        )
    finally:
        if undo is not None:
            undo()
        engine.close()
        event_log.close()


def duckdb_ceiling(path: Path, workdir: Path, namespace: str) -> tuple[float, int, int]:
    """Export the loaded tables to Parquet, then time inserting them into empty copies of the tables."""
    export = workdir / "export"
    export.mkdir()
    target = workdir / "ceiling.duckdb"
    with duckdb.connect(str(path), read_only=True) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = $1", [namespace]
            ).fetchall()
        ]
        rows = 0
        for table in tables:
            conn.execute(
                f"COPY (SELECT * FROM {namespace}.\"{table}\") TO '{export / table}.parquet' (FORMAT parquet)"
            )
            rows += conn.execute(f'SELECT count(*) FROM {namespace}."{table}"').fetchone()[0]  # type: ignore[index]
    with duckdb.connect(str(target)) as conn:
        conn.execute(f"ATTACH '{path}' AS loaded (READ_ONLY)")
        conn.execute(f"CREATE SCHEMA {namespace}")
        for table in tables:
            conn.execute(
                f'CREATE TABLE {namespace}."{table}" AS '
                f'SELECT * FROM loaded.{namespace}."{table}" WITH NO DATA'
            )
        conn.execute("DETACH loaded")
        conn.execute("CHECKPOINT")
        began = time.perf_counter()
        conn.execute("BEGIN")
        for table in tables:
            conn.execute(
                f"INSERT INTO {namespace}.\"{table}\" SELECT * FROM read_parquet('{export / table}.parquet')"
            )
        conn.execute("COMMIT")
        seconds = time.perf_counter() - began
    shutil.rmtree(export)
    target.unlink()
    return seconds, rows, len(tables)


def postgres_ceiling(dsn: str, workdir: Path, namespace: str) -> tuple[float, int, int]:
    """Export the loaded tables as CSV, then time COPY of the same CSV into empty copies of the tables."""
    export = workdir / "export"
    export.mkdir()
    rows = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = %s AND table_type = 'BASE TABLE'",
                [namespace],
            ).fetchall()
        ]
        conn.execute("CREATE SCHEMA ceiling")
        for table in tables:
            with (export / f"{table}.csv").open("wb") as out, conn.cursor() as cur:
                with cur.copy(f'COPY {namespace}."{table}" TO STDOUT (FORMAT csv)') as copy:
                    for data in copy:
                        out.write(data)
                rows += conn.execute(f'SELECT count(*) FROM {namespace}."{table}"').fetchone()[0]  # type: ignore[index]
            conn.execute(f'CREATE TABLE ceiling."{table}" (LIKE {namespace}."{table}")')
    with psycopg.connect(dsn) as conn:
        began = time.perf_counter()
        with conn.cursor() as cur:
            for table in tables:
                with (
                    (export / f"{table}.csv").open("rb") as src,
                    cur.copy(f'COPY ceiling."{table}" FROM STDIN (FORMAT csv)') as copy,
                ):
                    while block := src.read(1 << 20):
                        copy.write(block)
        conn.commit()
        seconds = time.perf_counter() - began
    shutil.rmtree(export)
    return seconds, rows, len(tables)


def settings_for(kind: str, batch: int, workdir: Path, dsn: str = "") -> WarehouseSettings:
    return WarehouseSettings(
        engine=kind,
        duckdb_path=workdir / "warehouse.duckdb",
        postgres_dsn=dsn,
        batch_max_events=batch,
        # The default interval: it also caps how long one batch is collected, so a shorter one would
        # cut batches below batch_max_events. The last, partial batch waits at most this once.
        batch_interval_seconds=1.0,
        staging_dir=workdir / "staging",
    )


def load_round(
    log_dir: Path,
    root: Path,
    kind: str,
    batch: int,
    total: int,
    *,
    ceiling: bool = True,
    timer: PartTimer | None = None,
    profile: cProfile.Profile | None = None,
) -> LoadRun:
    """One drain into a fresh warehouse, then (if `ceiling`) the engine alone inserting the same rows."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=root))
    try:
        if kind == "duckdb":
            settings = settings_for(kind, batch, workdir)
            run = drain(log_dir, settings, total, timer, profile)
            if ceiling:
                run.ceiling_seconds, run.ceiling_rows, run.tables = duckdb_ceiling(
                    settings.duckdb_path, workdir, settings.namespace
                )
        else:
            with fresh_postgres() as dsn:
                settings = settings_for(kind, batch, workdir, dsn)
                run = drain(log_dir, settings, total, timer, profile)
                if ceiling:
                    run.ceiling_seconds, run.ceiling_rows, run.tables = postgres_ceiling(
                        dsn, workdir, settings.namespace
                    )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if timer is not None:
        run.parts = dict(timer.totals)
    return run


def print_profile(kind: str, batch: int, run: LoadRun, profile: cProfile.Profile, top: int) -> None:
    stats = pstats.Stats(profile)
    total_time = max(float(getattr(stats, "total_tt", 0.0)), 1e-9)
    print(
        f"\ncProfile of one {kind} drain ({run.events:,} events, batch {batch:,}; {total_time:.1f} s "
        "under the profiler), by own time:"
    )
    entries = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)  # type: ignore[attr-defined]
    for (filename, line, name), (_cc, calls, own, cumulative, _callers) in entries[:top]:
        print(
            f"  {own:7.2f} s own {100 * own / total_time:5.1f}%  {cumulative:7.2f} s cum  "
            f"{calls:>10,}  {name} ({Path(filename).name}:{line})"
        )


def print_phases(label: str, events: int, seconds: float, phases: dict[str, float]) -> None:
    """The loader's own laps (`Loader.phase_seconds`), as share of the timed drain."""
    if not phases:
        return
    print(f"  {label}: loader phases ({seconds:.1f} s for {events:,} events)")
    accounted = 0.0
    for phase, spent in sorted(phases.items(), key=lambda item: item[1], reverse=True):
        # "stage" runs on its own thread beside "insert": shown, but not part of the loader's sum.
        concurrent = phase == "stage"
        if not concurrent:
            accounted += spent
        print(
            f"    {phase:14} {spent:7.2f} s  {100 * spent / seconds:5.1f}%  "
            f"{1e6 * spent / events:6.1f} us/event"
            + ("  (staging thread, overlaps insert)" if concurrent else "")
        )
    rest = seconds - accounted
    print(
        f"    {'outside loads':14} {rest:7.2f} s  {100 * rest / seconds:5.1f}%  "
        f"{1e6 * rest / events:6.1f} us/event  (log poll, after-commit, loop)"
    )


def print_parts(run: LoadRun) -> None:
    total = run.seconds
    print(
        f"\nwhere the time goes, finer (methods wrapped with timers, exclusive time): {run.engine}, "
        f"batch {run.batch:,}, {total:.1f} s for {run.events:,} events ({run.rate:,.0f} events/s)"
    )
    accounted = 0.0
    for label, seconds in sorted(run.parts.items(), key=lambda item: item[1], reverse=True):
        if not label.startswith("[thread]"):
            accounted += seconds
        print(
            f"  {label:32} {seconds:7.2f} s  {100 * seconds / total:5.1f}%  "
            f"{1e6 * seconds / run.events:6.1f} us/event"
        )
    rest = total - accounted
    print(
        f"  {'the rest (loop, offsets, misc)':32} {rest:7.2f} s  {100 * rest / total:5.1f}%  "
        f"{1e6 * rest / run.events:6.1f} us/event"
    )
    if any(label.startswith("[thread]") for label in run.parts):
        print("  ([thread] parts ran beside the loader's thread; waiting for them is in the rest)")
    print(
        f"  (spread over the parts above: Python's cyclic GC {run.gc_seconds:.2f} s, "
        f"{100 * run.gc_seconds / total:.1f}%; process CPU {run.cpu_seconds:.1f} s for {total:.1f} s wall)"
    )


def run_load(args: argparse.Namespace, root: Path) -> None:
    log_dir = root / "log"
    began = time.perf_counter()
    count, size = write_log(log_dir, demo_chunks(args.events))
    print(
        f"log: {count:,} demo events ({mb(size)} of payload, {size / count:,.0f} bytes/event), "
        f"generated, enriched and appended in {time.perf_counter() - began:.0f} s\n",
        flush=True,
    )
    engines = ["duckdb"] if args.skip_postgres else ["duckdb", "postgres"]
    runs: dict[tuple[str, int], list[LoadRun]] = {}
    for round_no in range(args.rounds):
        for kind in engines:
            for batch in args.batch_sizes:
                run = load_round(log_dir, root, kind, batch, count)
                runs.setdefault((kind, batch), []).append(run)
                print(
                    f"round {round_no + 1} {kind:8} batch {batch:>6,}: {run.rate:>7,.0f} events/s "
                    f"({run.seconds:.1f} s, {run.loads} loads, {run.rows:,} rows)  ceiling "
                    f"{run.ceiling_rate:>9,.0f} events/s ({run.ceiling_seconds:.1f} s, "
                    f"{run.ceiling_rows:,} rows in {run.tables} tables)  ratio {run.ratio:.3f}  "
                    f"[cpu {run.cpu_seconds:.0f} s; load avg {os.getloadavg()[0]:.1f}]",
                    flush=True,
                )
    print("\nmedians (ratio = ceiling time / loader time)")
    for (kind, batch), each in runs.items():
        rate = statistics.median(r.rate for r in each)
        ceiling = statistics.median(r.ceiling_rate for r in each)
        ratio = statistics.median(r.ratio for r in each)
        print(
            f"{kind:8} batch {batch:>6,}: loader {rate:>7,.0f} events/s   "
            f"ceiling {ceiling:>9,.0f} events/s   ratio {ratio:.3f}   (target >= 0.5)"
        )
    for (kind, batch), each in runs.items():
        middle = sorted(each, key=lambda r: r.seconds)[len(each) // 2]
        print_phases(f"{kind} batch {batch:,} (median round)", middle.events, middle.seconds, middle.phases)
    subset = min(count, args.breakdown_events)
    if not args.no_breakdown:
        for kind in engines:
            print_parts(
                load_round(log_dir, root, kind, args.batch_sizes[0], subset, ceiling=False, timer=PartTimer())
            )
    if args.profile_top:
        for kind in engines:
            profile = cProfile.Profile()
            run = load_round(log_dir, root, kind, args.batch_sizes[0], subset, ceiling=False, profile=profile)
            print_profile(kind, args.batch_sizes[0], run, profile, args.profile_top)
    shutil.rmtree(log_dir, ignore_errors=True)


# -- freshness --------------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_headwater(workdir: Path, workers: int, warehouse: dict[str, Any]) -> Server:
    """`headwater up` as tests/conftest.py starts it, ready once /health and the warehouse socket answer."""
    port = free_port()
    config = workdir / "headwater.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(workdir / "data"),
                "collect": {"port": port, "host": "127.0.0.1", "workers": workers},
                "sources": [{"name": "bench", "write_key": KEY}],
                "warehouse": warehouse,
            }
        )
    )
    log_path = workdir / "headwater.log"
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "headwater", "up", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(os.environ, HEADWATER_LOG_JSON="1"),
        )
    server = Server(process, f"http://127.0.0.1:{port}", workdir / "data", log_path)
    deadline = time.monotonic() + 60
    client = WarehouseClient(server.data_dir / "run" / "warehouse.sock", timeout=5)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"headwater up exited:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(server.url + "/health", timeout=1).status_code == 200 and client.available():
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise SystemExit(f"headwater up did not become ready:\n{log_path.read_text()[-3000:]}")


def request_bodies(per_request: int, count: int) -> list[list[bytes]]:
    """Demo events as the SDKs send them (before enrichment), serialised once, `per_request` a body."""
    events = generate(seed=7, events=per_request * count)
    payloads = [orjson.dumps(event.payload) for event in events]
    return [payloads[i : i + per_request] for i in range(0, len(payloads), per_request)]


def marker_event(run: str, number: int) -> tuple[str, bytes]:
    message_id = f"marker-{run}-{number:06d}"
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return message_id, orjson.dumps(
        {
            "type": "track",
            "event": "Bench Marker",
            "messageId": message_id,
            "anonymousId": "bench-marker-device",
            "properties": {"number": number},
            "context": {"library": {"name": "analytics-python", "version": "2.1.4"}},
            "originalTimestamp": now,
            "sentAt": now,
        }
    )


@dataclass
class Freshness:
    offered: float
    achieved: float
    seconds: float
    errors: int
    ack_ms: list[float]
    delays: list[tuple[float, float]]  # (seconds since the first send, ack -> queryable)
    unseen: int
    poll_ms: list[float]
    lags: list[tuple[float, int]]  # (seconds since the first send, events in the log not yet loaded)


async def _send_steady(
    url: str,
    bodies: list[list[bytes]],
    rate: float,
    seconds: float,
    marker_every: int,
    run: str,
    acked: dict[str, float],
) -> tuple[int, int, float, list[float]]:
    """Open-loop pacing: request k leaves at start + k * interval whatever the answers do."""
    per_request = len(bodies[0])
    interval = per_request / rate
    total = int(seconds / interval)
    errors = 0
    events_acked = 0
    ack_ms: list[float] = []
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    headers = {"Authorization": AUTH, "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30, headers=headers) as client:

        async def one(number: int) -> None:
            nonlocal errors, events_acked
            events = bodies[number % len(bodies)]
            # A fresh messageId prefix per request, so repeated bodies are not dropped as duplicates.
            tag = b'"messageId":"r%d-' % number
            joined = b",".join(events).replace(b'"messageId":"', tag)
            marker_id = None
            if number % marker_every == 0:
                marker_id, marker = marker_event(run, number // marker_every)
                joined = marker + b"," + joined
            body = b'{"batch":[' + joined + b'],"sentAt":"2026-11-24T10:00:00.000Z"}'
            began = time.monotonic()
            try:
                response = await client.post("/v1/batch", content=body)
            except httpx.HTTPError:
                errors += 1
                return
            done = time.monotonic()
            if response.status_code != 200:
                errors += 1
                return
            ack_ms.append(1000 * (done - began))
            events_acked += per_request + (1 if marker_id else 0)
            if marker_id is not None:
                acked[marker_id] = done

        tasks = set()
        started = time.monotonic()
        for number in range(total):
            pause = started + number * interval - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            task = asyncio.create_task(one(number))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        elapsed = time.monotonic() - started
    return events_acked, errors, elapsed, ack_ms


def _poll_markers(
    socket: Path,
    acked: dict[str, float],
    seen: dict[str, float],
    stop: threading.Event,
    poll_ms: list[float],
    lags: list[tuple[float, int]],
) -> None:
    """Every 100 ms ask the warehouse which acknowledged markers it can return; every 2 s, its lag."""
    client = WarehouseClient(socket, timeout=30)
    started = time.monotonic()
    last_status = 0.0
    while not stop.is_set():
        pending = [marker for marker in list(acked) if marker not in seen]
        if pending:
            listed = ", ".join(f"'{marker}'" for marker in pending)
            began = time.monotonic()
            try:
                result = client.query(f"select id from tracks where id in ({listed})")
            except (WarehouseError, httpx.HTTPError):
                result = None  # the tracks table may not exist yet
            done = time.monotonic()
            poll_ms.append(1000 * (done - began))
            if result is not None:
                for (found,) in result.rows:
                    seen.setdefault(found, done)
        if time.monotonic() - last_status >= 2.0:
            last_status = time.monotonic()
            with contextlib.suppress(WarehouseError, httpx.HTTPError):
                lags.append((last_status - started, int(client.status().get("lag_total") or 0)))
        stop.wait(0.1)


def freshness_round(args: argparse.Namespace, root: Path, rate: float, bodies: list[list[bytes]]) -> None:
    print(
        f"\n[code {code_version()}] freshness: headwater up (2 ingest workers, DuckDB, "
        f"batch_interval_seconds {args.batch_interval:g}), {rate:,.0f} events/s offered for "
        f"{args.seconds:g} s in batches of {args.per_request}, a marker in every 10th request",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="freshness-", dir=root))
    server = start_headwater(workdir, 2, {"engine": "duckdb", "batch_interval_seconds": args.batch_interval})
    acked: dict[str, float] = {}
    seen: dict[str, float] = {}
    poll_ms: list[float] = []
    lags: list[tuple[float, int]] = []
    stop = threading.Event()
    socket = server.data_dir / "run" / "warehouse.sock"
    poller = threading.Thread(
        target=_poll_markers, args=(socket, acked, seen, stop, poll_ms, lags), daemon=True
    )
    run = uuid.uuid4().hex[:8]
    try:
        began = time.monotonic()
        poller.start()
        events, errors, elapsed, ack_ms = uvloop.run(
            _send_steady(server.url, bodies, rate, args.seconds, 10, run, acked)
        )
        deadline = time.monotonic() + args.drain_timeout
        while len(seen) < len(acked) and time.monotonic() < deadline:
            time.sleep(0.2)
        stop.set()
        poller.join(30)
        client = WarehouseClient(socket)
        loads = client.query(
            "select count(*), avg(events), quantile_cont(epoch(committed_at) - epoch(started_at), 0.5) "
            "from _headwater.loads"
        )
    finally:
        stop.set()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    delays = sorted((acked[m] - began, seen[m] - acked[m]) for m in acked if m in seen)
    result = Freshness(
        rate, events / elapsed, elapsed, errors, ack_ms, delays, len(acked) - len(seen), poll_ms, lags
    )
    print_freshness(result, args.batch_interval, args.seconds, loads.rows[0])


def run_freshness(args: argparse.Namespace, root: Path) -> None:
    bodies = request_bodies(args.per_request, 200)
    for rate in args.rate:
        freshness_round(args, root, rate, bodies)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def print_freshness(r: Freshness, interval: float, seconds: float, loads: tuple[Any, ...]) -> None:
    delays = [d for _, d in r.delays]
    p50, p99, worst = pct(delays, 0.5), pct(delays, 0.99), max(delays, default=float("nan"))
    print(
        f"acknowledged {r.achieved:,.0f} events/s over {r.seconds:.1f} s (offered {r.offered:,.0f}); "
        f"non-2xx/errors {r.errors}; ack p50 {pct(r.ack_ms, 0.5):.1f} ms p99 {pct(r.ack_ms, 0.99):.1f} ms"
    )
    print(f"markers: {len(delays)} seen, {r.unseen} not seen within the wait after the last send")
    print(
        f"ack -> queryable: p50 {p50:.2f} s   p99 {p99:.2f} s   max {worst:.2f} s   (target p99 <= 10 s)\n"
        f"  baseline: batch_interval_seconds {interval:g} s -> p50/interval {p50 / interval:.2f}, "
        f"p99/interval {p99 / interval:.2f}"
    )
    windows = []
    for start in range(0, int(seconds), 10):
        inside = [d for at, d in r.delays if start <= at < start + 10]
        if inside:
            windows.append(f"{start}-{start + 10} s: {statistics.median(inside):.1f}")
    print("  median ack -> queryable by send time: " + ", ".join(windows))
    lag_during = [lag for at, lag in r.lags if at <= r.seconds]
    print(
        f"  loader lag (events in the log not yet loaded) during sending: "
        f"max {max(lag_during, default=0):,}, at the end of sending {lag_during[-1] if lag_during else 0:,}"
    )
    print(
        f"  poll round trip (select over the socket) p50 {pct(r.poll_ms, 0.5):.0f} ms "
        f"p99 {pct(r.poll_ms, 0.99):.0f} ms; {loads[0]} loads of {float(loads[1] or 0):,.0f} events "
        "on average, "
        f"median load {float(loads[2] or 0):.2f} s"
    )


# -- memory -----------------------------------------------------------------------------------------


def rss_kib(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class MemoryRun:
    events: int
    loaded: int
    seconds: float
    peak_rss_kib: int
    hwm_kib: int
    log_bytes: int
    samples: list[tuple[float, int, int, int]]  # (seconds, events loaded, VmRSS KiB, DuckDB bytes in use)
    memory_limit: str


def memory_round(root: Path, total: int, templates: list[bytes], max_seconds: float) -> MemoryRun:
    """Write a backlog, drain it with the real warehouse worker process, and watch its RSS."""
    workdir = Path(tempfile.mkdtemp(prefix=f"memory-{total}-", dir=root))
    data_dir = workdir / "data"
    try:
        began = time.perf_counter()
        count, _ = write_log(data_dir / "log", cheap_chunks(total, templates))
        log_bytes = sum(p.stat().st_size for p in (data_dir / "log").rglob("*") if p.is_file())
        print(
            f"  {count:,} events written to the log ({mb(log_bytes)} on disk) "
            f"in {time.perf_counter() - began:.0f} s",
            flush=True,
        )
        config = workdir / "headwater.yaml"
        config.write_text(
            yaml.safe_dump({"data_dir": str(data_dir), "sources": [{"name": "bench", "write_key": KEY}]})
        )
        worker_log = workdir / "worker.log"
        with worker_log.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "headwater.warehouse.worker", "--config", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )
        client = WarehouseClient(data_dir / "run" / "warehouse.sock", timeout=30)
        started = time.monotonic()
        peak = loaded = 0
        samples: list[tuple[float, int, int, int]] = []
        memory_limit = "?"
        duckdb_bytes = 0
        last_status = 0.0
        last_report = started
        try:
            while True:
                if process.poll() is not None:
                    raise SystemExit(
                        f"warehouse worker exited {process.returncode}:\n{worker_log.read_text()[-3000:]}"
                    )
                rss = rss_kib(process.pid, "VmRSS")
                peak = max(peak, rss)
                now = time.monotonic()
                if now - last_status >= 2.0:
                    last_status = now
                    try:
                        loader = client.status()["loader"]
                        loaded = loader["events_loaded"] + loader["duplicates"] + loader["failed"]
                        # What DuckDB's buffer manager holds, to tell it from the Python side's memory.
                        used = client.query("select sum(memory_usage_bytes) from duckdb_memory()").rows
                        duckdb_bytes = int(used[0][0] or 0)
                        if memory_limit == "?":
                            memory_limit = str(
                                client.query("select current_setting('memory_limit')").rows[0][0]
                            )
                    except (WarehouseError, httpx.HTTPError, OSError, orjson.JSONDecodeError):
                        pass
                    samples.append((now - started, loaded, rss, duckdb_bytes))
                    if loaded >= total or now - started > max_seconds:
                        break
                    if now - last_report >= 60:
                        last_report = now
                        print(
                            f"    {now - started:5.0f} s: {loaded:,} loaded, VmRSS {rss / 1024:,.0f} MiB, "
                            f"DuckDB {duckdb_bytes / 1024**2:,.0f} MiB",
                            flush=True,
                        )
                time.sleep(0.2)
            seconds = time.monotonic() - started
            hwm = rss_kib(process.pid, "VmHWM")
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return MemoryRun(count, loaded, seconds, peak, hwm, log_bytes, samples, memory_limit)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def idle_rss(root: Path) -> int:
    """VmRSS of the warehouse worker with an empty log, 5 s after its socket answers: the baseline."""
    workdir = Path(tempfile.mkdtemp(prefix="memory-idle-", dir=root))
    data_dir = workdir / "data"
    try:
        write_log(data_dir / "log", iter([]))
        config = workdir / "headwater.yaml"
        config.write_text(
            yaml.safe_dump({"data_dir": str(data_dir), "sources": [{"name": "bench", "write_key": KEY}]})
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "headwater.warehouse.worker", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        try:
            client = WarehouseClient(data_dir / "run" / "warehouse.sock", timeout=5)
            deadline = time.monotonic() + 60
            while not client.available() and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(5)
            return rss_kib(process.pid, "VmRSS")
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_memory(args: argparse.Namespace, root: Path) -> None:
    free = subprocess.run(["df", "-h", str(root)], capture_output=True, text=True).stdout
    print(f"memory: df -h {root}\n{free}")
    templates = [payload for chunk in demo_chunks(DEMO_CHUNK, seed=99) for _, payload in chunk]
    idle = idle_rss(root)
    print(f"idle warehouse worker (empty log): VmRSS {idle / 1024:,.0f} MiB", flush=True)
    runs = []
    for total in args.memory_events:
        print(
            f"[code {code_version()}] backlog of {total:,} events: python -m headwater.warehouse.worker, "
            f"DuckDB, defaults (batch_max_events 20000); stops after {args.memory_max_seconds:.0f} s",
            flush=True,
        )
        run = memory_round(root, total, templates, args.memory_max_seconds)
        runs.append(run)
        complete = "drained" if run.loaded >= run.events else f"STOPPED at {run.loaded:,} loaded"
        quarters = []
        for fraction in (0.25, 0.5, 0.75, 1.0):
            sample = next((s for s in run.samples if s[1] >= fraction * run.loaded), run.samples[-1])
            quarters.append(
                f"{sample[1]:,} ({sample[0]:.0f} s): {sample[2] / 1024:,.0f} "
                f"(DuckDB {sample[3] / 1024**2:,.0f})"
            )
        print(
            f"  {complete} in {run.seconds:.0f} s ({run.loaded / run.seconds:,.0f} events/s); sampled peak "
            f"VmRSS {run.peak_rss_kib / 1024:,.0f} MiB; VmHWM {run.hwm_kib / 1024:,.0f} MiB "
            f"({run.hwm_kib / idle:.2f} x idle); DuckDB memory_limit {run.memory_limit}, "
            f"DuckDB in use at most {max(x[3] for x in run.samples) / 1024**2:,.0f} MiB\n"
            "  VmRSS (of which DuckDB's buffers) in MiB by events loaded: " + ", ".join(quarters),
            flush=True,
        )
    first = runs[0]
    for run in runs[1:]:
        print(
            f"VmHWM at {run.loaded:,} loaded / VmHWM at {first.loaded:,} loaded: "
            f"{run.hwm_kib / first.hwm_kib:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="demo events for the load rate")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[20_000, 50_000])
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--only", choices=("load", "freshness", "memory"))
    parser.add_argument("--no-breakdown", action="store_true", help="skip the timed-parts run")
    parser.add_argument(
        "--profile-top", type=int, default=25, help="cProfile one drain; print N functions (0: skip)"
    )
    parser.add_argument(
        "--breakdown-events", type=int, default=200_000, help="events in the timed-parts and cProfile drains"
    )
    parser.add_argument(
        "--rate", type=float, nargs="+", default=[10_000.0], help="freshness: offered events/s"
    )
    parser.add_argument(
        "--drain-timeout", type=float, default=600.0, help="freshness: wait for markers after sending"
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="freshness: how long to send")
    parser.add_argument("--per-request", type=int, default=100)
    parser.add_argument("--batch-interval", type=float, default=1.0)
    parser.add_argument("--memory-events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument(
        "--memory-max-seconds", type=float, default=1200.0, help="memory: stop a drain after this long"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="where temporary data goes (default /tmp)")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the finally blocks remove the data and drop the databases.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    root = Path(tempfile.mkdtemp(prefix="headwater-whbench-", dir=args.workdir))
    print(f"{os.cpu_count()} cores; code {code_version()}; work in {root}\n", flush=True)
    try:
        if args.only in (None, "load"):
            run_load(args, root)
        if args.only in (None, "freshness"):
            run_freshness(args, root)
        if args.only in (None, "memory"):
            print()
            run_memory(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
