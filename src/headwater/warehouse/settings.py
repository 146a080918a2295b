"""Settings of the warehouse stage: which engine, where staged files go, how batches are cut."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from headwater.settings import declare

if TYPE_CHECKING:
    from headwater.config import Config

declare("warehouse.enabled", "bool", True, "Run the loader in `headwater up` (off: events stay in the log).")
declare(
    "warehouse.engine",
    "str",
    "duckdb",
    "Warehouse engine: duckdb (embedded file) or postgres (a server).",
    choices=("duckdb", "postgres"),
)
declare(
    "warehouse.duckdb_path",
    "str",
    "",
    "DuckDB database file (empty: <data_dir>/warehouse/headwater.duckdb).",
)
declare(
    "warehouse.duckdb_memory_limit",
    "bytes",
    "1GiB",
    "Most memory DuckDB's buffer pool may hold (0: DuckDB's default, 80% of RAM).",
    minimum=0,
)
declare(
    "warehouse.postgres_dsn",
    "str",
    "",
    "PostgreSQL connection string, e.g. postgresql://loader@db:5432/analytics (engine postgres).",
)
declare(
    "warehouse.namespace",
    "str",
    "events",
    "Schema the RudderStack tables are created in (RudderStack's destination namespace).",
)
declare(
    "warehouse.destination_id",
    "str",
    "warehouse",
    "Stored as context_destination_id on every row.",
)
declare(
    "warehouse.batch_max_events",
    "int",
    20000,
    "Most events in one load (one warehouse transaction).",
    minimum=1,
)
declare(
    "warehouse.batch_interval_seconds",
    "float",
    1.0,
    "Load what has arrived at least this often; a remote warehouse would use minutes.",
    minimum=0.01,
)
declare(
    "warehouse.dedup_window_hours",
    "float",
    24.0,
    "Drop an event whose messageId was already loaded within this many hours (0: off).",
    minimum=0,
)
declare(
    "warehouse.max_columns_per_event",
    "int",
    1600,
    "An event producing more columns than this goes to failed events (RudderStack: 1600).",
    minimum=10,
)
declare(
    "warehouse.underscore_divide_numbers",
    "bool",
    False,
    "Name `test123` as `test_123` (RudderStack's older destinations) instead of `test123`.",
)
declare(
    "warehouse.users_context_traits",
    "bool",
    False,
    "Also flatten context.traits unprefixed into identifies/users (allowUsersContextTraits).",
)
declare("warehouse.skip_users_table", "bool", False, "Do not maintain the merged `users` table.")
declare("warehouse.skip_tracks_table", "bool", False, "Write track events only to their per-event tables.")
declare(
    "warehouse.staging",
    "str",
    "local",
    "Where batches are staged as Parquet before loading: local (a folder) or s3.",
    choices=("local", "s3"),
)
declare("warehouse.staging_dir", "str", "", "Staging folder (empty: <data_dir>/staging).")
declare(
    "warehouse.keep_staged_hours",
    "float",
    0.0,
    "Keep loaded staged files this long before deleting them (0: delete once loaded).",
    minimum=0,
)
declare("warehouse.s3_endpoint", "str", "", "S3 endpoint URL, e.g. http://127.0.0.1:8333 (empty: AWS).")
declare("warehouse.s3_bucket", "str", "", "S3 bucket for staged files (staging s3).")
declare("warehouse.s3_prefix", "str", "headwater-staging", "Key prefix of staged files in the bucket.")
declare("warehouse.s3_region", "str", "us-east-1", "S3 region.")
declare(
    "warehouse.s3_access_key_id",
    "str",
    "",
    "S3 access key (empty: AWS_ACCESS_KEY_ID or the default credential chain).",
)
declare(
    "warehouse.s3_secret_access_key",
    "str",
    "",
    "S3 secret key (empty: AWS_SECRET_ACCESS_KEY or the default credential chain).",
)
declare(
    "warehouse.retry_max_seconds",
    "float",
    30.0,
    "Longest pause between retries while the warehouse or staging is down (backoff doubles up to it).",
    minimum=0.1,
)


@dataclass(frozen=True, slots=True)
class S3Settings:
    """Where and how to reach the staging bucket."""

    bucket: str
    prefix: str = "headwater-staging"
    endpoint: str = ""
    region: str = "us-east-1"
    access_key_id: str = ""
    secret_access_key: str = ""


@dataclass(frozen=True, slots=True)
class WarehouseSettings:
    """The warehouse stage's resolved settings."""

    engine: str = "duckdb"
    duckdb_path: Path = Path("warehouse/headwater.duckdb")
    duckdb_memory_limit: int = 1024**3
    postgres_dsn: str = ""
    namespace: str = "events"
    destination_id: str = "warehouse"
    batch_max_events: int = 20000
    batch_interval_seconds: float = 1.0
    dedup_window_hours: float = 24.0
    max_columns_per_event: int = 1600
    underscore_divide_numbers: bool = False
    users_context_traits: bool = False
    skip_users_table: bool = False
    skip_tracks_table: bool = False
    staging: str = "local"
    staging_dir: Path = Path("staging")
    keep_staged_hours: float = 0.0
    s3: S3Settings | None = None
    retry_max_seconds: float = 30.0
    enabled: bool = True

    @classmethod
    def from_config(cls, config: Config) -> WarehouseSettings:
        data_dir = config.data_dir
        s3 = None
        if config["warehouse.staging"] == "s3":
            s3 = S3Settings(
                bucket=config["warehouse.s3_bucket"],
                prefix=config["warehouse.s3_prefix"],
                endpoint=config["warehouse.s3_endpoint"],
                region=config["warehouse.s3_region"],
                access_key_id=config["warehouse.s3_access_key_id"],
                secret_access_key=config["warehouse.s3_secret_access_key"],
            )
        duckdb_path = config["warehouse.duckdb_path"]
        staging_dir = config["warehouse.staging_dir"]
        return cls(
            engine=config["warehouse.engine"],
            duckdb_path=Path(duckdb_path).expanduser()
            if duckdb_path
            else data_dir / "warehouse" / "headwater.duckdb",
            duckdb_memory_limit=config["warehouse.duckdb_memory_limit"],
            postgres_dsn=config["warehouse.postgres_dsn"],
            namespace=config["warehouse.namespace"],
            destination_id=config["warehouse.destination_id"],
            batch_max_events=config["warehouse.batch_max_events"],
            batch_interval_seconds=config["warehouse.batch_interval_seconds"],
            dedup_window_hours=config["warehouse.dedup_window_hours"],
            max_columns_per_event=config["warehouse.max_columns_per_event"],
            underscore_divide_numbers=config["warehouse.underscore_divide_numbers"],
            users_context_traits=config["warehouse.users_context_traits"],
            skip_users_table=config["warehouse.skip_users_table"],
            skip_tracks_table=config["warehouse.skip_tracks_table"],
            staging=config["warehouse.staging"],
            staging_dir=Path(staging_dir).expanduser() if staging_dir else data_dir / "staging",
            keep_staged_hours=config["warehouse.keep_staged_hours"],
            s3=s3,
            retry_max_seconds=config["warehouse.retry_max_seconds"],
            enabled=config["warehouse.enabled"],
        )
