"""The staging store: where a load's Arrow tables wait as Parquet between being built and being loaded.

Staging decouples building a batch from loading it: the files survive a crash of the loader or an
outage of the warehouse, can be kept for inspection (`keep_staged_hours`), and on S3 are what a
remote warehouse would COPY from. Each load is a folder (local) or key prefix (S3) named by its
load id, holding one `<table>.parquet` per warehouse table, so a whole load is listed, aged and
deleted as a unit.

A reader must never see half a file, because the loader may read a load back after a crash in the
middle of writing it. Locally a file is written under a hidden temporary name in the same folder,
fsynced, renamed over the final name and the folder fsynced, so the final name holds either the
old complete file or the new complete one. On S3 the Parquet file is built in memory first and then
sent as one PUT (or one multipart upload, which S3 makes visible only when it is completed), so a
table that fails to encode never reaches the bucket at all.

S3 is spoken through pyarrow's own S3 client (`pyarrow.fs.S3FileSystem`, the AWS C++ SDK built into
the pyarrow wheel), because the alternatives do not fit:
- DuckDB's httpfs extension is downloaded from DuckDB's extension server the first time it is
  loaded; a machine without that network (ours, and many self-hosted installs) cannot use it, and
  a DuckDB-only client would not serve the PostgreSQL engine anyway.
- boto3 is another dependency (botocore is large) that would hand us bytes we then have to wrap
  for pyarrow; pyarrow's client reads and writes Parquet on S3 directly and follows the same
  credential chain (explicit keys, then AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the AWS config
  files, the instance role).

Every failure, local or remote, surfaces as StagingError naming the location, so the loader has one
thing to catch and back off on.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from headwater.warehouse.errors import StagingError
from headwater.warehouse.settings import S3Settings, WarehouseSettings

__all__ = ["LocalStage", "S3Stage", "Stage", "StagedFile", "open_stage"]

COMPRESSION = "zstd"
SUFFIX = ".parquet"
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
# Hidden so nothing listing a load's tables picks up a file still being written.
_TEMP_PREFIX = "."
_TEMP_SUFFIX = ".tmp"


@dataclass(frozen=True, slots=True)
class StagedFile:
    """One staged table of one load, as `put` returned it and `read` needs it."""

    load_id: str
    table: str
    location: str
    rows: int
    size: int


@runtime_checkable
class Stage(Protocol):
    """Where loads are staged; LocalStage and S3Stage are the two kinds."""

    def put(self, load_id: str, table: str, data: pa.Table) -> StagedFile:
        """Write `data` as the load's `<table>.parquet`, replacing an earlier one atomically."""
        ...

    def read(self, staged: StagedFile) -> pa.Table:
        """The table `put` wrote."""
        ...

    def delete_load(self, load_id: str) -> None:
        """Remove every file of the load; a load that is not there is already deleted."""
        ...

    def loads(self) -> dict[str, float]:
        """Load ids present, each with its newest file's modification time (epoch seconds)."""
        ...

    def expire(self, older_than_seconds: float, keep: Callable[[str], bool] = lambda _: False) -> int:
        """Delete loads at least that old unless keep(load_id); return how many were deleted."""
        ...

    def check(self) -> None:
        """Raise StagingError if the store cannot be used (missing bucket, wrong keys, no folder)."""
        ...

    def describe(self) -> str:
        """Where the store is, for logs and status."""
        ...


def _name(kind: str, value: str) -> str:
    # The names become path segments: refusing anything else keeps a load inside its folder.
    if not _NAME.fullmatch(value) or value in {".", ".."} or value.startswith(_TEMP_PREFIX):
        raise StagingError(f"invalid {kind} {value!r}: expected letters, digits, '_', '.', '-'")
    return value


def _expire(stage: Stage, older_than_seconds: float, keep: Callable[[str], bool]) -> int:
    now = time.time()
    deleted = 0
    for load_id, modified in sorted(stage.loads().items()):
        if now - modified >= older_than_seconds and not keep(load_id):
            stage.delete_load(load_id)
            deleted += 1
    return deleted


@contextlib.contextmanager
def _staging(action: str, location: str) -> Iterator[None]:
    """Turn the OS's and pyarrow's errors into StagingError naming what failed where."""
    try:
        yield
    except StagingError:
        raise
    except (OSError, ValueError, NotImplementedError, pa.ArrowException) as exc:
        raise StagingError(f"staging: cannot {action} {location}: {exc}") from exc


