"""dbt profiles generated from the warehouse settings, so the models run where the loader writes.

On DuckDB the profile must open the very file the warehouse process holds, with the same
connection options: DuckDB hands a second connection in the same process the already open
database only when the options match, and refuses otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from psycopg.conninfo import conninfo_to_dict

from headwater.warehouse.settings import WarehouseSettings

__all__ = ["PROFILE_NAME", "TARGET_NAME", "profile_target", "write_profiles"]

PROFILE_NAME = "headwater"
TARGET_NAME = "headwater"


def profile_target(settings: WarehouseSettings, schema: str, *, threads: int = 1) -> dict[str, Any]:
    """The dbt target (a profiles.yml `outputs` entry) for the configured warehouse engine."""
    if settings.engine == "duckdb":
        options: dict[str, Any] = {"enable_external_access": False}
        if settings.duckdb_memory_limit:
            options["memory_limit"] = f"{max(1, settings.duckdb_memory_limit // (1024 * 1024))}MiB"
        return {
            "type": "duckdb",
            "path": str(settings.duckdb_path),
            "schema": schema,
            "threads": threads,
            "config_options": options,
            "settings": {"TimeZone": "UTC"},
        }
    if settings.engine == "postgres":
        parts = conninfo_to_dict(settings.postgres_dsn)
        target: dict[str, Any] = {
            "type": "postgres",
            "host": str(parts.get("host") or "127.0.0.1"),
            "port": int(parts.get("port") or 5432),
            "user": str(parts.get("user") or "postgres"),
            "password": str(parts.get("password") or ""),
            "dbname": str(parts.get("dbname") or parts.get("user") or "postgres"),
            "schema": schema,
            "threads": threads,
        }
        if parts.get("sslmode"):
            target["sslmode"] = str(parts["sslmode"])
        return target
    raise ValueError(f"no dbt profile for warehouse.engine {settings.engine!r}")


def write_profiles(directory: Path, settings: WarehouseSettings, schema: str, *, threads: int = 1) -> Path:
    """Write `profiles.yml` (mode 0600: it may hold a password) and return the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    document = {
        PROFILE_NAME: {
            "target": TARGET_NAME,
            "outputs": {TARGET_NAME: profile_target(settings, schema, threads=threads)},
        }
    }
    path = directory / "profiles.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    path.chmod(0o600)
    return directory
