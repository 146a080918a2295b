"""Bench data for the models: N demo events in a DuckDB warehouse, as the Headwater loader writes them.

Sending 10M events through the HTTP API and the loader takes about half an hour here
(docs/performance.md: ~6,000 events/s), so the data is made in two steps:

base    `--base-events` demo events (`headwater.demo`: web, Android, iOS and server SDK traffic over
        `--base-days` days) are planned into the requests their SDKs would make, enriched as the data
        plane enriches a request (`headwater.collect.enrich`, with receivedAt = the request's sentAt
        plus a little latency instead of the bench's clock) and turned into rows by the loader's own
        `Transformer` and `BatchBuilder`; the engine's `append`/`merge_users` write them to the schema
        `_bench_base`. Chunks of 50,000 events are separate seeded populations, made on
        `--workers` processes; the first chunk fixes the column types, as a first load would.
copies  Inside DuckDB, every base table is copied into `events` K = ceil(N / base) times. Copy k
        suffixes every device and user id (anonymous_id, user_id, previous_id, context_device_id,
        context_traits_*_id, users.id; e-mails get `+tag`) and every message-level id (id, order_id,
        checkout_id, cart_id) with its tag, and shifts every time column so the copies spread over
        `--days` days ending today (the last copy is cut to the first events of the base in time
        order, so the total is exactly N). `uuid_ts` becomes the received minute + 90 s: rows load
        in per-minute batches, as a running loader's micro-batches would. Per-event tables are
        copied row for row with `tracks`, so they keep matching it.
append  `--append-percent P` adds P% of the current events: one day of base traffic placed just
        after the latest received_at, half from devices already in the warehouse (the base devices
        of the latest copies: returning visitors, whose whole history the models must revisit) and
        half under new tags (new devices); 5% of them are late (timestamp two days earlier than
        they are received). Their uuid_ts is after every existing one.

The base tables stay in `_bench_base` (the models read only `events`), which `append` needs.

    python bench/models_data.py --events 10000000 --out /path/warehouse.duckdb [--check]
    python bench/models_data.py --append-percent 1 --out /path/warehouse.duckdb [--check]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from headwater.collect.enrich import Stamp, enrich
from headwater.collect.timestamps import parse_time
from headwater.demo import generate, plan_requests
from headwater.warehouse.batch import DISCARDS_COLUMNS, DISCARDS_TABLE, USERS_TABLE, BatchBuilder
from headwater.warehouse.engines.duckdb import DuckDBEngine
from headwater.warehouse.engines.render import quote_ident, quote_literal
from headwater.warehouse.model import AbstractType, SourceInfo
from headwater.warehouse.naming import Namer
from headwater.warehouse.transform import Transformer

__all__ = ["DataSummary", "append_events", "check_warehouse", "count_events", "make_warehouse"]

NAMESPACE = "events"
BASE = "_bench_base"
SOURCE_ID = "demo"
CHUNK_EVENTS = 50_000
EVENT_TABLES = ("tracks", "pages", "screens", "identifies", "aliases", "groups")
# Columns holding an id of a device or person: suffixed with the copy's device tag.
DEVICE_COLUMNS = frozenset(
    {
        "anonymous_id",
        "user_id",
        "previous_id",
        "context_device_id",
        "context_traits_user_id",
        "context_traits_anonymous_id",
    }
)
# Ids of one event or order: suffixed with the copy's message tag.
MESSAGE_COLUMNS = frozenset({"order_id", "checkout_id", "cart_id"})
# Event-time columns a late event moves back; sent_at, received_at and uuid_ts stay when it arrived.
EVENT_TIME_COLUMNS = frozenset({"timestamp", "original_timestamp"})
LATE_PER_MILLE = 50
LATE_SECONDS = 2 * 86_400
MEMORY_LIMIT = 4 * 1024**3


@dataclass(frozen=True, slots=True)
class _Chunk:
    seed: int
    events: int
    days: int
    start: date
    schema: dict[str, dict[str, AbstractType]]


@dataclass(frozen=True, slots=True)
class DataSummary:
    """What a generation or append step wrote, for the bench's report."""

    events: int
    total_events: int
    rows: dict[str, int]
    seconds: float
    base_seconds: float
    first_ts: datetime | None
    last_ts: datetime | None


