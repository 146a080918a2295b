"""The warehouse goes away under load and comes back: nothing acknowledged is lost or doubled.

PostgreSQL here is a private cluster (see `pgcluster.py`) that the tests stop and start; the
machine's shared server is never touched. While it is down, or refusing the loader's writes, the
data plane keeps answering 200, the loader retries in place (same process, no failed events) and
reports why in `headwater status`, and once the warehouse is back everything lands exactly once.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import RunningHeadwater, start_headwater
from tests.warehouse.pgcluster import PgCluster, PgClusterUnavailable
from tests.warehouse.test_loader_crash import PAUSED, LogTail, Traffic, Warehouse, logged_at

pytestmark = pytest.mark.slow

# How long the loader holds inside its transaction before COMMIT: time enough to stop the server.
COMMIT_PAUSE = 0.8


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    try:
        with PgCluster() as pg:
            yield pg
    except PgClusterUnavailable as error:
        pytest.skip(str(error))


def start_node(directory: Path, dsn: str) -> RunningHeadwater:
    settings: dict[str, Any] = {
        "engine": "postgres",
        "postgres_dsn": dsn,
        "batch_interval_seconds": 0.2,
        "batch_max_events": 2000,
        # Short backoff so the loader notices the server is back within a second.
        "retry_max_seconds": 1.0,
    }
    return start_headwater(directory, workers=2, extra={"warehouse": settings})


def wait_for_loads(warehouse: Warehouse, events: int = 500, timeout: float = 30.0) -> None:
    """Wait until the loader has committed at least `events` records."""
    deadline = time.monotonic() + timeout
    while sum(warehouse.offsets().values()) < events:
        assert time.monotonic() < deadline, warehouse.log_tail()
        time.sleep(0.2)


def wait_for_status(warehouse: Warehouse, error_text: str, timeout: float = 20.0) -> dict[str, Any]:
    """`headwater status --json` once the loader reports retrying with `error_text` in its last error."""
    deadline = time.monotonic() + timeout
    while True:
        report: dict[str, Any] = warehouse.status()["warehouse"]
        assert report is not None, "the warehouse process stopped answering"
        loader = report["loader"]
        last_error = loader["last_error"]
        if loader["state"] == "retrying" and last_error and error_text in last_error:
            return report
        assert time.monotonic() < deadline, f"loader never reported {error_text!r}: {report}"
        time.sleep(0.3)


def all_ok(answers: list[int | str]) -> bool:
    return bool(answers) and all(answer == 200 for answer in answers)


def test_postgres_stopped_mid_load_loses_and_doubles_nothing(
    cluster: PgCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Held inside the transaction long enough to stop the server before the COMMIT is sent.
    monkeypatch.setenv("HEADWATER_WAREHOUSE_PAUSE", f"commit:{COMMIT_PAUSE}")
    running = start_node(tmp_path / "node", cluster.create_database())
    warehouse = Warehouse(running)
    tail = LogTail(running.log_path)
    traffic = Traffic(running.url, running.write_key).start()
    try:
        pid = warehouse.wait_new_pid(None)
        wait_for_loads(warehouse)

        # Outage 1: an immediate stop (a crash) while a load's transaction is open.
        cut = None
        deadline = time.monotonic() + 20
        while cut is None:
            assert time.monotonic() < deadline, warehouse.log_tail()
            for entry in tail.lines():
                if (
                    entry.get("msg") == PAUSED
                    and entry.get("point") == "commit"
                    and entry.get("pid") == pid
                    and time.time() - logged_at(entry) < 0.2  # not an earlier load's pause
                ):
                    cluster.stop("immediate")
                    stopped_within = time.time() - logged_at(entry)
                    cut = entry
                    break
            else:
                time.sleep(0.005)
        down = time.monotonic()
        report = wait_for_status(warehouse, "")
        assert report["lag_total"] > 0
        down_error = report["loader"]["last_error"]
        time.sleep(max(0.0, down + 5.0 - time.monotonic()))
        cluster.start()
        up = time.monotonic()
        first_outage = traffic.answers_between(down, up)
        # The load held at COMMIT failed and was retried, never committed as it stood.
        following = [
            e for e in tail.lines() if e.get("pid") == pid and e.get("logger", "").endswith("loader")
        ]
        assert following and following[0]["msg"] == "load retry", following[:3]
        cut_error = str(following[0]["error"])
        # Not a new load that found the server gone: the COMMIT itself lost its connection.
        assert stopped_within < COMMIT_PAUSE, (
            f"the server went down {stopped_within:.2f}s after the pause began: after the COMMIT"
        )
        assert "cannot connect" not in cut_error, cut_error

        # Outage 2: a fast stop (clients disconnected) at an arbitrary moment, shorter.
        wait_for_loads(warehouse, sum(warehouse.offsets().values()) + 500)
        time.sleep(random.uniform(0.0, 0.8))
        cluster.stop("fast")
        down2 = time.monotonic()
        time.sleep(3.0)
        cluster.start()
        second_outage = traffic.answers_between(down2, time.monotonic())

        time.sleep(1.0)
        traffic.stop()
        offsets = warehouse.wait_caught_up()
        figures = warehouse.assert_exactly_once(traffic)
        assert offsets == warehouse.log_ends()
        status = warehouse.status()["warehouse"]
        assert warehouse.pid() == pid, "the warehouse process died instead of retrying"
    finally:
        traffic.stop()
        code = running.stop()
    assert code == 0, warehouse.log_tail()
    assert all_ok(first_outage), f"the data plane failed while PostgreSQL was down: {first_outage}"
    assert all_ok(second_outage), f"the data plane failed while PostgreSQL was down: {second_outage}"
    assert not traffic.unanswered
    assert status["loader"]["failed"] == 0 and status["loader"]["retries"] >= 2
    print(
        f"\npostgres outage: stopped at a COMMIT ({len(first_outage)} requests answered 200 in "
        f"{up - down:.1f}s down) and once more ({len(second_outage)} answered 200); "
        f"{len(traffic.acked)} acknowledged + {len(set(traffic.resent))} resent, {figures['loaded']} loaded "
        f"once, {figures['duplicates']} duplicates dropped, {status['loader']['retries']} retries, "
        f"the held COMMIT failed with {cut_error[:70]!r}, status while down: {down_error[:70]!r}"
    )


def test_refused_writes_are_retried_until_granted(
    cluster: PgCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HEADWATER_WAREHOUSE_PAUSE", raising=False)
    role = f"hw_loader_{uuid.uuid4().hex[:8]}"
    admin = cluster.create_database()
    database = admin.rsplit("/", 1)[1]
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'GRANT CONNECT, CREATE ON DATABASE "{database}" TO "{role}"')
    # The loader runs as a plain role: it creates (and owns) its schemas and tables.
    running = start_node(tmp_path / "node", cluster.dsn_for(database, role))
    warehouse = Warehouse(running)
    traffic = Traffic(running.url, running.write_key).start()
    try:
        pid = warehouse.wait_new_pid(None)
        wait_for_loads(warehouse)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'REVOKE INSERT ON ALL TABLES IN SCHEMA events FROM "{role}"')
        refused_at = time.monotonic()
        report = wait_for_status(warehouse, "permission denied")
        stuck = sum(warehouse.offsets().values())
        time.sleep(3.0)
        assert sum(warehouse.offsets().values()) == stuck, "a load committed while INSERT was revoked"
        assert warehouse.query("SELECT count(*) FROM _headwater.failed_events") == [(0,)]
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'GRANT INSERT ON ALL TABLES IN SCHEMA events TO "{role}"')
        while_refused = traffic.answers_between(refused_at, time.monotonic())
        time.sleep(1.0)
        traffic.stop()
        warehouse.wait_caught_up()
        figures = warehouse.assert_exactly_once(traffic)
        status = warehouse.status()["warehouse"]
        assert warehouse.pid() == pid, "the warehouse process died instead of retrying"
    finally:
        traffic.stop()
        code = running.stop()
    assert code == 0, warehouse.log_tail()
    assert all_ok(while_refused), f"the data plane failed while writes were refused: {while_refused}"
    assert report["lag_total"] > 0
    assert status["loader"]["failed"] == 0 and status["loader"]["state"] == "running"
    print(
        f"\npostgres refusing: INSERT revoked for {len(while_refused)} requests answered 200, loader "
        f"retried ({report['loader']['last_error'][:80]!r}); after GRANT {figures['loaded']} loaded once, "
        f"{figures['duplicates']} duplicates dropped, nothing failed"
    )
