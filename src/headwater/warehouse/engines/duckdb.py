"""The embedded warehouse: one DuckDB file, written by the loader, read by the query endpoint.

DuckDB lets one process hold a file read-write, so the loader's process owns it: the loader
uses the main connection from its thread, and `query` (called from the HTTP query server's
threads) takes a fresh cursor per call, which is its own connection to the same database and
reads a consistent snapshot while the loader's transaction is open.

The database is opened with external access off: a person's query cannot read or write files on
the host, attach other databases or install extensions, and the loader never needs to, since it
hands rows over as Arrow tables.

Types follow the PostgreSQL profile (contract §3.3): int BIGINT, float DOUBLE, string VARCHAR,
boolean BOOLEAN, datetime TIMESTAMPTZ, json JSON. Sessions run in UTC.

Errors:
- `WarehouseUnavailable` (retry): IO (disk full, the file locked by another process), out of
  memory, interrupted, transaction conflicts, permission, a fatal error (the database is reopened
  at the next transaction), and anything not listed below (a retry loses nothing).
- `RowsRefused` (the data): conversion (a value that does not fit its column, malformed JSON),
  constraint, out of range, type mismatch, invalid input, and a table past `column_limit`
  columns, which DuckDB itself would allow but PostgreSQL refuses: both engines refuse alike.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Final, TypeVar

import duckdb
import pyarrow as pa

from headwater.warehouse.engines.base import QueryResult
from headwater.warehouse.engines.render import (
    QueryError,
    check_read_only,
    quote_ident,
    quote_literal,
    render,
    users_merge_statements,
)
from headwater.warehouse.errors import RowsRefused, WarehouseError, WarehouseUnavailable
from headwater.warehouse.model import AbstractType

__all__ = ["DUCKDB_TYPES", "DuckDBEngine"]

_Result = TypeVar("_Result")

DUCKDB_TYPES: Final[dict[AbstractType, str]] = {
    "int": "BIGINT",
    "float": "DOUBLE",
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "datetime": "TIMESTAMPTZ",
    "json": "JSON",
}
_INT_TYPES = frozenset(
    {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT"}
)
_FLOAT_TYPES = frozenset({"DOUBLE", "FLOAT", "REAL"})

_UNAVAILABLE: tuple[type[duckdb.Error], ...] = (
    duckdb.IOException,
    duckdb.OutOfMemoryException,
    duckdb.ConnectionException,
    duckdb.TransactionException,
    duckdb.InterruptException,
    duckdb.PermissionException,
    duckdb.HTTPException,
    duckdb.FatalException,
)
# What fails a person's query because of the warehouse rather than the query itself.
_QUERY_UNAVAILABLE: tuple[type[duckdb.Error], ...] = (
    duckdb.IOException,
    duckdb.OutOfMemoryException,
    duckdb.ConnectionException,
    duckdb.FatalException,
)
_REFUSED: tuple[type[duckdb.Error], ...] = (
    duckdb.ConversionException,
    duckdb.ConstraintException,
    duckdb.OutOfRangeException,
    duckdb.TypeMismatchException,
    duckdb.InvalidInputException,
    duckdb.DataError,
    duckdb.IntegrityError,
)


def abstract_type(duckdb_type: str) -> AbstractType:
    """The abstract type a DuckDB column type reads back as; unknown types are treated as strings."""
    name = duckdb_type.upper()
    if name in _INT_TYPES:
        return "int"
    if name in _FLOAT_TYPES or name.startswith("DECIMAL"):
        return "float"
    if name == "BOOLEAN":
        return "boolean"
    if name.startswith("TIMESTAMP") or name == "DATE":
        return "datetime"
    if name == "JSON":
        return "json"
    return "string"


class DuckDBEngine:
    """A DuckDB file as the warehouse (see the module docstring for threads and errors)."""

    kind = "duckdb"
    dialect = "duckdb"
    destination_type = "DUCKDB"
    identifier_limit = 63
    column_limit = 1600

    def __init__(
        self,
        path: Path,
        *,
        read_only: bool = False,
        default_namespace: str | None = None,
        memory_limit: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        # DuckDB's default buffer pool is 80% of RAM and keeps what it read cached; a loader that
        # runs for weeks beside other stages needs a cap it does not grow past.
        self.memory_limit = memory_limit
        self.default_namespace = default_namespace
        self._conn: duckdb.DuckDBPyConnection | None = None
        # Cursors for `query` are spawned from this one, never from the loader's connection object.
        self._query_root: duckdb.DuckDBPyConnection | None = None
        self._query_lock = threading.Lock()
        self._in_transaction = False
        self._registered: list[str] = []
        self._broken = False

    # --- lifecycle ---------------------------------------------------------------------------

    def open(self) -> None:
        if self._conn is not None:
            return
        try:
            if not self.read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            config: dict[str, str | bool | int | float | list[str]] = {"enable_external_access": False}
            if self.memory_limit:
                config["memory_limit"] = f"{max(1, self.memory_limit // (1024 * 1024))}MiB"
            conn = duckdb.connect(str(self.path), read_only=self.read_only, config=config)
        except OSError as error:
            raise WarehouseUnavailable(f"cannot create {self.path.parent}: {error}") from error
        except duckdb.Error as error:
            raise _classify(error, f"cannot open {self.path}") from error
        try:
            conn.execute("SET TimeZone = 'UTC'")
            root = conn.cursor()
        except duckdb.Error as error:
            conn.close()
            raise _classify(error, f"cannot open {self.path}") from error
        self._conn, self._query_root, self._broken = conn, root, False

    def close(self) -> None:
        with self._query_lock:
            conn, root = self._conn, self._query_root
            self._conn = self._query_root = None
        self._registered.clear()
        for each in (root, conn):
            if each is not None:
                with suppress(duckdb.Error):
                    each.close()

    def sql(self, statement: str) -> str:
        return render(statement, self.dialect)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._in_transaction:
            raise RuntimeError("transactions do not nest")
        if self.read_only:
            raise WarehouseError(f"{self.path} is open read-only; it cannot take writes")
        if self._broken:
            self.close()
        self.open()
        conn = self._connection()
        try:
            conn.begin()
        except duckdb.Error as error:
            raise self._classify(error) from error
        self._in_transaction = True
        try:
            yield
            try:
                conn.commit()
            except duckdb.Error as error:
                raise self._classify(error) from error
        except BaseException:
            with suppress(duckdb.Error):  # already rolled back by the failure, or the database is gone
                conn.rollback()
            raise
        finally:
            self._in_transaction = False
            self._unregister(conn)

    # --- statements --------------------------------------------------------------------------

    def execute(self, statement: str, params: Mapping[str, Any] | None = None) -> None:
        self._run(statement, params)

    def fetch(self, statement: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        conn = self._run(statement, params)
        try:
            return conn.fetchall()
        except duckdb.Error as error:
            raise self._classify(error) from error

    def _run(self, statement: str, params: Mapping[str, Any] | None) -> duckdb.DuckDBPyConnection:
        conn = self._connection()
        try:
            if params is None:
                conn.execute(statement)
            else:
                conn.execute(statement, dict(params))
        except duckdb.Error as error:
            raise self._classify(error) from error
        return conn

    # --- schema ------------------------------------------------------------------------------

    def read_schema(self, namespace: str) -> dict[str, dict[str, AbstractType]]:
        rows = self.fetch(
            "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns AS c "
            "JOIN information_schema.tables AS t ON t.table_catalog = c.table_catalog "
            "AND t.table_schema = c.table_schema AND t.table_name = c.table_name "
            "WHERE c.table_catalog = current_database() AND c.table_schema = $namespace "
            "AND t.table_type = 'BASE TABLE' ORDER BY c.table_name, c.ordinal_position",
            {"namespace": namespace},
        )
        schema: dict[str, dict[str, AbstractType]] = {}
        for table, column, data_type in rows:
            schema.setdefault(table, {})[column] = abstract_type(data_type)
        return schema

    def create_namespace(self, namespace: str) -> None:
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(namespace)}")

    def create_table(self, namespace: str, table: str, columns: Mapping[str, AbstractType]) -> None:
        if not columns:
            raise ValueError(f"table {table!r} needs at least one column")
        self._check_column_count(table, len(columns))
        listed = ", ".join(f"{quote_ident(name)} {DUCKDB_TYPES[kind]}" for name, kind in columns.items())
        self.execute(f"CREATE TABLE IF NOT EXISTS {_qualified(namespace, table)} ({listed})")

    def add_columns(self, namespace: str, table: str, columns: Mapping[str, AbstractType]) -> None:
        if not columns:
            return
        existing = self.fetch(
            "SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = $namespace AND table_name = $table",
            {"namespace": namespace, "table": table},
        )
        self._check_column_count(table, int(existing[0][0]) + len(columns))
        target = _qualified(namespace, table)
        for name, kind in columns.items():
            column = f"{quote_ident(name)} {DUCKDB_TYPES[kind]}"
            self.execute(f"ALTER TABLE {target} ADD COLUMN IF NOT EXISTS {column}")

    def _check_column_count(self, table: str, count: int) -> None:
        if count > self.column_limit:
            raise RowsRefused(
                f"table {table!r} would have {count} columns; "
                f"tables can have at most {self.column_limit} columns"
            )

    # --- data --------------------------------------------------------------------------------

    def append(self, namespace: str, table: str, data: pa.Table) -> None:
        if data.num_rows == 0:
            return
        conn = self._connection()
        view = f"_hw_append_{uuid.uuid4().hex}"
        listed = ", ".join(quote_ident(name) for name in data.column_names)
        try:
            conn.register(view, data)
            self._registered.append(view)
            conn.execute(f"INSERT INTO {_qualified(namespace, table)} ({listed}) SELECT {listed} FROM {view}")
        except duckdb.Error as error:
            raise self._classify(error) from error
        finally:
            self._unregister(conn)

    def register(self, name: str, data: pa.Table) -> None:
        if not self._in_transaction:
            raise RuntimeError("register needs an open transaction: the table lives until it ends")
        conn = self._connection()
        try:
            conn.register(name, data)  # a second registration of a name replaces the first
        except duckdb.Error as error:
            raise self._classify(error) from error
        if name not in self._registered:
            self._registered.append(name)

    def _unregister(self, conn: duckdb.DuckDBPyConnection) -> None:
        """Drop registered Arrow views that no open transaction needs (an aborted one keeps them)."""
        if self._in_transaction:
            names = [name for name in self._registered if name.startswith("_hw_append_")]
        else:
            names = list(self._registered)
        for name in names:
            try:
                conn.unregister(name)
            except duckdb.Error:
                continue  # the transaction is aborted: retried when it ends
            self._registered.remove(name)

    def merge_users(self, namespace: str, staged: str, columns: Sequence[str]) -> None:
        types = {
            str(name): str(data_type)
            for name, data_type in self.fetch(
                "SELECT column_name, data_type FROM duckdb_columns() "
                "WHERE database_name = current_database() AND schema_name = $namespace "
                "AND table_name = 'users' ORDER BY column_index",
                {"namespace": namespace},
            )
        }
        if not types:
            raise RuntimeError(f"{namespace}.users does not exist; create it before merging")
        for statement in users_merge_statements(namespace, staged, columns, types, _latest):
            self.execute(statement)

    # --- the query endpoint ------------------------------------------------------------------

    def query(
        self, statement: str, *, limit: int | None = None, params: Mapping[str, Any] | None = None
    ) -> QueryResult:
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0")

        def take(cursor: duckdb.DuckDBPyConnection) -> QueryResult:
            if params is None:
                cursor.execute(statement)
            else:
                cursor.execute(statement, dict(params))
            columns = [str(column[0]) for column in cursor.description or []]
            rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit) if limit else []
            return QueryResult(columns=columns, rows=list(rows))

        return self._read(statement, take)

    def query_arrow(self, statement: str, *, params: Mapping[str, Any] | None = None) -> pa.Table:
        # Through a relation: Arrow taken from an executed DB-API cursor is one more copy of the rows.
        return self._read(
            statement, lambda cursor: cursor.sql(statement, params=dict(params or {})).to_arrow_table()
        )

    def _read(self, statement: str, take: Callable[[duckdb.DuckDBPyConnection], _Result]) -> _Result:
        """`take` runs the read on a cursor of its own, in a transaction that is always rolled back."""
        check_read_only(statement, self.dialect)
        with self._query_lock:
            root = self._query_root
            if root is None:
                raise WarehouseUnavailable(f"the DuckDB warehouse {self.path} is not open")
            try:
                cursor = root.cursor()
            except duckdb.Error as error:
                raise self._classify(error) from error
        try:
            cursor.execute("SET TimeZone = 'UTC'")
            cursor.execute("BEGIN TRANSACTION")
            self._set_search_path(cursor)
            return take(cursor)
        except _QUERY_UNAVAILABLE as error:
            raise self._classify(error) from error
        except duckdb.Error as error:
            raise QueryError(str(error)) from error
        finally:
            with suppress(duckdb.Error):
                cursor.execute("ROLLBACK")
            cursor.close()

    def _set_search_path(self, cursor: duckdb.DuckDBPyConnection) -> None:
        namespace = self.default_namespace
        if not namespace:
            return
        found = cursor.execute(
            "SELECT 1 FROM duckdb_schemas() WHERE database_name = current_database() AND schema_name = $n",
            {"n": namespace},
        ).fetchall()
        if found:
            cursor.execute(f"SET search_path = {quote_literal(quote_ident(namespace) + ',main')}")

    # --- helpers -----------------------------------------------------------------------------

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._conn is None:
            raise WarehouseUnavailable(f"the DuckDB warehouse {self.path} is not open")
        return self._conn

    def _classify(self, error: duckdb.Error) -> WarehouseError:
        if isinstance(error, duckdb.FatalException):
            self._broken = True  # DuckDB invalidates the database: reopen before the next load
        return _classify(error)


def _classify(error: duckdb.Error, context: str = "") -> WarehouseError:
    message = f"{context}: {error}" if context else str(error)
    if isinstance(error, _UNAVAILABLE):
        return WarehouseUnavailable(message)
    if isinstance(error, _REFUSED):
        return RowsRefused(message)
    return WarehouseUnavailable(message)


def _qualified(namespace: str, table: str) -> str:
    return f"{quote_ident(namespace)}.{quote_ident(table)}"


def _latest(column: str, order: str) -> str:
    return f"first({column} ORDER BY {order}) FILTER (WHERE {column} IS NOT NULL)"
