"""A PostgreSQL server as the warehouse, loaded the way rudder-server loads it (contract §4.3).

Rows go in with COPY ... FROM STDIN in CSV: pyarrow's C++ CSV writer turns the Arrow batch into
CSV (strings always quoted, NULL unquoted and empty) and the bytes are streamed as they are, so
there is no per-row Python work. In PostgreSQL's CSV format an unquoted empty field is NULL
and `""` is the empty string, which keeps the two apart; timestamps are written as UTC wall
clock `YYYY-MM-DD HH:MM:SS.mmm` (every session of the engine runs in UTC), floats in their
shortest exact form into `numeric`, and JSON text into `jsonb` is parsed by the server. The
conversion costs about a tenth of the COPY itself, so appends run near PostgreSQL's own COPY
speed.

The loader's connection runs with autocommit off and one explicit transaction per
`transaction()` block; a statement run outside a block is committed on its own. A lost
connection is noticed at the start of the next block (a probe round trip) and replaced once,
transparently. If a COMMIT itself fails on a lost connection the outcome is unknown to the
client; the loader keeps its log offsets in the same transaction, so it re-reads them.

Errors, by SQLSTATE first and the driver's class second:
- `RowsRefused` (the data): class 22 data exception (out of range, invalid text for the type,
  invalid JSON, NUL bytes), class 23 integrity violation, class 54 program limit exceeded
  (54000, 54011 "tables can have at most 1600 columns").
- `WarehouseUnavailable` (retry): connection failures and `OperationalError`s (08 connection,
  53 insufficient resources such as 53100 disk full, 57 operator intervention such as
  57P01 admin shutdown and 57P03 cannot connect now, 58 system error, 40 rollback), 42501
  insufficient privilege (an operator fixes the grant), and anything else: a retry loses nothing.

`query` opens its own short-lived connection per call, in a READ ONLY transaction that
PostgreSQL enforces, with `search_path` set to the default namespace and `public`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any, Final, TypeAlias, TypeVar

import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus

from headwater.warehouse.engines.base import QueryResult
from headwater.warehouse.engines.render import (
    QueryError,
    QueryRefused,
    check_read_only,
    quote_ident,
    render,
    users_merge_statements,
)
from headwater.warehouse.errors import RowsRefused, WarehouseError, WarehouseUnavailable
from headwater.warehouse.model import AbstractType

__all__ = ["POSTGRES_TYPES", "PostgresEngine", "abstract_type"]

_Result = TypeVar("_Result")

POSTGRES_TYPES: Final[dict[AbstractType, str]] = {
    "int": "bigint",
    "float": "numeric",
    "string": "text",
    "boolean": "boolean",
    "datetime": "timestamptz",
    "json": "jsonb",
}
_ABSTRACT: Final[dict[str, AbstractType]] = {
    "bigint": "int",
    "integer": "int",
    "smallint": "int",
    "numeric": "float",
    "double precision": "float",
    "real": "float",
    "text": "string",
    "character varying": "string",
    "character": "string",
    "boolean": "boolean",
    "timestamp with time zone": "datetime",
    "timestamp without time zone": "datetime",
    "date": "datetime",
    "jsonb": "json",
    "json": "json",
}
_REFUSED_CLASSES = ("22", "23", "54")
_CONNECT_TIMEOUT_SECONDS = 10
# Rows per CSV chunk sent to COPY: big enough to amortise the writer, small enough to stream.
_COPY_BATCH_ROWS = 65536

_Connection: TypeAlias = "psycopg.Connection[tuple[Any, ...]]"


def abstract_type(data_type: str) -> AbstractType:
    """The abstract type of an `information_schema.columns.data_type`; unknown types read as strings."""
    return _ABSTRACT.get(data_type.lower(), "string")


class PostgresEngine:
    """A PostgreSQL database as the warehouse (see the module docstring for transactions and errors)."""

    kind = "postgres"
    dialect = "postgres"
    destination_type = "POSTGRES"
    identifier_limit = 63
    column_limit = 1600

    def __init__(self, dsn: str, *, default_namespace: str | None = None) -> None:
        try:
            params = conninfo_to_dict(dsn)
        except psycopg.ProgrammingError as error:
            raise WarehouseError(f"invalid PostgreSQL connection string: {error}") from error
        self.default_namespace = default_namespace
        self._dsn = dsn
        self._connect_options: dict[str, Any] = {"client_encoding": "UTF8"}
        if "connect_timeout" not in params:
            self._connect_options["connect_timeout"] = _CONNECT_TIMEOUT_SECONDS
        self._conn: _Connection | None = None
        self._in_transaction = False

    # --- lifecycle ---------------------------------------------------------------------------

    def open(self) -> None:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = self._connect()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _connect(self) -> _Connection:
        try:
            conn: _Connection = psycopg.connect(self._dsn, autocommit=False, **self._connect_options)
        except psycopg.Error as error:
            raise WarehouseUnavailable(f"cannot connect to PostgreSQL: {error}") from error
        try:
            conn.execute("SET TIME ZONE 'UTC'")
            conn.commit()
        except psycopg.Error as error:
            conn.close()
            raise _classify(error) from error
        return conn

    def sql(self, statement: str) -> str:
        return render(statement, self.dialect)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._in_transaction:
            raise RuntimeError("transactions do not nest")
        conn = self._begin()
        self._in_transaction = True
        try:
            yield
            try:
                conn.commit()
            except psycopg.Error as error:
                raise _classify(error) from error
        except BaseException:
            self._rollback_quietly(conn)
            raise
        finally:
            self._in_transaction = False

    def _begin(self) -> _Connection:
        """Start a transaction with a probe, replacing a connection that was lost since the last one."""
        for attempt in range(2):
            self.open()
            conn = self._conn
            assert conn is not None
            try:
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    conn.rollback()
                conn.execute("SELECT 1")
                return conn
            except psycopg.Error as error:
                lost = conn.broken or isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError))
                self.close()
                if attempt or not lost:
                    raise _classify(error) from error
        raise AssertionError("unreachable")

    def _rollback_quietly(self, conn: _Connection) -> None:
        try:
            conn.rollback()
        except psycopg.Error:
            self.close()  # the connection is gone: the next transaction reconnects

    # --- statements --------------------------------------------------------------------------

    def execute(self, statement: str, params: Mapping[str, Any] | None = None) -> None:
        # Rendered statements double every literal `%`, so they always go through parameter
        # processing, even without parameters.
        self._run(statement, dict(params) if params is not None else {}, fetch=False)

    def fetch(self, statement: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self._run(statement, dict(params) if params is not None else {}, fetch=True)

    def _run(self, statement: str, params: dict[str, Any] | None, *, fetch: bool) -> list[tuple[Any, ...]]:
        """Run one statement in the open transaction, or in one of its own when none is open."""
        conn = self._live()
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement, params)
                rows = cursor.fetchall() if fetch and cursor.description is not None else []
            if not self._in_transaction:
                conn.commit()
            return rows
        except psycopg.Error as error:
            if not self._in_transaction:
                self._rollback_quietly(conn)
            raise _classify(error) from error

    def _raw(self, statement: str) -> None:
        """Run a statement built here (names quoted with `quote_ident`), with no `%` processing."""
        self._run(statement, None, fetch=False)

    def _live(self) -> _Connection:
        if self._in_transaction:
            assert self._conn is not None
            return self._conn
        self.open()
        assert self._conn is not None
        return self._conn

    # --- schema ------------------------------------------------------------------------------

    def read_schema(self, namespace: str) -> dict[str, dict[str, AbstractType]]:
        rows = self.fetch(
            "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns AS c "
            "JOIN information_schema.tables AS t "
            "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
            "WHERE c.table_schema = %(namespace)s AND t.table_type = 'BASE TABLE' "
            "ORDER BY c.table_name, c.ordinal_position",
            {"namespace": namespace},
        )
        schema: dict[str, dict[str, AbstractType]] = {}
        for table, column, data_type in rows:
            schema.setdefault(table, {})[column] = abstract_type(data_type)
        return schema

    def create_namespace(self, namespace: str) -> None:
        self._raw(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(namespace)}")

    def create_table(self, namespace: str, table: str, columns: Mapping[str, AbstractType]) -> None:
        if not columns:
            raise ValueError(f"table {table!r} needs at least one column")
        listed = ", ".join(f"{quote_ident(name)} {POSTGRES_TYPES[kind]}" for name, kind in columns.items())
        self._raw(f"CREATE TABLE IF NOT EXISTS {_qualified(namespace, table)} ({listed})")

    def add_columns(self, namespace: str, table: str, columns: Mapping[str, AbstractType]) -> None:
        if not columns:
            return
        actions = ", ".join(
            f"ADD COLUMN IF NOT EXISTS {quote_ident(name)} {POSTGRES_TYPES[kind]}"
            for name, kind in columns.items()
        )
        self._raw(f"ALTER TABLE {_qualified(namespace, table)} {actions}")

    # --- data --------------------------------------------------------------------------------

    def append(self, namespace: str, table: str, data: pa.Table) -> None:
        if data.num_rows == 0:
            return
        self._copy(_qualified(namespace, table), data)

    def register(self, name: str, data: pa.Table) -> None:
        if not self._in_transaction:
            raise RuntimeError("register needs an open transaction: the table lives until it ends")
        listed = ", ".join(f"{quote_ident(field.name)} {_column_type(field.type)}" for field in data.schema)
        # A second registration of a name replaces the first, as DuckDB's does.
        self._raw(f"DROP TABLE IF EXISTS pg_temp.{quote_ident(name)}")
        self._raw(f"CREATE TEMPORARY TABLE {quote_ident(name)} ({listed}) ON COMMIT DROP")
        if data.num_rows:
            self._copy(quote_ident(name), data)

    def _copy(self, target: str, data: pa.Table) -> None:
        listed = ", ".join(quote_ident(name) for name in data.column_names)
        statement = f"COPY {target} ({listed}) FROM STDIN (FORMAT csv)"
        options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
        data = _utc_wall_clock(data)
        conn = self._live()
        try:
            with conn.cursor() as cursor, cursor.copy(statement) as copy:
                for batch in data.to_batches(max_chunksize=_COPY_BATCH_ROWS):
                    sink = pa.BufferOutputStream()
                    pa_csv.write_csv(batch, sink, options)
                    copy.write(sink.getvalue())
            if not self._in_transaction:
                conn.commit()
        except psycopg.Error as error:
            if not self._in_transaction:
                self._rollback_quietly(conn)
            raise _classify(error) from error
        except pa.ArrowException as error:
            raise RowsRefused(f"cannot write rows as CSV: {error}") from error

    def merge_users(self, namespace: str, staged: str, columns: Sequence[str]) -> None:
        types = {
            str(name): str(data_type)
            for name, data_type in self.fetch(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute AS a "
                "JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid "
                "JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %(namespace)s AND c.relname = 'users' AND c.relkind IN ('r', 'p') "
                "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                {"namespace": namespace},
            )
        }
        if not types:
            raise RuntimeError(f"{namespace}.users does not exist; create it before merging")
        for statement in users_merge_statements(namespace, staged, columns, types, _latest):
            self._raw(statement)

    # --- the query endpoint ------------------------------------------------------------------

    def query(
        self, statement: str, *, limit: int | None = None, params: Mapping[str, Any] | None = None
    ) -> QueryResult:
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0")

        def take(cursor: psycopg.Cursor[Any]) -> QueryResult:
            rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit) if limit else []
            columns = [column.name for column in cursor.description or []]
            return QueryResult(columns=columns, rows=list(rows))

        return self._read(statement, params, take)

    def query_arrow(self, statement: str, *, params: Mapping[str, Any] | None = None) -> pa.Table:
        def take(cursor: psycopg.Cursor[Any]) -> pa.Table:
            rows = cursor.fetchall()
            columns = [column.name for column in cursor.description or []]
            return pa.table({name: [row[i] for row in rows] for i, name in enumerate(columns)})

        return self._read(statement, params, take)

    def _read(
        self,
        statement: str,
        params: Mapping[str, Any] | None,
        take: Callable[[psycopg.Cursor[Any]], _Result],
    ) -> _Result:
        """Run a read in a read-only transaction on a connection of its own."""
        streamable = check_read_only(statement, self.dialect)
        conn = self._connect()
        try:
            conn.execute("SET TRANSACTION READ ONLY")
            if self.default_namespace:
                conn.execute(
                    "SELECT set_config('search_path', %s, true)",
                    [f"{quote_ident(self.default_namespace)}, public"],
                )
            # A server-side cursor only sends the rows fetched, so a limit bounds the transfer.
            cursor = conn.cursor(name=f"hw_query_{uuid.uuid4().hex}") if streamable else conn.cursor()
            with cursor:
                # With params the statement comes from `sql` (literal `%` doubled), so it must go
                # through psycopg's parameter processing; without, it is a person's raw SQL.
                cursor.execute(statement, dict(params) if params is not None else None)
                return take(cursor)
        except psycopg.Error as error:
            if error.sqlstate == "25006":  # read_only_sql_transaction
                raise QueryRefused(f"only reads are allowed here: {error}") from error
            classified = _classify(error)
            if isinstance(classified, WarehouseUnavailable) and (
                conn.broken or isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError))
            ):
                raise classified from error
            raise QueryError(str(error)) from error
        finally:
            with suppress(psycopg.Error):
                conn.rollback()
            conn.close()


def _classify(error: psycopg.Error) -> WarehouseError:
    message = str(error).strip() or type(error).__name__
    state = error.sqlstate or ""
    if state[:2] in _REFUSED_CLASSES or isinstance(error, (psycopg.DataError, psycopg.IntegrityError)):
        return RowsRefused(message)
    return WarehouseUnavailable(message)


def _utc_wall_clock(data: pa.Table) -> pa.Table:
    """Drop the time zone from timestamp columns, keeping their UTC instants.

    Arrow formats zoned timestamps some 25 times slower than plain ones (a zone lookup per
    value), which would make the conversion cost more than the COPY itself. The values are UTC
    instants either way, and the session runs in UTC, so `2024-01-02 03:04:05.678` is read as
    exactly the instant `...Z` would be.
    """
    for index, field in enumerate(data.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            plain = data.column(index).cast(pa.timestamp(field.type.unit))
            data = data.set_column(index, field.name, plain)
    return data


def _column_type(arrow_type: pa.DataType) -> str:
    """Column type of a registered table: what COPY reads the Arrow column's CSV text as."""
    if pa.types.is_integer(arrow_type):
        return "bigint"
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "numeric"  # the CSV holds the shortest exact decimal: numeric keeps every digit
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_timestamp(arrow_type):
        return "timestamptz"
    if pa.types.is_date(arrow_type):
        return "date"
    return "text"


def _qualified(namespace: str, table: str) -> str:
    return f"{quote_ident(namespace)}.{quote_ident(table)}"


def _latest(column: str, order: str) -> str:
    # PostgreSQL has no IGNORE NULLS: aggregate the non-null values in order and take the first.
    return f"(array_agg({column} ORDER BY {order}) FILTER (WHERE {column} IS NOT NULL))[1]"
