"""Exactly once into the warehouse while the loader is SIGKILLed at its three dangerous instants.

A real `headwater up` takes sustained traffic while the test kills the warehouse process again and
again: right after a staged file was uploaded (the load half staged), inside the warehouse
transaction just before COMMIT, and just after the COMMIT before the log consumer's commit. The
loader is told (HEADWATER_WAREHOUSE_PAUSE) to hold still at those points and log that it does; the
test tails the log and kills it right then. Afterwards the warehouse must hold every acknowledged
event exactly once, client resends of acknowledged events must not be doubled, the recorded offsets
must be the log's end, and the loads that never committed must have left no trace except staged
files nobody counts.

The helpers (`Traffic`, `LogTail`, `Warehouse`) are shared with the PostgreSQL outage tests.
"""

from __future__ import annotations

import base64
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from headwater.log import open_log
from headwater.log.settings import LogSettings
from headwater.warehouse.client import WarehouseClient, socket_path
from headwater.warehouse.errors import WarehouseError
from headwater.warehouse.settings import S3Settings
from headwater.warehouse.staging import LocalStage, S3Stage, Stage
from tests.conftest import RunningHeadwater, start_headwater
from tests.warehouse.engines_fixtures import fresh_postgres_dsn
from tests.warehouse.s3server import S3Endpoint

pytestmark = pytest.mark.slow

EVENT_NAME = "Loader Crash Probe"
EVENT_TABLE = "loader_crash_probe"
PAUSED = "paused for a test"


# -- traffic ----------------------------------------------------------------------------------------


def probe_event(n: int) -> dict[str, Any]:
    return {
        "type": "track",
        "event": EVENT_NAME,
        "anonymousId": f"anon-{n % 97}",
        "userId": f"user-{n % 41}",
        "messageId": str(uuid.uuid4()),
        "properties": {"n": n, "pad": "p" * random.randint(0, 200), "price": n / 4},
        "context": {"library": {"name": "loader-crash-test", "version": "1"}},
        "originalTimestamp": "2026-11-24T10:00:00.000Z",
        "sentAt": "2026-11-24T10:00:00.100Z",
    }


@dataclass
class Traffic:
    """A client thread sending batches with unique messageIds, plus a few resends of acknowledged ones.

    `acked` holds every messageId whose request got a 200, `unanswered` those whose request got an
    error or no answer (they may or may not be stored), `resent` the acknowledged ids sent again in
    a new request that was acknowledged too (each is in the log twice, must be in the warehouse once).
    """

    url: str
    write_key: str
    batch_size: int = 25
    interval: float = 0.04
    resend_every: int = 40
    acked: set[str] = field(default_factory=set)
    unanswered: set[str] = field(default_factory=set)
    resent: list[str] = field(default_factory=list)
    statuses: Counter[int | str] = field(default_factory=Counter)
    # (monotonic time, HTTP status or exception name) of every request, to judge a window of time.
    answers: list[tuple[float, int | str]] = field(default_factory=list)
    _sent: list[dict[str, Any]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Traffic:
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            assert not self._thread.is_alive(), "the traffic thread did not stop"

    def answers_between(self, start: float, end: float) -> list[int | str]:
        return [answer for moment, answer in self.answers if start <= moment <= end]

    def _post(self, client: httpx.Client, events: list[dict[str, Any]]) -> bool:
        try:
            response = client.post("/v1/batch", content=orjson.dumps({"batch": events}))
            answer: int | str = response.status_code
        except httpx.HTTPError as error:
            answer = type(error).__name__
        self.statuses[answer] += 1
        self.answers.append((time.monotonic(), answer))
        return answer == 200

    def _run(self) -> None:
        key = base64.b64encode(f"{self.write_key}:".encode()).decode()
        headers = {"Authorization": f"Basic {key}", "Content-Type": "application/json"}
        n = 0
        requests = 0
        # A new connection per request, so the kernel spreads requests over both ingest workers
        # (and both log partitions) instead of pinning one keep-alive connection to one of them.
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=self.url, headers=headers, timeout=10.0, limits=limits) as client:
            while not self._stop.is_set():
                requests += 1
                if requests % self.resend_every == 0 and len(self._sent) > 10:
                    # A client that did not trust its 200 sends the same events again.
                    again = random.sample(self._sent[-500:], 3)
                    if self._post(client, again):
                        self.resent.extend(e["messageId"] for e in again)
                    continue
                events = [probe_event(n + i) for i in range(self.batch_size)]
                n += self.batch_size
                ids = [e["messageId"] for e in events]
                if self._post(client, events):
                    self.acked.update(ids)
                    self._sent.extend(events)
                else:
                    self.unanswered.update(ids)
                self._stop.wait(self.interval)


# -- the up log -------------------------------------------------------------------------------------


