"""The loader: log records in, RudderStack tables out, each event exactly once.

One load is one warehouse transaction holding the batch's rows, its DDL, the messageIds it adds
to the dedup window, its failed events and the next log offset of every partition it covers. The
log consumer's own commit comes after and only feeds retention: on start the loader seeks to the
offsets the warehouse recorded, so a crash anywhere (while staging, inside the transaction, after
the commit) replays at most an uncommitted batch, which the warehouse never saw.

Failures are sorted by what they mean. A warehouse or stage that is down or refusing
(`WarehouseUnavailable`, `StagingError`) is retried with the same records and doubling pauses,
while the log keeps accepting. Data the engine refuses (`RowsRefused`) is split in halves, in log
order, until the events at fault are alone; each then goes to `_headwater.failed_events` with the
engine's reason, and the rest load normally. Splitting by prefix keeps every committed offset
exact. What a batch lets in (parsing, failed-event records, the messageId window) is intake.py.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from headwater.log.base import Consumer, EventLog
from headwater.logs import get_logger
from headwater.warehouse.batch import DISCARDS_COLUMNS, DISCARDS_TABLE, USERS_TABLE, BatchBuilder
from headwater.warehouse.bookkeeping import Bookkeeping, FailedEvent, LoadRecord
from headwater.warehouse.engines.base import Engine
from headwater.warehouse.errors import (
    EventRejected,
    RowsRefused,
    StagingError,
    WarehouseError,
    WarehouseUnavailable,
)
from headwater.warehouse.intake import (
    drop_duplicates,
    failed_event,
    iso_millis,
    parse_items,
    remember_ids,
)
from headwater.warehouse.model import AbstractType, SourceInfo
from headwater.warehouse.naming import Namer
from headwater.warehouse.outcomes import Item, LoaderStats, LoadOutcome, ReplayReport
from headwater.warehouse.settings import WarehouseSettings
from headwater.warehouse.staging import Stage, StagedFile
from headwater.warehouse.transform import Transformer

__all__ = ["CONSUMER_NAME", "Item", "LoadOutcome", "Loader", "LoaderStats", "ReplayReport"]

log = get_logger("headwater.warehouse.loader")

CONSUMER_NAME = "warehouse"
_POLL_PAUSE = 0.02
_EXPIRE_EVERY_LOADS = 200


def _pauses() -> dict[str, float]:
    """`HEADWATER_WAREHOUSE_PAUSE=stage:0.2,commit:0.2` holds the loader at those points.

    It exists for the crash tests, which must SIGKILL the loader while it is inside a staging upload
    or a warehouse commit, not merely somewhere; unset, it costs one dict lookup per point.
    """
    spec = os.environ.get("HEADWATER_WAREHOUSE_PAUSE", "")
    pauses: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        point, _, seconds = part.partition(":")
        pauses[point] = float(seconds or "0.1")
    return pauses


_PAUSES = _pauses()


def _pause(point: str) -> None:
    seconds = _PAUSES.get(point)
    if seconds:
        log.info("paused for a test", extra={"point": point, "seconds": seconds})
        time.sleep(seconds)


def _now_iso() -> str:
    return iso_millis(datetime.now(UTC))


class _Laps:
    """Adds the time since the previous lap to a named phase; a few perf_counter calls per load."""

    def __init__(self, totals: dict[str, float]) -> None:
        self._totals = totals
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self._totals[phase] = self._totals.get(phase, 0.0) + now - self._last
        self._last = now


class Loader:
    """Loads the log into one engine through one stage. Not thread-safe: one thread drives it.

    `lock` serialises the engine's writes with `replay`, which the query server calls from another
    thread while `headwater up` runs.
    """

    def __init__(
        self,
        settings: WarehouseSettings,
        engine: Engine,
        stage: Stage,
        event_log: EventLog,
        *,
        source_types: Callable[[str], str] | None = None,
        on_load: Callable[[LoadOutcome], None] | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.stage = stage
        self.log = event_log
        self.bookkeeping = Bookkeeping(engine)
        self.transformer = Transformer(
            Namer(
                identifier_limit=engine.identifier_limit,
                underscore_divide_numbers=settings.underscore_divide_numbers,
            ),
            max_columns=settings.max_columns_per_event,
            users_context_traits=settings.users_context_traits,
            skip_users_table=settings.skip_users_table,
            skip_tracks_table=settings.skip_tracks_table,
        )
        self.stats = LoaderStats()
        # Seconds spent per phase of a load, summed over the process's life (bench and profiling).
        # The loader thread's laps add up to its wall time; "stage" is the staging thread's own
        # time, which overlaps "insert" (the two run at once), so it is not part of that sum.
        self.phase_seconds: dict[str, float] = {}
        self.lock = threading.RLock()
        self._source_types = source_types or (lambda _source_id: "HTTP")
        self._sources: dict[str, SourceInfo] = {}
        self._schema: dict[str, dict[str, AbstractType]] = {}
        self._consumer: Consumer | None = None
        self._sequence = itertools.count(1)
        self._on_load = on_load
        self._loads_since_expiry = 0
        self._staging_thread: ThreadPoolExecutor | None = None

    # -- start-up ---------------------------------------------------------------------------------

    def start(self, stop: threading.Event | None = None) -> None:
        """Connect (retrying while the engine is down), create the bookkeeping, seek the log."""
        stop = stop or threading.Event()
        self._retrying(self._prepare, stop)
        self.stats.state = "running"

    def open_engine(self) -> None:
        """Connect and create the bookkeeping tables and the namespace; enough for `replay`."""
        with self.lock:
            self.engine.open()
            with self.engine.transaction():
                self.bookkeeping.ensure()
                self.engine.create_namespace(self.settings.namespace)
            self._refresh_schema()
            if DISCARDS_TABLE not in self._schema:
                # RudderStack puts rudder_discards in every upload, so SQL may name it before any conflict.
                with self.engine.transaction():
                    self.engine.create_table(self.settings.namespace, DISCARDS_TABLE, DISCARDS_COLUMNS)
                self._refresh_schema()

    def _prepare(self) -> None:
        self.open_engine()
        with self.lock:
            with self.engine.transaction():
                offsets = self.bookkeeping.offsets()
            consumer = self.log.consumer(CONSUMER_NAME)
            starts = self.log.start_offsets()
            for partition in self.log.partitions():
                start = starts.get(partition, 0)
                consumer.seek(partition, max(offsets.get(partition, start), start))
            for partition, offset in offsets.items():
                if partition not in starts:
                    consumer.seek(partition, offset)
            self._consumer = consumer
            if offsets:
                # The warehouse is the truth; a crash after its commit may have skipped this one.
                consumer.commit(offsets)
            self.stage.check()
            self._clear_stage()
            log.info(
                "loader ready",
                extra={
                    "engine": self.engine.kind,
                    "namespace": self.settings.namespace,
                    "stage": self.stage.describe(),
                    "resume": offsets,
                },
            )

    def _clear_stage(self) -> None:
        """Remove what earlier processes left in the stage: no load of theirs will ever use it.

        A load that never committed is retried under a new id, so its files are garbage; a load
        that committed but was killed before deleting its files is kept only if staged files are
        to be kept.
        """
        keep = self.settings.keep_staged_hours > 0
        for load_id in self.stage.loads():
            with self.engine.transaction():
                committed = self.bookkeeping.load_exists(load_id)
            if not (keep and committed):
                self.stage.delete_load(load_id)

    def _stager(self) -> ThreadPoolExecutor:
        if self._staging_thread is None:
            self._staging_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stage")
        return self._staging_thread

    def _stage_all(self, load_id: str, tables: dict[str, pa.Table]) -> list[StagedFile]:
        started = time.perf_counter()
        staged = []
        try:
            for table, data in tables.items():
                staged.append(self.stage.put(load_id, table, data))
                _pause("stage")
        finally:
            # Only this thread writes the "stage" key, so the loader's laps never race with it.
            spent = time.perf_counter() - started
            self.phase_seconds["stage"] = self.phase_seconds.get("stage", 0.0) + spent
        return staged

    def _refresh_schema(self) -> None:
        self._schema = self.engine.read_schema(self.settings.namespace)

    @property
    def consumer(self) -> Consumer:
        if self._consumer is None:
            raise WarehouseError("the loader has not been started")
        return self._consumer

    # -- the loop ---------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Load until `stop` is set; returns after finishing (or abandoning) the current batch."""
        if self._consumer is None:
            self.start(stop)
        while not stop.is_set():
            items = self.collect(stop)
            if items:
                self.load_items(items, stop)

    def collect(self, stop: threading.Event) -> list[Item]:
        """Poll until a full batch or until the interval has passed since the first record arrived."""
        limit = self.settings.batch_max_events
        items: list[Item] = []
        first_at: float | None = None
        while not stop.is_set():
            records = self.consumer.poll(min(limit - len(items), 5000))
            if records:
                if first_at is None:
                    first_at = time.monotonic()
                items.extend(Item(r.payload, r.source_id, r.partition, r.offset) for r in records)
                if len(items) >= limit:
                    break
            # Checked after every poll: under steady traffic polls rarely come back empty.
            if first_at is not None and time.monotonic() - first_at >= self.settings.batch_interval_seconds:
                break
            if not records:
                stop.wait(_POLL_PAUSE)
        return items

    def load_items(self, items: Sequence[Item], stop: threading.Event | None = None) -> list[LoadOutcome]:
        """Load log items, retrying while the warehouse is down and isolating refused events."""
        stop = stop or threading.Event()
        outcomes: list[LoadOutcome] = []
        pending: list[Sequence[Item]] = [items]
        while pending and not stop.is_set():
            chunk = pending.pop(0)
            try:
                outcomes.append(self._load_retrying(chunk, stop))
            except RowsRefused as refused:
                if len(chunk) == 1:
                    outcomes.append(self._load_retrying(chunk, stop, refused=str(refused)))
                else:
                    middle = len(chunk) // 2
                    pending[:0] = [chunk[:middle], chunk[middle:]]
        return outcomes

    def _load_retrying(
        self, chunk: Sequence[Item], stop: threading.Event, *, refused: str | None = None, kind: str = "log"
    ) -> LoadOutcome:
        outcome: LoadOutcome = self._retrying(lambda: self._load(chunk, refused=refused, kind=kind), stop)
        return outcome

    def _retrying(self, action: Callable[[], Any], stop: threading.Event) -> Any:
        pause = 0.2
        reopen = False
        while True:
            try:
                if reopen:
                    # Part of the attempt: a warehouse still down here is one more retry, not the end.
                    with self.lock:
                        self.engine.open()
                        self._refresh_schema()
                return action()
            except (WarehouseUnavailable, StagingError) as error:
                self.stats.retries += 1
                self.stats.state = "retrying"
                self.stats.last_error = f"{type(error).__name__}: {error}"
                self.stats.last_error_at = time.time()
                log.warning("load retry", extra={"error": str(error), "pause_seconds": round(pause, 2)})
                with self.lock:
                    self.engine.close()
                if stop.wait(pause):
                    raise
                pause = min(pause * 2, self.settings.retry_max_seconds)
                reopen = True

    # -- one load ---------------------------------------------------------------------------------

    def _source(self, source_id: str) -> SourceInfo:
        info = self._sources.get(source_id)
        if info is None:
            info = SourceInfo(
                source_id=source_id,
                source_type=self._source_types(source_id),
                destination_id=self.settings.destination_id,
                destination_type=self.engine.destination_type,
            )
            self._sources[source_id] = info
        return info

    def _new_load_id(self) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")[:-3]
        return f"{stamp}Z-{os.getpid()}-{next(self._sequence):06d}"

    def _load(self, items: Sequence[Item], *, refused: str | None = None, kind: str = "log") -> LoadOutcome:
        with self.lock:
            return self._load_locked(items, refused=refused, kind=kind)

    def _load_locked(self, items: Sequence[Item], *, refused: str | None, kind: str) -> LoadOutcome:
        began = time.perf_counter()
        started_at = _now_iso()
        load_id = self._new_load_id()
        offsets: dict[int, int] = {}
        for item in items:
            if item.partition is not None and item.offset is not None:
                offsets[item.partition] = max(offsets.get(item.partition, 0), item.offset + 1)

        window = self.settings.dedup_window_hours
        duplicates = 0
        staged: list[StagedFile] = []
        clock = _Laps(self.phase_seconds)
        with self.engine.transaction():
            if offsets:
                # A commit whose answer was lost (connection dropped) may have landed: what the
                # warehouse already holds is skipped, and its offsets never move backwards.
                done = self.bookkeeping.offsets()
                items = [
                    item
                    for item in items
                    if item.partition is None
                    or item.offset is None
                    or item.offset >= done.get(item.partition, 0)
                ]
                offsets = {p: max(o, done.get(p, 0)) for p, o in offsets.items()}
            events, failures = parse_items(items, refused)
            clock.lap("parse")
            if window > 0 and events:
                events, duplicates = drop_duplicates(self.engine, self.bookkeeping, events, window)
            clock.lap("dedup")
            uuid_ts = _now_iso()
            builder = BatchBuilder(self._schema, uuid_ts)
            loaded_ids: list[tuple[str, str]] = []
            replayed: list[FailedEvent] = []
            loaded = 0
            for item, event, message_id, received_at in events:
                try:
                    rows = self.transformer.rows(event, self._source(item.source_id))
                except EventRejected as rejected:
                    failures.append(failed_event(item, str(rejected), event))
                    continue
                builder.add(rows)
                loaded += 1
                if message_id is not None and received_at is not None:
                    loaded_ids.append((message_id, received_at))
                if item.replay_of is not None:
                    replayed.append(item.replay_of)
            clock.lap("transform")
            built = builder.build()
            clock.lap("arrow")
            self._check_column_limit(built.new_tables, built.new_columns)
            namespace = self.settings.namespace
            for table, columns in built.new_tables.items():
                self.engine.create_table(namespace, table, columns)
            for table, columns in built.new_columns.items():
                self.engine.add_columns(namespace, table, columns)
            clock.lap("ddl")
            # Staging runs on a thread while the engine inserts the same Arrow tables (both release
            # the GIL); the transaction commits only once every file is staged. The engine loads
            # from memory rather than reading back what it just wrote: the staged files are the
            # durable record a remote engine's COPY would read.
            uploads = self._stager().submit(self._stage_all, load_id, built.tables)
            for table, data in built.tables.items():
                if table == USERS_TABLE:
                    self.engine.register("hw_staged_users", data)
                    self.engine.merge_users(namespace, "hw_staged_users", data.column_names)
                else:
                    self.engine.append(namespace, table, data)
            clock.lap("insert")
            staged = uploads.result()
            clock.lap("stage_wait")
            if window > 0 and loaded_ids:
                remember_ids(self.engine, loaded_ids)
            committed_at = _now_iso()
            if failures and kind == "log":
                self.bookkeeping.record_failed(failures, load_id, committed_at)
            if replayed:
                self.bookkeeping.mark_replayed(replayed, load_id, committed_at)
            tables = {name: data.num_rows for name, data in built.tables.items()}
            self.bookkeeping.record_load(
                LoadRecord(
                    load_id=load_id,
                    kind=kind,
                    started_at=started_at,
                    committed_at=committed_at,
                    events=len(items),
                    duplicates=duplicates,
                    failed=len(failures),
                    row_count=built.rows,
                    discards=built.discards,
                    staged_files=len(staged),
                    staged_bytes=sum(s.size for s in staged),
                    tables=tables,
                    offsets=offsets,
                )
            )
            clock.lap("bookkeeping")
            _pause("commit")
        clock.lap("commit")
        _pause("committed")
        self._after_commit(built.schema_after(), offsets, load_id, kind)
        outcome = LoadOutcome(
            load_id=load_id,
            events=len(items),
            loaded=loaded,
            duplicates=duplicates,
            failed=len(failures),
            rows=built.rows,
            discards=built.discards,
            staged_files=len(staged),
            staged_bytes=sum(s.size for s in staged),
            seconds=time.perf_counter() - began,
            tables=tables,
            failures=failures,
        )
        self.stats.record(outcome)
        if self._on_load is not None:
            self._on_load(outcome)
        return outcome

    def _after_commit(
        self, changes: dict[str, dict[str, AbstractType]], offsets: dict[int, int], load_id: str, kind: str
    ) -> None:
        for table, columns in changes.items():
            self._schema.setdefault(table, {}).update(columns)
        if kind == "log" and offsets and self._consumer is not None:
            try:
                self._consumer.commit(offsets)
            except Exception as error:  # the warehouse holds the truth; retention just waits
                log.warning("consumer commit failed", extra={"error": str(error)})
        if self.settings.keep_staged_hours <= 0:
            try:
                self.stage.delete_load(load_id)
            except StagingError as error:
                log.warning("staged files not removed", extra={"load_id": load_id, "error": str(error)})
        self._loads_since_expiry += 1
        if self._loads_since_expiry >= _EXPIRE_EVERY_LOADS:
            self._loads_since_expiry = 0
            self.expire()

    def expire(self) -> None:
        """Drop messageIds past the dedup window and staged files past their keep time."""
        window = self.settings.dedup_window_hours
        try:
            if window > 0:
                cutoff = iso_millis(datetime.now(UTC) - timedelta(hours=window))
                with self.lock, self.engine.transaction():
                    self.bookkeeping.expire_ids(cutoff)
            # Loads that never committed (killed mid-load) are retried under a new id, so their files are
            # garbage; an hour is far longer than any load takes.
            self.stage.expire(max(self.settings.keep_staged_hours * 3600, 3600.0))
        except WarehouseError as error:
            log.warning("expiry skipped", extra={"error": str(error)})

    def _check_column_limit(
        self, new_tables: dict[str, dict[str, AbstractType]], new_columns: dict[str, dict[str, AbstractType]]
    ) -> None:
        limit = self.engine.column_limit
        for table, columns in new_tables.items():
            if len(columns) > limit:
                raise RowsRefused(f"table {table} would have {len(columns)} columns, more than {limit}")
        for table, columns in new_columns.items():
            total = len(self._schema.get(table, {})) + len(columns)
            if total > limit:
                raise RowsRefused(f"table {table} would have {total} columns, more than {limit}")

    # -- replay -----------------------------------------------------------------------------------

    def replay(
        self,
        *,
        reason: str | None = None,
        message_ids: Iterable[str] = (),
        limit: int | None = None,
        dry_run: bool = False,
    ) -> ReplayReport:
        """Load chosen failed events again; those that load are marked replayed, the rest stay."""
        with self.lock:
            with self.engine.transaction():
                chosen = self.bookkeeping.failed_events(reason=reason, message_ids=message_ids, limit=limit)
            if dry_run or not chosen:
                return ReplayReport(len(chosen), 0, [(f.message_id, f.reason) for f in chosen], None)
            items = [Item(f.payload, f.source_id, None, None, replay_of=f) for f in chosen]
            loaded = 0
            still: list[tuple[str | None, str]] = []
            last_id: str | None = None
            stop = threading.Event()
            queue: list[Sequence[Item]] = [items]
            while queue:
                chunk = queue.pop(0)
                try:
                    outcome = self._load_retrying(chunk, stop, kind="replay")
                except RowsRefused as refused:
                    if len(chunk) == 1:
                        first = chunk[0].replay_of
                        still.append((first.message_id if first else None, str(refused)))
                    else:
                        middle = len(chunk) // 2
                        queue[:0] = [chunk[:middle], chunk[middle:]]
                    continue
                last_id = outcome.load_id
                loaded += outcome.loaded
                still.extend((f.message_id, f.reason) for f in outcome.failures)
            return ReplayReport(len(chosen), loaded, still, last_id)