# -- base: demo traffic through the loader's transform ------------------------------------------------


def _chunk_tables(job: _Chunk) -> tuple[dict[str, pa.Table], dict[str, dict[str, AbstractType]]]:
    """One seeded demo population as the loader's Arrow tables, and the tables/columns they add."""
    events = generate(seed=job.seed, events=job.events, days=job.days, start=job.start)
    transformer = Transformer(Namer(identifier_limit=DuckDBEngine.identifier_limit))
    source = SourceInfo(source_id=SOURCE_ID, destination_type=DuckDBEngine.destination_type)
    # uuid_ts is rewritten per minute when the rows are copied into `events`.
    builder = BatchBuilder(job.schema, "1970-01-01T00:00:00.000Z")
    latency = random.Random(f"bench-models:{job.seed}:latency")
    for request in plan_requests(events):
        body: Any = request.body
        if request.path == "/v1/batch":
            batch: dict[str, Any] | None = body
            members = list(body["batch"])
            forced = None
        else:
            batch, members, forced = None, [body], request.path.rsplit("/", 1)[1]
        sent = parse_time(body.get("sentAt"))
        assert sent is not None, "every demo request carries sentAt"
        received = sent.replace(tzinfo=UTC) + timedelta(milliseconds=latency.randint(15, 400))
        stamp = Stamp(
            ip=request.headers["X-Forwarded-For"], rule="auto", forced_type=forced, batch=batch, now=received
        )
        enrich(members, stamp)
        for event in members:
            builder.add(transformer.rows(event, source))
    built = builder.build()
    return built.tables, built.schema_after()


def _write_chunk(
    engine: DuckDBEngine, tables: dict[str, pa.Table], changes: dict[str, dict[str, AbstractType]]
) -> None:
    with engine.transaction():
        schema = engine.read_schema(BASE)
        for table, columns in changes.items():
            if table not in schema:
                engine.create_table(BASE, table, columns)
            else:
                engine.add_columns(BASE, table, {c: k for c, k in columns.items() if c not in schema[table]})
        for table, data in tables.items():
            if table == USERS_TABLE:
                engine.register("hw_staged_users", data)
                engine.merge_users(BASE, "hw_staged_users", data.column_names)
            else:
                engine.append(BASE, table, data)