class LogTail:
    """Reads the JSON lines `headwater up` (and every child) appended since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def lines(self) -> list[dict[str, Any]]:
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        self._offset += len(chunk)
        data = self._partial + chunk
        complete, _, self._partial = data.rpartition(b"\n")
        parsed = []
        for raw in complete.split(b"\n"):
            if raw.startswith(b"{"):
                try:
                    entry = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(entry, dict):
                    parsed.append(entry)
        return parsed


def logged_at(entry: dict[str, Any]) -> float:
    """The epoch seconds of a log line's `ts` (UTC, millisecond precision)."""
    return datetime.fromisoformat(str(entry["ts"]).replace("Z", "+00:00")).timestamp()


# -- the warehouse process --------------------------------------------------------------------------


class Warehouse:
    """The warehouse process of one `headwater up`: its pid, its socket API, the log it loads."""

    def __init__(self, running: RunningHeadwater) -> None:
        self.running = running
        self.pid_file = running.data_dir / "run" / "warehouse.pid"
        self.client = WarehouseClient(socket_path(running.data_dir), timeout=30.0)

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None

    def wait_new_pid(self, old: int | None, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.pid()
            if pid is not None and pid != old:
                return pid
            time.sleep(0.02)
        raise AssertionError(f"the warehouse process {old} was not restarted:\n{self.log_tail()}")

    def log_tail(self) -> str:
        return self.running.log_path.read_text(errors="replace")[-6000:]

    def query(self, sql: str, timeout: float = 30.0) -> list[tuple[Any, ...]]:
        """Rows of read-only SQL through the socket, waiting out a restarting warehouse process."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._require_listening()
                return self.client.query(sql).rows
            except (httpx.HTTPError, OSError, WarehouseError) as error:
                if time.monotonic() > deadline:
                    raise AssertionError(f"query {sql!r} kept failing: {error}\n{self.log_tail()}") from error
                time.sleep(0.2)

    def _require_listening(self) -> None:
        """Raise OSError unless the socket accepts connections.

        httpx's Unix-socket connect does not close its socket when the connect is refused (httpcore
        1.0.9), which pytest reports as an unraisable ResourceWarning; a restarting warehouse
        process leaves exactly that stale socket file, so look with a socket we close ourselves.
        """
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(2.0)
            probe.connect(str(self.client.path))

    def cli(self, *args: str) -> str:
        """Run the `headwater` CLI against this node's config; its stdout."""
        result = subprocess.run(
            [sys.executable, "-m", "headwater", *args, "--config", str(self.running.config_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"headwater {' '.join(args)}: {result.stdout}{result.stderr}"
        return result.stdout

    def status(self) -> dict[str, Any]:
        report = orjson.loads(self.cli("status", "--json"))
        assert isinstance(report, dict)
        return report

    def log_ends(self) -> dict[int, int]:
        event_log = open_log(LogSettings(directory=self.running.data_dir / "log"))
        try:
            return {p: end for p, end in event_log.end_offsets().items() if end > 0}
        finally:
            event_log.close()

    def log_message_ids(self) -> list[str]:
        """Every stored event's messageId, in the log's order (a resend appears twice)."""
        ids = []
        for record in self.running.records():
            event = orjson.loads(record.payload)
            if event.get("event") == EVENT_NAME:
                ids.append(event["messageId"])
        return ids

    def offsets(self) -> dict[int, int]:
        rows = self.query("SELECT log_partition, next_offset FROM _headwater.offsets")
        return {int(p): int(o) for p, o in rows}

    def wait_caught_up(self, timeout: float = 90.0) -> dict[int, int]:
        """Wait until the warehouse's recorded offsets are the log's end offsets; return them."""
        deadline = time.monotonic() + timeout
        ends = self.log_ends()
        while True:
            offsets = self.offsets()
            if offsets == ends:
                return offsets
            if time.monotonic() > deadline:
                raise AssertionError(f"not caught up: warehouse {offsets}, log {ends}\n{self.log_tail()}")
            time.sleep(0.3)

    def wait_consumer_caught_up(self, timeout: float = 15.0) -> dict[str, Any]:
        """`headwater status --json` once the log consumer (committed after the warehouse) is at the end."""
        deadline = time.monotonic() + timeout
        while True:
            report: dict[str, Any] = self.status()["warehouse"]
            if report is not None and report["lag_total"] == 0:
                return report
            assert time.monotonic() < deadline, f"status still shows lag: {report}"
            time.sleep(0.3)

    def assert_exactly_once(
        self, traffic: Traffic, *, tables: Iterable[str] = ("tracks", EVENT_TABLE)
    ) -> dict[str, int]:
        """The warehouse holds each distinct logged messageId once and nothing else; returns figures.

        Every acknowledged id is in the log (the collect stage's promise), so this also proves every
        acknowledged id is loaded exactly once; an id the client never got an answer for may be there.
        """
        logged = self.log_message_ids()
        distinct = set(logged)
        assert traffic.acked <= distinct, f"{len(traffic.acked - distinct)} acknowledged ids not in the log"
        assert distinct <= traffic.acked | traffic.unanswered, "the log holds ids nobody sent"
        for table in tables:
            ids = [row[0] for row in self.query(f"SELECT id FROM {table}", timeout=60)]
            assert len(ids) == len(set(ids)), f"{table}: {len(ids) - len(set(ids))} ids loaded twice"
            missing = traffic.acked - set(ids)
            assert not missing, f"{table}: {len(missing)} of {len(traffic.acked)} acknowledged ids missing"
            assert set(ids) == distinct, f"{table}: loaded ids differ from the log's distinct ids"
        # The same through the CLI a person would use.
        counted = orjson.loads(
            self.cli("query", "SELECT count(*) AS n, count(DISTINCT id) AS d FROM tracks", "--format", "json")
        )
        assert counted == [{"n": len(distinct), "d": len(distinct)}]
        resent_counts = self.query(
            "SELECT count(*), count(DISTINCT id) FROM tracks WHERE id IN ("
            + ", ".join(f"'{m}'" for m in sorted(set(traffic.resent)) or ["-"])
            + ")"
        )
        assert resent_counts == [(len(set(traffic.resent)), len(set(traffic.resent)))]
        assert self.query("SELECT count(*) FROM _headwater.failed_events") == [(0,)]
        # Only committed loads count, each log record in exactly one of them.
        events, duplicates, failed = self.query(
            "SELECT sum(events), sum(duplicates), sum(failed) FROM _headwater.loads WHERE kind = 'log'"
        )[0]
        assert (int(events), int(duplicates), int(failed)) == (len(logged), len(logged) - len(distinct), 0)
        return {"logged": len(logged), "loaded": len(distinct), "duplicates": int(duplicates)}

    def committed_loads(self) -> set[str]:
        return {str(row[0]) for row in self.query("SELECT load_id FROM _headwater.loads")}


def load_pid(load_id: str) -> int:
    """The pid of the process that ran a load (`<stamp>Z-<pid>-<seq>`)."""
    return int(load_id.split("-")[1])


def check_staged_leftovers(
    stage: Stage, committed: set[str], killed_at: dict[str, list[int]]
) -> dict[str, int]:
    """Staged files left behind are only those a kill explains, and no committed load counts them.

    A kill after a staged upload or inside the transaction leaves that load's files (at most one
    uncommitted load per killed process); a kill between the COMMIT and the deletion leaves the
    files of that process's last committed load. A late kill (key "late") may have done either.
    Every other load's files are gone.
    """
    leftovers = set(stage.loads())
    uncommitted = leftovers - committed
    late = set(killed_at.get("late", []))
    pids_mid_load = set(killed_at.get("stage", [])) | set(killed_at.get("commit", [])) | late
    by_pid = Counter(load_pid(load_id) for load_id in uncommitted)
    assert set(by_pid) <= pids_mid_load, f"uncommitted staged loads of processes not killed: {by_pid}"
    assert all(count == 1 for count in by_pid.values()), by_pid
    last_committed: dict[int, str] = {}
    for load_id in committed:
        pid = load_pid(load_id)
        last_committed[pid] = max(last_committed.get(pid, ""), load_id)
    after_commit = set(killed_at.get("committed", [])) | late
    explained = {last_committed[pid] for pid in after_commit if pid in last_committed}
    committed_left = leftovers & committed
    assert committed_left <= explained, (
        f"committed loads whose staged files remain: {committed_left - explained}"
    )
    return {"orphans": len(uncommitted), "committed_left": len(committed_left)}


# -- the test ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    engine: str
    staging: str
    points: tuple[str, ...]
    kills_per_point: int
    pause: float = 0.15


CASES = [
    pytest.param(Case("duckdb", "s3", ("stage", "commit", "committed"), 7), id="duckdb-s3-all-points"),
    pytest.param(Case("postgres", "local", ("commit",), 6), id="postgres-local-commit"),
]


def warehouse_settings(case: Case, dsn: str, s3: S3Settings | None) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "engine": case.engine,
        "batch_interval_seconds": 0.2,
        "batch_max_events": 2000,
        "retry_max_seconds": 1.0,
        "staging": case.staging,
    }
    if case.engine == "postgres":
        settings["postgres_dsn"] = dsn
    if s3 is not None:
        settings.update(
            s3_endpoint=s3.endpoint,
            s3_bucket=s3.bucket,
            s3_prefix=s3.prefix,
            s3_region=s3.region,
            s3_access_key_id=s3.access_key_id,
            s3_secret_access_key=s3.secret_access_key,
        )
    return settings


def kill_at_points(
    warehouse: Warehouse, tail: LogTail, case: Case
) -> tuple[Counter[str], dict[str, list[int]]]:
    """SIGKILL the warehouse process while it is paused at each point until every point has its kills.

    A kill counts for its point only if it landed inside the pause (judged from the log line's time);
    later ones still happen but are counted apart. The supervisor backs off after four deaths in a
    row of processes younger than two seconds, so every fourth kill waits for an older process.
    """
    timely: Counter[str] = Counter()
    killed_at: dict[str, list[int]] = {point: [] for point in (*case.points, "late")}
    quick_streak = 0
    pid = warehouse.wait_new_pid(None)
    born = time.monotonic()
    deadline = time.monotonic() + 40 * case.kills_per_point * len(case.points)
    while min(timely[p] for p in case.points) < case.kills_per_point:
        assert time.monotonic() < deadline, f"kills so far {dict(timely)}:\n{warehouse.log_tail()}"
        target = min(case.points, key=lambda p: timely[p])
        victim = None
        while victim is None:
            assert time.monotonic() < deadline, f"no pause at {target}:\n{warehouse.log_tail()}"
            for entry in tail.lines():
                if entry.get("msg") != PAUSED or entry.get("pid") != pid or entry.get("point") != target:
                    continue
                if quick_streak >= 3 and time.monotonic() - born < 2.1:
                    continue
                if time.time() - logged_at(entry) > case.pause / 2:
                    continue  # read too late (a backlog): this pause is nearly over
                os.kill(pid, signal.SIGKILL)
                lateness = time.time() - logged_at(entry)
                victim = pid
                break
            else:
                time.sleep(0.005)
        if lateness < case.pause * 0.8:
            timely[target] += 1
            killed_at[target].append(victim)
        else:
            killed_at["late"].append(victim)
        quick_streak = quick_streak + 1 if time.monotonic() - born < 2.0 else 0
        pid = warehouse.wait_new_pid(victim)
        born = time.monotonic()
    return timely, killed_at


@pytest.mark.parametrize("case", CASES)
def test_sigkilled_loader_loads_each_acknowledged_event_once(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    s3: S3Settings | None = None
    if case.staging == "s3":
        endpoint: S3Endpoint = request.getfixturevalue("s3_server")
        s3 = endpoint.settings(prefix=f"crash-{uuid.uuid4().hex[:10]}")
    pause = ",".join(f"{point}:{case.pause}" for point in case.points)
    monkeypatch.setenv("HEADWATER_WAREHOUSE_PAUSE", pause)
    with fresh_postgres_dsn() if case.engine == "postgres" else nullcontext("") as dsn:
        settings = warehouse_settings(case, dsn, s3)
        running = start_headwater(tmp_path / "node", workers=2, extra={"warehouse": settings})
        warehouse = Warehouse(running)
        tail = LogTail(running.log_path)
        traffic = Traffic(running.url, running.write_key).start()
        try:
            timely, killed_at = kill_at_points(warehouse, tail, case)
            time.sleep(1.0)  # traffic goes on into a loader that is not killed any more
            traffic.stop()
            offsets = warehouse.wait_caught_up()
            figures = warehouse.assert_exactly_once(traffic)
            assert offsets == warehouse.log_ends()
            stage: Stage = S3Stage(s3) if s3 is not None else LocalStage(running.data_dir / "staging")
            staged = check_staged_leftovers(stage, warehouse.committed_loads(), killed_at)
            status = warehouse.wait_consumer_caught_up()
        finally:
            traffic.stop()
            code = running.stop()
        assert code == 0, warehouse.log_tail()
    assert len(traffic.acked) > 3000, "too little traffic was acknowledged for the test to mean anything"
    assert traffic.resent, "no acknowledged event was resent"
    assert status["loader"]["failed"] == 0
    kills = sum(timely.values())
    assert all(timely[p] >= 5 for p in case.points), timely
    if len(case.points) == 3:
        assert kills >= 20
    partitions = len(offsets)
    print(
        f"\nloader crash ({case.engine}, {case.staging} staging): {kills} timely SIGKILLs "
        f"({', '.join(f'{p} {timely[p]}' for p in case.points)}; {len(killed_at['late'])} late), "
        f"{len(traffic.acked)} acknowledged + {len(set(traffic.resent))} resent, "
        f"{figures['logged']} in the log ({partitions} partitions), {figures['loaded']} loaded once, "
        f"{figures['duplicates']} duplicates dropped, {len(traffic.unanswered)} unanswered, "
        f"staged leftovers: {staged['orphans']} uncommitted, {staged['committed_left']} committed; "
        f"{status['loader']['loads']} loads by the last process"
    )
