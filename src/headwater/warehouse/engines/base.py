"""The interface every warehouse engine implements, so the loader never names one.

An engine is one SQL database the loader writes to in transactions. What differs between engines
is small and lives here as methods: how to connect, how to map abstract types to column types,
how to bulk-append an Arrow table, how to read the existing schema, how to merge `users`, and
which errors mean "down, retry" versus "this data is refused". Every other statement is written
once in PostgreSQL's dialect and rendered for the engine by SQLGlot (`Engine.sql`).

Redshift, Snowflake and BigQuery fit the same shape: `append` becomes COPY/MERGE from the staged
Parquet in S3/GCS, and `merge_users` their FIRST_VALUE(... IGNORE NULLS) form.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from headwater.warehouse.model import AbstractType

__all__ = ["Engine", "QueryResult"]


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Rows of a read query, with the column names in order."""

    columns: list[str]
    rows: list[tuple[Any, ...]]

    def records(self) -> Iterator[dict[str, Any]]:
        for row in self.rows:
            yield dict(zip(self.columns, row, strict=True))


class Engine(Protocol):
    """One warehouse. The loader holds one per process and uses it from one thread.

    `transaction()` wraps the loader's writes; inside it `execute`, `fetch`, `create_*`, `append`,
    `register` and `merge_users` run on the same connection. Any failure raises
    `WarehouseUnavailable` (retry later) or `RowsRefused` (the data is at fault), never a driver
    error. `query` may be called from other threads at the same time and never writes.
    """

    kind: str  # "duckdb", "postgres": the value of warehouse.engine
    dialect: str  # SQLGlot dialect name
    destination_type: str  # RudderStack's destination type, injected as context.destinationType
    identifier_limit: int  # names are truncated to this many bytes (PostgreSQL 63)
    column_limit: int  # most columns a table may have

    def open(self) -> None:
        """Connect (or open the file); raises WarehouseUnavailable when the engine cannot be reached."""
        ...

    def close(self) -> None:
        """Release the connection; safe to call twice."""
        ...

    def sql(self, statement: str) -> str:
        """Render a statement written in PostgreSQL's dialect with `:name` placeholders for this engine.

        The result is cached per statement text; parameters are then passed to `execute`/`fetch`
        as a mapping by name.
        """
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """Begin; commit when the block ends, roll back if it raises (DDL inside is transactional)."""
        ...

    def execute(self, statement: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a rendered statement (from `sql`) inside the current transaction."""
        ...

    def fetch(self, statement: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a rendered query inside the current transaction and return its rows."""
        ...

    def read_schema(self, namespace: str) -> dict[str, dict[str, AbstractType]]:
        """Tables of a namespace and their columns as abstract types (the warehouse's types win)."""
        ...

    def create_namespace(self, namespace: str) -> None:
        """CREATE SCHEMA IF NOT EXISTS."""
        ...

    def create_table(self, namespace: str, table: str, columns: Mapping[str, AbstractType]) -> None:
        """CREATE TABLE IF NOT EXISTS with these columns, all nullable."""
        ...

    def add_columns(self, namespace: str, table: str, columns: Mapping[str, AbstractType]) -> None:
        """ALTER TABLE ... ADD COLUMN for each (the caller passes only missing ones)."""
        ...

    def append(self, namespace: str, table: str, data: pa.Table) -> None:
        """Insert every row of `data` by column name; its columns are a subset of the table's.

        Arrow types follow `arrow_type`: int64, float64, bool, string, timestamp[ms, UTC], and a
        `json` column arrives as its JSON text.
        """
        ...

    def register(self, name: str, data: pa.Table) -> None:
        """Make `data` queryable as a temporary table `name` until the transaction ends."""
        ...

    def merge_users(self, namespace: str, staged: str, columns: Sequence[str]) -> None:
        """Upsert `users` from the temporary table `staged` (identifies rows, `user_id` renamed `id`).

        For each id in `staged`, the result row holds, per column, the latest non-null value by
        `received_at` among the existing users row and the staged rows; the old row is replaced.
        """
        ...

    def query(
        self, statement: str, *, limit: int | None = None, params: Mapping[str, Any] | None = None
    ) -> QueryResult:
        """Run a person's read-only SQL (engine dialect) on its own cursor/connection; refuse writes.

        `params` binds values by name into a statement rendered by `sql` (`:name` placeholders), so
        callers such as the analytics API never splice a person's input into SQL text.
        """
        ...

    def query_arrow(self, statement: str, *, params: Mapping[str, Any] | None = None) -> pa.Table:
        """`query` with the result as one Arrow table.

        Reports that read a million rows of numbers and finish the work in numpy take them as
        columns; a million Python tuples would cost more than the query.
        """
        ...