def _make_base(engine: DuckDBEngine, events: int, days: int, start: date, seed: int, workers: int) -> None:
    sizes = [CHUNK_EVENTS] * (events // CHUNK_EVENTS)
    if events % CHUNK_EVENTS:
        sizes.append(events % CHUNK_EVENTS)
    first = _Chunk(seed * 10_000, sizes[0], days, start, {})
    _write_chunk(engine, *_chunk_tables(first))
    schema = engine.read_schema(BASE)
    jobs = [_Chunk(seed * 10_000 + i, size, days, start, schema) for i, size in enumerate(sizes) if i]
    if not jobs:
        return
    if workers <= 1:
        for job in jobs:
            _write_chunk(engine, *_chunk_tables(job))
        return
    # spawn, not fork: the parent holds an open DuckDB database and its threads.
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        for tables, changes in pool.imap(_chunk_tables, jobs):
            _write_chunk(engine, tables, changes)


def _index_base(engine: DuckDBEngine) -> None:
    """`event_index`: each base event's place in time order, so a copy can take the first n events."""
    schema = engine.read_schema(BASE)
    parts = [
        f"SELECT id, timestamp FROM {BASE}.{quote_ident(table)}" for table in EVENT_TABLES if table in schema
    ]
    engine.execute(
        f"CREATE OR REPLACE TABLE {BASE}.event_index AS SELECT id, timestamp, "
        f"row_number() OVER (ORDER BY timestamp, id) AS n FROM ({' UNION ALL '.join(parts)})"
    )
    engine.execute(
        f"CREATE TABLE IF NOT EXISTS {BASE}.copies (round INTEGER, dev_tag VARCHAR, msg_tag VARCHAR, "
        "shift_s BIGINT, n_lo BIGINT, n_hi BIGINT, late_per_mille INTEGER, with_users BOOLEAN, "
        "min_uuid_ts TIMESTAMPTZ)"
    )


# -- copies ---------------------------------------------------------------------------------------------


def _columns(engine: DuckDBEngine, schema: str, table: str) -> list[tuple[str, str]]:
    rows = engine.fetch(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = $s AND table_name = $t ORDER BY column_index",
        {"s": schema, "t": table},
    )
    return [(str(name), str(kind)) for name, kind in rows]


def _expression(table: str, column: str, kind: str) -> str:
    """The copy of one column: ids tagged, times shifted (late events' event time moved back)."""
    source = f"b.{quote_ident(column)}"
    shift = "to_seconds(c.shift_s)"
    if column == "uuid_ts":
        # greatest() skips NULL: only appended rows have a floor (they load after everything else).
        return f"greatest(date_trunc('minute', b.received_at + {shift}) + INTERVAL 90 SECOND, c.min_uuid_ts)"
    if kind.startswith("TIMESTAMP"):
        if column in EVENT_TIME_COLUMNS:
            late = f"CASE WHEN hash(b.id) % 1000 < c.late_per_mille THEN {LATE_SECONDS} ELSE 0 END"
            return f"{source} + to_seconds(c.shift_s - {late})"
        return f"{source} + {shift}"
    if column == "id":
        return f"{source} || '-' || {'c.dev_tag' if table == USERS_TABLE else 'c.msg_tag'}"
    if column in DEVICE_COLUMNS:
        return f"{source} || '-' || c.dev_tag"
    if column in MESSAGE_COLUMNS:
        return f"{source} || '-' || c.msg_tag"
    if column.endswith("email") and kind == "VARCHAR":
        return f"replace({source}, '@', '+' || c.dev_tag || '@')"
    if column == "context_session_id" and kind == "BIGINT":
        return f"{source} + c.shift_s * 1000"
    return source


def _copy_round(engine: DuckDBEngine, round_number: int) -> None:
    """Insert every copy of `round_number` (rows of `copies`) into the `events` tables."""
    for table in sorted(engine.read_schema(BASE)):
        if table in ("event_index", "copies", DISCARDS_TABLE):
            continue
        columns = _columns(engine, BASE, table)
        target = f"{quote_ident(NAMESPACE)}.{quote_ident(table)}"
        engine.execute(
            f"CREATE TABLE IF NOT EXISTS {target} AS SELECT * FROM {BASE}.{quote_ident(table)} WITH NO DATA"
        )
        names = [name for name, _ in columns]
        present = {name for name, _ in _columns(engine, NAMESPACE, table)}
        missing = [(n, k) for n, k in columns if n not in present]
        for name, kind in missing:
            engine.execute(f"ALTER TABLE {target} ADD COLUMN {quote_ident(name)} {kind}")
        listed = ", ".join(quote_ident(n) for n in names)
        select = ", ".join(_expression(table, n, k) for n, k in columns)
        if table == USERS_TABLE:
            # A copy's users are those its identifies name; returning devices' users exist already.
            where = (
                "c.with_users AND EXISTS (SELECT 1 FROM "
                f"{BASE}.identifies i JOIN {BASE}.event_index x ON x.id = i.id "
                "WHERE i.user_id = b.id AND x.n BETWEEN c.n_lo AND c.n_hi)"
            )
            source = f"{BASE}.users b, {BASE}.copies c"
        else:
            where = "x.n BETWEEN c.n_lo AND c.n_hi"
            source = (
                f"{BASE}.{quote_ident(table)} b JOIN {BASE}.event_index x ON x.id = b.id, {BASE}.copies c"
            )
        engine.execute(
            f"INSERT INTO {target} ({listed}) SELECT {select} FROM {source} "
            f"WHERE c.round = {round_number} AND {where}"
        )


_Copy = tuple[int, str, str, int, int, int, int, bool]


def _add_copies(engine: DuckDBEngine, rows: list[_Copy], min_uuid_ts: str = "NULL") -> None:
    for row in rows:
        values = ", ".join(quote_literal(v) if isinstance(v, str) else str(v).upper() for v in row)
        engine.execute(f"INSERT INTO {BASE}.copies VALUES ({values}, {min_uuid_ts})")


# -- the steps --------------------------------------------------------------------------------------


def count_events(engine: DuckDBEngine, schema: str = NAMESPACE) -> int:
    """Events = rows of the six event-type tables (per-event tables and users repeat tracks/identifies)."""
    present = engine.read_schema(schema)
    total = 0
    for table in EVENT_TABLES:
        if table in present:
            total += int(
                engine.fetch(f"SELECT count(*) FROM {quote_ident(schema)}.{quote_ident(table)}")[0][0]
            )
    return total


def _rows(engine: DuckDBEngine) -> dict[str, int]:
    return {
        table: int(engine.fetch(f"SELECT count(*) FROM {NAMESPACE}.{quote_ident(table)}")[0][0])
        for table in sorted(engine.read_schema(NAMESPACE))
    }


def _time_range(engine: DuckDBEngine) -> tuple[datetime | None, datetime | None]:
    parts = " UNION ALL ".join(
        f"SELECT min(timestamp) AS lo, max(timestamp) AS hi FROM {NAMESPACE}.{quote_ident(t)}"
        for t in EVENT_TABLES
        if t in engine.read_schema(NAMESPACE)
    )
    lo, hi = engine.fetch(f"SELECT min(lo), max(hi) FROM ({parts})")[0]
    return lo, hi


def _open(path: Path) -> DuckDBEngine:
    engine = DuckDBEngine(path, memory_limit=MEMORY_LIMIT)
    engine.open()
    engine.execute("SET preserve_insertion_order = false")
    return engine


def make_warehouse(
    path: Path,
    events: int,
    *,
    base_events: int = 500_000,
    base_days: int = 28,
    days: int = 182,
    end: date | None = None,
    seed: int = 42,
    workers: int = 2,
) -> DataSummary:
    """A fresh warehouse file at `path` holding exactly `events` events (see the module docstring)."""
    if path.exists():
        raise FileExistsError(f"{path} exists; the bench makes a fresh warehouse")
    began = time.perf_counter()
    base = min(events, base_events)
    copies = math.ceil(events / base)
    span = min(days, base_days * copies)
    end = end or datetime.now(UTC).date()
    start = end - timedelta(days=span)
    engine = _open(path)
    try:
        with engine.transaction():
            engine.create_namespace(BASE)
            engine.create_namespace(NAMESPACE)
            engine.create_table(NAMESPACE, DISCARDS_TABLE, DISCARDS_COLUMNS)
        _make_base(engine, base, base_days, start, seed, workers)
        base_seconds = time.perf_counter() - began
        with engine.transaction():
            _index_base(engine)
            step = (span - base_days) / (copies - 1) if copies > 1 else 0.0
            rows = []
            for k in range(copies):
                n_hi = base if k < copies - 1 else events - base * (copies - 1)
                rows.append((0, f"c{k}", f"c{k}", round(k * step) * 86_400, 1, n_hi, 0, True))
            _add_copies(engine, rows)
            _copy_round(engine, 0)
        engine.execute("CHECKPOINT")
        total = count_events(engine)
        first, last = _time_range(engine)
        return DataSummary(
            events, total, _rows(engine), time.perf_counter() - began, base_seconds, first, last
        )
    finally:
        engine.close()


def append_events(path: Path, percent: float, *, engine: DuckDBEngine | None = None) -> DataSummary:
    """Add `percent`% new events after everything loaded so far (see the module docstring).

    `engine`: the warehouse already open in this process (DuckDB shares one database per process
    only between connections of the same configuration); it is left open.
    """
    began = time.perf_counter()
    own = engine is None
    engine = engine or _open(path)
    try:
        with engine.transaction():
            before = count_events(engine)
            wanted = max(1, round(before * percent / 100))
            previous = engine.fetch(f"SELECT max(round), max(n_hi) FROM {BASE}.copies")[0]
            round_number = int(previous[0]) + 1
            base_size = int(engine.fetch(f"SELECT count(*) FROM {BASE}.event_index")[0][0])
            # One day from the middle of the base window: its devices mostly had events before it.
            lo, hi = engine.fetch(
                f"SELECT min(n), max(n) FROM {BASE}.event_index WHERE timestamp >= "
                f"(SELECT min(timestamp) FROM {BASE}.event_index) + "
                f"(SELECT (max(timestamp) - min(timestamp)) / 2 FROM {BASE}.event_index) "
                f"AND timestamp < (SELECT min(timestamp) FROM {BASE}.event_index) + "
                f"(SELECT (max(timestamp) - min(timestamp)) / 2 FROM {BASE}.event_index) + INTERVAL 1 DAY"
            )[0]
            lo, hi = (int(lo), int(hi)) if lo is not None else (1, base_size)
            window_start = engine.fetch(f"SELECT timestamp FROM {BASE}.event_index WHERE n = {lo}")[0][0]
            latest_ts, latest_uuid = engine.fetch(
                "SELECT max(t), max(u) FROM ("
                + " UNION ALL ".join(
                    f"SELECT max(timestamp) AS t, max(uuid_ts) AS u FROM {NAMESPACE}.{quote_ident(t)}"
                    for t in EVENT_TABLES
                    if t in engine.read_schema(NAMESPACE)
                )
                + ")"
            )[0]
            # New events continue where the event times end; they load after every loaded row.
            shift = int((latest_ts - window_start).total_seconds()) + 60
            floor = f"TIMESTAMPTZ {quote_literal((latest_uuid + timedelta(minutes=1)).isoformat())}"
            full_copies = [
                str(tag)
                for (tag,) in engine.fetch(
                    f"SELECT dev_tag FROM {BASE}.copies WHERE round = 0 ORDER BY shift_s DESC, dev_tag"
                )
            ]
            rows: list[_Copy] = []
            returning = wanted // 2
            for part, count in (("r", returning), ("n", wanted - returning)):
                j = 0
                while count > 0:
                    take = min(count, hi - lo + 1)
                    tag = f"a{round_number}{part}{j}"
                    if part == "r":  # devices of an existing copy (latest first), new message ids
                        dev_tag = full_copies[j % len(full_copies)]
                        rows.append(
                            (round_number, dev_tag, tag, shift, lo, lo + take - 1, LATE_PER_MILLE, False)
                        )
                    else:
                        rows.append((round_number, tag, tag, shift, lo, lo + take - 1, LATE_PER_MILLE, True))
                    count -= take
                    j += 1
            _add_copies(engine, rows, floor)
            _copy_round(engine, round_number)
            after = count_events(engine)
        engine.execute("CHECKPOINT")
        first, last = _time_range(engine)
        seconds = time.perf_counter() - began
        return DataSummary(after - before, after, _rows(engine), seconds, 0.0, first, last)
    finally:
        if own:
            engine.close()


# -- checks -------------------------------------------------------------------------------------------


def check_warehouse(path: Path) -> list[str]:
    """Consistency problems of a generated warehouse (empty when it is sound)."""
    problems: list[str] = []
    engine = DuckDBEngine(path, read_only=True)
    engine.open()
    try:
        schema = engine.read_schema(NAMESPACE)
        ids = " UNION ALL ".join(
            f"SELECT id FROM {NAMESPACE}.{quote_ident(t)}" for t in EVENT_TABLES if t in schema
        )
        total, distinct = engine.fetch(f"SELECT count(*), count(DISTINCT id) FROM ({ids})")[0]
        if total != distinct:
            problems.append(f"message ids not unique: {total} rows, {distinct} distinct")
        users, user_ids = engine.fetch(f"SELECT count(*), count(DISTINCT id) FROM {NAMESPACE}.users")[0]
        if users != user_ids:
            problems.append(f"users ids not unique: {users} rows, {user_ids} distinct")
        tracked = dict(engine.fetch(f"SELECT event, count(*) FROM {NAMESPACE}.tracks GROUP BY event"))
        for table in schema:
            if table in EVENT_TABLES or table in (USERS_TABLE, DISCARDS_TABLE):
                continue
            same = " AND ".join(
                f"t.{quote_ident(c)} IS NOT DISTINCT FROM e.{quote_ident(c)}"
                for c in (
                    "timestamp",
                    "uuid_ts",
                    "received_at",
                    "anonymous_id",
                    "user_id",
                    "context_session_id",
                )
                if c in schema[table]
            )
            rows, joined = engine.fetch(
                f"SELECT count(*), count(t.id) FROM {NAMESPACE}.{quote_ident(table)} e "
                f"LEFT JOIN {NAMESPACE}.tracks t ON t.id = e.id AND {same} "
                f"AND t.event = {quote_literal(table)}"
            )[0]
            if rows != joined or rows != tracked.get(table, 0):
                problems.append(
                    f"{table}: {rows} rows, {joined} match tracks, tracks has {tracked.get(table, 0)}"
                )
        for table in EVENT_TABLES:
            if table not in schema:
                continue
            bad = engine.fetch(
                f"SELECT count(*) FROM {NAMESPACE}.{quote_ident(table)} "
                "WHERE uuid_ts < received_at OR received_at IS NULL OR timestamp IS NULL"
            )[0][0]
            if bad:
                problems.append(f"{table}: {bad} rows with uuid_ts before received_at or no times")
    finally:
        engine.close()
    return problems


def _print_summary(label: str, summary: DataSummary) -> None:
    rate = summary.events / summary.seconds if summary.seconds else 0.0
    print(
        f"{label}: {summary.events:,} events in {summary.seconds:.1f} s ({rate:,.0f} events/s; "
        f"base {summary.base_seconds:.1f} s); warehouse now {summary.total_events:,} events, "
        f"{summary.first_ts} .. {summary.last_ts}"
    )
    big = sorted(summary.rows.items(), key=lambda item: -item[1])
    print("  rows: " + ", ".join(f"{table} {count:,}" for table, count in big))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="the DuckDB warehouse file")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--base-events", type=int, default=500_000)
    parser.add_argument("--base-days", type=int, default=28)
    parser.add_argument("--days", type=int, default=182, help="the span the copies spread over")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--append-percent", type=float, help="add this share of new events to --out")
    parser.add_argument("--check", action="store_true", help="check ids and per-event tables afterwards")
    args = parser.parse_args()
    if args.append_percent is not None:
        _print_summary("append", append_events(args.out, args.append_percent))
    else:
        summary = make_warehouse(
            args.out,
            args.events,
            base_events=args.base_events,
            base_days=args.base_days,
            days=args.days,
            seed=args.seed,
            workers=args.workers,
        )
        _print_summary("generated", summary)
    if args.check:
        problems = check_warehouse(args.out)
        for problem in problems:
            print(f"  PROBLEM: {problem}")
        print("  check: " + ("failed" if problems else "ids unique, per-event tables match tracks"))
        if problems:
            sys.exit(1)


if __name__ == "__main__":
    main()