def _check_rows(table: pa.Table, staged: StagedFile) -> pa.Table:
    if table.num_rows != staged.rows:
        raise StagingError(f"staging: {staged.location} has {table.num_rows} rows, {staged.rows} were staged")
    return table


def _encode(data: pa.Table, sink: str | pa.NativeFile) -> None:
    """Write `data` as one Parquet file; a failure part-way leaves a partial sink for the caller to drop."""
    writer = pq.ParquetWriter(sink, data.schema, compression=COMPRESSION)
    try:
        writer.write_table(data)
    finally:
        writer.close()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStage:
    """Loads staged under a folder: `<root>/<load_id>/<table>.parquet`."""

    def __init__(self, root: Path) -> None:
        # Absolute, so locations stay valid for an engine that resolves paths from elsewhere.
        self.root = Path(root).expanduser().absolute()

    def __repr__(self) -> str:
        return f"LocalStage({str(self.root)!r})"

    def describe(self) -> str:
        return str(self.root)

    def _load_dir(self, load_id: str) -> Path:
        return self.root / _name("load id", load_id)

    def put(self, load_id: str, table: str, data: pa.Table) -> StagedFile:
        folder = self._load_dir(load_id)
        final = folder / f"{_name('table', table)}{SUFFIX}"
        temp = folder / f"{_TEMP_PREFIX}{final.name}.{uuid.uuid4().hex}{_TEMP_SUFFIX}"
        with _staging("write", str(final)):
            new_folder = not folder.is_dir()
            folder.mkdir(parents=True, exist_ok=True)
            if new_folder:
                _fsync(folder.parent)
            try:
                _encode(data, str(temp))
                _fsync(temp)
                os.replace(temp, final)
            except BaseException:
                with contextlib.suppress(OSError):
                    temp.unlink()
                if new_folder:
                    # A load whose first table failed leaves no trace (not even in loads()).
                    with contextlib.suppress(OSError):
                        folder.rmdir()
                raise
            _fsync(folder)
            size = final.stat().st_size
        return StagedFile(load_id, table, str(final), data.num_rows, size)

    def read(self, staged: StagedFile) -> pa.Table:
        # One open handle for footer and pages: reopening by name could pair one version's footer
        # with the next version's pages if the file is replaced in between.
        with _staging("read", staged.location), pa.OSFile(staged.location, "rb") as src:
            table = pq.read_table(src)
        return _check_rows(table, staged)

    def delete_load(self, load_id: str) -> None:
        folder = self._load_dir(load_id)
        with _staging("delete", str(folder)):
            try:
                shutil.rmtree(folder)
            except FileNotFoundError:
                return
            _fsync(self.root)

    def loads(self) -> dict[str, float]:
        found: dict[str, float] = {}
        with _staging("list", str(self.root)):
            try:
                with os.scandir(self.root) as listed:
                    entries = list(listed)
            except FileNotFoundError:
                return found  # nothing staged yet
            for entry in entries:
                if not entry.is_dir(follow_symlinks=False) or not _NAME.fullmatch(entry.name):
                    continue
                if entry.name.startswith(_TEMP_PREFIX):
                    continue
                newest = entry.stat(follow_symlinks=False).st_mtime
                try:
                    with os.scandir(entry.path) as files:
                        for file in files:
                            newest = max(newest, file.stat(follow_symlinks=False).st_mtime)
                except FileNotFoundError:
                    continue  # deleted while we listed
                found[entry.name] = newest
        return found

    def expire(self, older_than_seconds: float, keep: Callable[[str], bool] = lambda _: False) -> int:
        return _expire(self, older_than_seconds, keep)

    def check(self) -> None:
        probe = self.root / f"{_TEMP_PREFIX}check.{uuid.uuid4().hex}{_TEMP_SUFFIX}"
        with _staging("write to", str(self.root)):
            self.root.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()


def _endpoint(endpoint: str) -> tuple[str | None, str]:
    """(endpoint_override, scheme) from a URL such as http://127.0.0.1:8333; empty means AWS itself."""
    if not endpoint:
        return None, "https"
    parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path not in {"", "/"}:
        raise StagingError(f"staging: warehouse.s3_endpoint {endpoint!r} is not an http(s)://host[:port] URL")
    return parts.netloc, parts.scheme


