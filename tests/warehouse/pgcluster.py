"""A private PostgreSQL server for tests that stop and start it: never the machine's shared one.

The outage tests take the warehouse down in the middle of a load. The shared server on 5432 serves
every other test, so they get a cluster of their own on a free port, with trust authentication for
local TCP, and drop it afterwards.

Two ways to run one, tried in order:
- Debian's postgresql-common (`pg_createcluster`, `pg_ctlcluster`, `pg_dropcluster`), as root: the
  server runs as the postgres user, its files live where the distribution keeps clusters.
- Plain `initdb` + `pg_ctl` in a temporary folder, run as the postgres user through `runuser` when
  we are root (PostgreSQL refuses to run as root), else as ourselves.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Literal

import psycopg

from tests.conftest import free_port

__all__ = ["PgCluster", "PgClusterUnavailable", "postgres_bin"]

StopMode = Literal["fast", "immediate", "smart"]
_LIB = Path("/usr/lib/postgresql")


class PgClusterUnavailable(RuntimeError):
    """No way to run a private PostgreSQL server on this machine (the tests skip)."""


def _versions() -> list[str]:
    """Installed server versions, newest first (Debian keeps each under /usr/lib/postgresql/<ver>)."""
    if not _LIB.is_dir():
        return []
    found = [p.name for p in _LIB.iterdir() if (p / "bin" / "postgres").exists()]
    return sorted(found, key=lambda v: [int(x) for x in re.findall(r"\d+", v)], reverse=True)


def postgres_bin(program: str) -> str | None:
    """A server program (initdb, pg_ctl): from the newest Debian version folder, else PATH."""
    for version in _versions():
        candidate = _LIB / version / "bin" / program
        if candidate.exists():
            return str(candidate)
    return shutil.which(program)


def _run(argv: list[str], timeout: float = 60.0) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited with {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return result.stdout


class PgCluster:
    """`with PgCluster() as pg:` a running private server; `pg.stop(mode)`, `pg.start()`, `pg.dsn`."""

    def __init__(self, *, user: str = "postgres") -> None:
        self.user = user
        self.port = free_port()
        self.name = f"hw{uuid.uuid4().hex[:10]}"
        self.version = ""
        self.debian = False
        self.directory: Path | None = None
        self._as_postgres: list[str] = []

    # -- the handle --------------------------------------------------------------------------

    def dsn_for(self, database: str = "postgres", user: str | None = None) -> str:
        return f"postgresql://{user or self.user}@127.0.0.1:{self.port}/{database}"

    @property
    def dsn(self) -> str:
        """The superuser's DSN of the `postgres` database."""
        return self.dsn_for()

    def create_database(self, owner: str | None = None) -> str:
        """A new database (owned by `owner` if given); returns its DSN for the superuser."""
        name = f"hw_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"' + (f' OWNER "{owner}"' if owner else ""))
        return self.dsn_for(name)

    def is_up(self) -> bool:
        try:
            with psycopg.connect(self.dsn, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> PgCluster:
        try:
            self._create()
            self.start()
        except BaseException:
            self.drop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.drop()

    def _create(self) -> None:
        versions = _versions()
        root = os.geteuid() == 0
        if root and versions and shutil.which("pg_createcluster") and shutil.which("pg_ctlcluster"):
            self.debian = True
            self.version = versions[0]
            _run(
                [
                    "pg_createcluster",
                    self.version,
                    self.name,
                    "-p",
                    str(self.port),
                    "--start-conf",
                    "manual",
                    "--",
                    "--auth-host=trust",
                    "--auth-local=trust",
                ]
            )
            return
        initdb = postgres_bin("initdb")
        if initdb is None or postgres_bin("pg_ctl") is None:
            raise PgClusterUnavailable("neither pg_createcluster (as root) nor initdb/pg_ctl is available")
        self.directory = Path(tempfile.mkdtemp(prefix="hw-pg-"))
        if root:
            if shutil.which("runuser") is None:
                raise PgClusterUnavailable("running as root without runuser: cannot start PostgreSQL")
            shutil.chown(self.directory, "postgres", "postgres")
            self._as_postgres = ["runuser", "-u", "postgres", "--"]
        _run(
            [
                *self._as_postgres,
                initdb,
                "-D",
                str(self.directory / "data"),
                "-U",
                self.user,
                "--auth=trust",
                "--no-sync",
            ]
        )

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait until it accepts connections."""
        if self.debian:
            _run(["pg_ctlcluster", self.version, self.name, "start"], timeout)
        else:
            assert self.directory is not None
            options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
            _run(
                [
                    *self._as_postgres,
                    str(postgres_bin("pg_ctl")),
                    "-D",
                    str(self.directory / "data"),
                    "-l",
                    str(self.directory / "server.log"),
                    "-o",
                    options,
                    "-w",
                    "start",
                ],
                timeout,
            )
        deadline = time.monotonic() + timeout
        while not self.is_up():
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL on port {self.port} did not come up:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self, mode: StopMode = "fast") -> None:
        """Stop the server: `fast` disconnects clients and rolls back, `immediate` is like a crash."""
        if self.debian:
            _run(["pg_ctlcluster", self.version, self.name, "stop", "-m", mode])
        else:
            assert self.directory is not None
            _run(
                [
                    *self._as_postgres,
                    str(postgres_bin("pg_ctl")),
                    "-D",
                    str(self.directory / "data"),
                    "-m",
                    mode,
                    "-w",
                    "stop",
                ]
            )

    def drop(self) -> None:
        """Stop (if running) and delete the cluster; safe to call twice."""
        if self.debian:
            if self.version:
                subprocess.run(
                    ["pg_dropcluster", "--stop", self.version, self.name],
                    capture_output=True,
                    timeout=60,
                    stdin=subprocess.DEVNULL,
                )
                self.version = ""
            return
        if self.directory is not None:
            if (self.directory / "data" / "postmaster.pid").exists():
                with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                    self.stop("immediate")
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def log_tail(self, chars: int = 4000) -> str:
        if self.debian:
            path = Path(f"/var/log/postgresql/postgresql-{self.version}-{self.name}.log")
        elif self.directory is not None:
            path = self.directory / "server.log"
        else:
            return "(no server log)"
        try:
            return path.read_text(errors="replace")[-chars:]
        except OSError as error:
            return f"(no server log: {error})"
