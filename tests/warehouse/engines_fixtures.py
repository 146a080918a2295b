"""Fresh warehouses for tests: a new database on the real PostgreSQL server, or a new DuckDB file.

A plain module (not a conftest) so any warehouse test can import it: the context managers and
`fresh_duckdb` work anywhere, and `engine` / `engine_kind` are fixtures parametrised over both
engines for tests of behaviour they share (import them into the test module to use them).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from headwater.warehouse.engines.base import Engine
from headwater.warehouse.engines.duckdb import DuckDBEngine
from headwater.warehouse.engines.postgres import PostgresEngine

ENGINE_KINDS = ("duckdb", "postgres")
_ADMIN_DSNS = (
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql://root@127.0.0.1:5432/test",
    "postgresql://postgres@127.0.0.1:5432/postgres",
)
_admin: list[str] = []


def admin_dsn() -> str:
    """A DSN of the test server that may create databases (the first of the usual roles that works)."""
    if _admin:
        return _admin[0]
    failures = []
    for dsn in _ADMIN_DSNS:
        try:
            with psycopg.connect(dsn, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as error:
            failures.append(f"{dsn}: {error}")
            continue
        _admin.append(dsn)
        return dsn
    pytest.fail("no PostgreSQL at 127.0.0.1:5432 for the warehouse tests:\n" + "\n".join(failures))


def dsn_for(database: str) -> str:
    """The admin DSN pointed at another database of the same server."""
    base = admin_dsn()
    return base.rsplit("/", 1)[0] + "/" + database


@contextmanager
def fresh_postgres_dsn() -> Iterator[str]:
    """A DSN of a new, empty database, dropped (with FORCE) afterwards."""
    name = f"hw_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield dsn_for(name)
    finally:
        with psycopg.connect(admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh_duckdb(tmp_path: Path) -> Path:
    """A path for a new DuckDB file (its folder is created by the engine, as in production)."""
    return tmp_path / f"warehouse-{uuid.uuid4().hex[:8]}" / "headwater.duckdb"


@contextmanager
def fresh_engine(kind: str, tmp_path: Path, *, default_namespace: str | None = None) -> Iterator[Engine]:
    """An opened engine of `kind` on a fresh database, closed (and dropped) afterwards."""
    if kind == "duckdb":
        engine: Engine = DuckDBEngine(fresh_duckdb(tmp_path), default_namespace=default_namespace)
        engine.open()
        try:
            yield engine
        finally:
            engine.close()
        return
    with fresh_postgres_dsn() as dsn:
        engine = PostgresEngine(dsn, default_namespace=default_namespace)
        engine.open()
        try:
            yield engine
        finally:
            engine.close()


@pytest.fixture(params=ENGINE_KINDS)
def engine_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def engine(engine_kind: str, tmp_path: Path) -> Iterator[Engine]:
    """An opened engine on a fresh database, once per engine kind; default namespace `events`."""
    with fresh_engine(engine_kind, tmp_path, default_namespace="events") as opened:
        yield opened
