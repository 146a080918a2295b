"""Pick the engine the settings name, so callers never import a particular one."""

from __future__ import annotations

from headwater.warehouse.engines.base import Engine
from headwater.warehouse.errors import WarehouseError
from headwater.warehouse.settings import WarehouseSettings

__all__ = ["open_engine"]


def open_engine(settings: WarehouseSettings, *, read_only: bool = False) -> Engine:
    """Build (not connect) the configured engine; `read_only` opens a DuckDB file only to read it.

    Raises `WarehouseError` for settings that cannot work, such as engine postgres without a DSN,
    so the mistake shows at start-up rather than as endless retries.
    """
    if settings.engine == "duckdb":
        from headwater.warehouse.engines.duckdb import DuckDBEngine

        return DuckDBEngine(
            settings.duckdb_path,
            read_only=read_only,
            default_namespace=settings.namespace,
            memory_limit=settings.duckdb_memory_limit,
        )
    if settings.engine == "postgres":
        if not settings.postgres_dsn.strip():
            raise WarehouseError(
                "warehouse.engine is postgres but warehouse.postgres_dsn is empty; "
                "set it, e.g. postgresql://loader@db:5432/analytics"
            )
        from headwater.warehouse.engines.postgres import PostgresEngine

        return PostgresEngine(settings.postgres_dsn, default_namespace=settings.namespace)
    raise WarehouseError(f"unknown warehouse.engine {settings.engine!r}; use duckdb or postgres")