class S3Stage:
    """Loads staged in a bucket: `s3://<bucket>/<prefix>/<load_id>/<table>.parquet`."""

    def __init__(self, settings: S3Settings) -> None:
        if not settings.bucket:
            raise StagingError("staging: warehouse.staging is s3 but warehouse.s3_bucket is empty")
        if bool(settings.access_key_id) != bool(settings.secret_access_key):
            raise StagingError(
                "staging: set both warehouse.s3_access_key_id and warehouse.s3_secret_access_key, "
                "or neither (then AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the AWS chain are used)"
            )
        self.settings = settings
        self.bucket = settings.bucket
        self.prefix = settings.prefix.strip("/")
        self._base = f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket
        override, scheme = _endpoint(settings.endpoint)
        self._where = f"s3://{self._base}" + (f" at {settings.endpoint}" if settings.endpoint else "")
        with _staging("configure S3 for", self._where):
            self._fs = pafs.S3FileSystem(
                # None lets the AWS SDK find keys itself: environment, config files, instance role.
                access_key=settings.access_key_id or None,
                secret_key=settings.secret_access_key or None,
                region=settings.region or None,
                endpoint_override=override,
                scheme=scheme,
                # Small files go as one PUT; larger ones as a multipart upload, visible only once completed.
                allow_delayed_open=True,
                connect_timeout=5,
                request_timeout=60,
            )

    def __repr__(self) -> str:
        return f"S3Stage({self._where!r})"

    def describe(self) -> str:
        return f"s3://{self._base}"

    def _load_path(self, load_id: str) -> str:
        return f"{self._base}/{_name('load id', load_id)}"

    def _require_bucket(self) -> None:
        info = self._fs.get_file_info(self.bucket)
        if info.type != pafs.FileType.Directory:
            raise StagingError(f"staging: bucket {self.bucket!r} does not exist ({self._where})")

    def put(self, load_id: str, table: str, data: pa.Table) -> StagedFile:
        path = f"{self._load_path(load_id)}/{_name('table', table)}{SUFFIX}"
        location = f"s3://{path}"
        with _staging("write", f"{location} ({self._where})"):
            sink = pa.BufferOutputStream()
            _encode(data, sink)
            body = sink.getvalue()
            with self._fs.open_output_stream(path) as out:
                out.write(body)
        return StagedFile(load_id, table, location, data.num_rows, body.size)

    def read(self, staged: StagedFile) -> pa.Table:
        if not staged.location.startswith("s3://"):
            raise StagingError(f"staging: {staged.location} is not in {self._where}")
        path = staged.location.removeprefix("s3://")
        with _staging("read", f"{staged.location} ({self._where})"):
            # One GET for the whole object: ranged reads could mix two versions of a replaced object.
            with self._fs.open_input_stream(path) as src:
                body = src.read_buffer()
            table = pq.read_table(pa.BufferReader(body))
        return _check_rows(table, staged)

    def delete_load(self, load_id: str) -> None:
        path = self._load_path(load_id)
        with _staging("delete", f"s3://{path} ({self._where})"):
            try:
                self._fs.delete_dir(path)
            except FileNotFoundError:
                self._require_bucket()  # a missing load is fine, a missing bucket is not

    def loads(self) -> dict[str, float]:
        found: dict[str, float] = {}
        with _staging("list", self._where):
            selector = pafs.FileSelector(self._base, recursive=True, allow_not_found=True)
            infos = self._fs.get_file_info(selector)
            if not infos:
                self._require_bucket()
            start = len(self._base) + 1
            for info in infos:
                if info.type != pafs.FileType.File or info.mtime is None:
                    continue
                parts = info.path[start:].split("/")
                if len(parts) != 2 or not _NAME.fullmatch(parts[0]):
                    continue
                modified = info.mtime.timestamp()
                found[parts[0]] = max(found.get(parts[0], modified), modified)
        return found

    def expire(self, older_than_seconds: float, keep: Callable[[str], bool] = lambda _: False) -> int:
        return _expire(self, older_than_seconds, keep)

    def check(self) -> None:
        with _staging("reach", self._where):
            self._require_bucket()


def open_stage(settings: WarehouseSettings) -> Stage:
    """The stage the settings choose (`warehouse.staging`)."""
    if settings.staging == "local":
        return LocalStage(settings.staging_dir)
    if settings.staging == "s3":
        if settings.s3 is None:
            raise StagingError("staging: warehouse.staging is s3 but no warehouse.s3_* settings were given")
        return S3Stage(settings.s3)
    raise StagingError(f"staging: unknown warehouse.staging {settings.staging!r} (local or s3)")
