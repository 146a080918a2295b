"""Run Headwater's dbt project on a fresh warehouse and read its tables back (shared by model tests).

    with model_warehouse("duckdb", tmp_path) as wh:
        wh.load([page("m1", at("09:00"), "A1", "/")])
        wh.build()                      # dbt build (models + their tests); raises if anything failed
        rows = wh.rows("sessions", order_by="session_start")

The runner is the production one (`invoke_dbt` with a profile from `write_profiles`), so what the
tests see is what `headwater` runs. DuckDB: a new file under the test's tmp_path; PostgreSQL: a new
database on the test server (dropped afterwards).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from headwater.models.dbt import DbtOutcome, invoke_dbt
from headwater.models.profiles import write_profiles
from headwater.warehouse.settings import WarehouseSettings
from tests.models.raw import RawEvent, load_raw, open_engine
from tests.warehouse.engines_fixtures import fresh_duckdb, fresh_postgres_dsn

__all__ = ["ModelWarehouse", "model_warehouse"]

SCHEMA = "analytics"


@dataclass
class ModelWarehouse:
    """A warehouse holding raw RudderStack tables in `events` and the models in `analytics`."""

    kind: str
    target: str | Path  # DuckDB file or PostgreSQL DSN
    work_dir: Path

    @property
    def settings(self) -> WarehouseSettings:
        if self.kind == "duckdb":
            return WarehouseSettings(engine="duckdb", duckdb_path=Path(self.target))
        return WarehouseSettings(engine="postgres", postgres_dsn=str(self.target))

    def load(self, events: Sequence[RawEvent], *, loaded_at: datetime | None = None) -> None:
        """One loader load of `events` into the raw tables."""
        load_raw(self.kind, self.target, events, loaded_at=loaded_at)

    def dbt(self, command: Sequence[str], variables: Mapping[str, Any] | None = None) -> DbtOutcome:
        """`dbt <command>` on this warehouse; the outcome as `invoke_dbt` reports it."""
        profiles = write_profiles(self.work_dir / "profiles", self.settings, SCHEMA)
        return invoke_dbt(list(command), profiles_dir=profiles, work_dir=self.work_dir, variables=variables)

    def build(
        self,
        *,
        full_refresh: bool = False,
        select: str | None = None,
        variables: Mapping[str, Any] | None = None,
    ) -> DbtOutcome:
        """`dbt build` (seeds, models and their data tests); fails the test with dbt's reasons."""
        command = ["build"]
        if full_refresh:
            command.append("--full-refresh")
        if select:
            command += ["--select", select]
        outcome = self.dbt(command, variables)
        if not outcome.success:
            raise AssertionError(f"dbt build failed: {outcome.error}")
        return outcome

    def query(self, statement: str) -> list[dict[str, Any]]:
        """Rows of a read query as dicts."""
        with open_engine(self.kind, self.target) as engine:
            return list(engine.query(statement).records())

    def rows(
        self, table: str, *, order_by: str | None = None, where: str | None = None
    ) -> list[dict[str, Any]]:
        """All rows of model `table` (in the analytics schema)."""
        statement = f"select * from {SCHEMA}.{table}"
        if where:
            statement += f" where {where}"
        if order_by:
            statement += f" order by {order_by}"
        return self.query(statement)


@contextmanager
def model_warehouse(kind: str, tmp_path: Path) -> Iterator[ModelWarehouse]:
    """A fresh, empty warehouse of `kind` ("duckdb" or "postgres") with its own dbt work folder."""
    work_dir = tmp_path / f"dbt-{kind}"
    if kind == "duckdb":
        path = fresh_duckdb(tmp_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        yield ModelWarehouse(kind, path, work_dir)
    elif kind == "postgres":
        with fresh_postgres_dsn() as dsn:
            yield ModelWarehouse(kind, dsn, work_dir)
    else:
        raise ValueError(f"unknown engine kind {kind!r}")
