"""The staging store against a real folder and a real S3 server (SeaweedFS with credentials enforced)."""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from headwater.warehouse.errors import StagingError
from headwater.warehouse.settings import S3Settings, WarehouseSettings
from headwater.warehouse.staging import LocalStage, S3Stage, Stage, StagedFile, open_stage
from tests.warehouse.s3server import S3Endpoint, free_ports

SENT = [
    datetime(2026, 11, 24, 10, 15, 0, 123000, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    None,
    datetime(2038, 1, 19, 3, 14, 8, 999000, tzinfo=UTC),
]
SAMPLE = pa.table(
    {
        "id": pa.array([1, -2, 2**62, None], pa.int64()),
        "amount": pa.array([1.5, -0.25, None, 1e300], pa.float64()),
        "flag": pa.array([True, False, None, True], pa.bool_()),
        "name": pa.array(["Zoë ☃ 東京", "", None, "emoji 🎉 \u0000 end"], pa.string()),
        "sent_at": pa.array(SENT, pa.timestamp("ms", tz="UTC")),
    }
)


def small(value: int, rows: int = 3) -> pa.Table:
    return pa.table({"v": pa.array([value] * rows, pa.int64())})


def fails_midway() -> pa.Table:
    """A table whose Parquet write starts, then fails on the last rows: nulls in a non-null column."""
    schema = pa.schema([pa.field("v", pa.int64(), nullable=False)])
    column = pa.chunked_array([pa.array(range(200_000), pa.int64()), pa.array([1, None], pa.int64())])
    return pa.Table.from_arrays([column], schema=schema)


@pytest.fixture
def local_stage(tmp_path: Path) -> LocalStage:
    return LocalStage(tmp_path / "stage")


@pytest.fixture
def s3_stage(s3_server: S3Endpoint) -> S3Stage:
    # A prefix of its own per test: the session's one bucket is shared.
    return S3Stage(s3_server.settings(prefix=f"t-{uuid.uuid4().hex[:12]}"))


@pytest.fixture(params=["local", "s3"])
def stage(request: pytest.FixtureRequest) -> Stage:
    name = "local_stage" if request.param == "local" else "s3_stage"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


def listing(stage: Stage, load_id: str) -> list[str]:
    """Every name under a load, temporary or not, straight from the folder or the bucket."""
    if isinstance(stage, LocalStage):
        folder = stage.root / load_id
        return sorted(os.listdir(folder)) if folder.exists() else []
    assert isinstance(stage, S3Stage)
    base = f"{stage.describe().removeprefix('s3://')}/{load_id}"
    infos = stage._fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    return sorted(i.base_name for i in infos if i.type == pafs.FileType.File)


def stored_size(stage: Stage, staged: StagedFile) -> int:
    if isinstance(stage, LocalStage):
        return Path(staged.location).stat().st_size
    assert isinstance(stage, S3Stage)
    return int(stage._fs.get_file_info(staged.location.removeprefix("s3://")).size)


def stored_compression(stage: Stage, staged: StagedFile) -> set[str]:
    if isinstance(stage, LocalStage):
        meta = pq.ParquetFile(staged.location).metadata
    else:
        assert isinstance(stage, S3Stage)
        with stage._fs.open_input_file(staged.location.removeprefix("s3://")) as src:
            meta = pq.ParquetFile(src).metadata
    return {
        meta.row_group(g).column(c).compression
        for g in range(meta.num_row_groups)
        for c in range(meta.num_columns)
    }


# --- round trip -------------------------------------------------------------------------------------


def test_typed_table_round_trips(stage: Stage) -> None:
    staged = stage.put("20261124T101500123Z-0007", "tracks", SAMPLE)

    assert (staged.load_id, staged.table, staged.rows) == ("20261124T101500123Z-0007", "tracks", 4)
    if isinstance(stage, LocalStage):
        assert staged.location == str(stage.root / "20261124T101500123Z-0007" / "tracks.parquet")
    else:
        assert staged.location == f"{stage.describe()}/20261124T101500123Z-0007/tracks.parquet"
        assert staged.location.startswith("s3://headwater-test/t-")
    assert staged.size == stored_size(stage, staged)
    assert stored_compression(stage, staged) == {"ZSTD"}

    back = stage.read(staged)
    assert back.schema.equals(SAMPLE.schema)
    assert back.schema.field("sent_at").type == pa.timestamp("ms", tz="UTC")
    assert back.column("name").to_pylist() == ["Zoë ☃ 東京", "", None, "emoji 🎉 \u0000 end"]
    assert back.column("name").null_count == 1  # "" stays a value, only None is null
    assert back.column("id").to_pylist() == [1, -2, 2**62, None]
    assert back.column("amount").to_pylist() == [1.5, -0.25, None, 1e300]
    assert back.column("flag").to_pylist() == [True, False, None, True]
    assert back.column("sent_at").to_pylist() == SENT
    assert back.equals(SAMPLE)


def test_empty_table_round_trips(stage: Stage) -> None:
    empty = SAMPLE.slice(0, 0)
    staged = stage.put("L-empty", "pages", empty)
    assert staged.rows == 0
    back = stage.read(staged)
    assert back.num_rows == 0 and back.schema.equals(SAMPLE.schema)


def test_put_again_replaces_the_table(stage: Stage) -> None:
    stage.put("L1", "t", small(1, rows=5))
    second = stage.put("L1", "t", small(2, rows=2))
    assert stage.read(second).column("v").to_pylist() == [2, 2]
    assert listing(stage, "L1") == ["t.parquet"]


def test_large_table_round_trips(stage: Stage, request: pytest.FixtureRequest) -> None:
    rows = 1_500_000
    # Random 64-bit values: zstd cannot shrink them, so the Parquet file is about 12 MiB.
    values = pa.Array.from_buffers(pa.int64(), rows, [None, pa.py_buffer(os.urandom(8 * rows))])
    big = pa.table({"v": values, "n": pa.array(range(rows), pa.int64())})

    staged = stage.put("L-big", "big", big)

    assert staged.size > 8 * 1024 * 1024
    assert staged.size == stored_size(stage, staged)
    assert stage.read(staged).equals(big)
    if isinstance(stage, S3Stage):
        # The path worth testing on S3: the object went up as a multipart upload (pyarrow's parts
        # are 10 MiB), while a small table goes as one PUT.
        s3_server: S3Endpoint = request.getfixturevalue("s3_server")
        key = staged.location.removeprefix(f"s3://{s3_server.bucket}/")
        assert s3_server.multipart_parts(key) >= 2
        tiny = stage.put("L-big", "tiny", small(1))
        assert s3_server.multipart_parts(tiny.location.removeprefix(f"s3://{s3_server.bucket}/")) == 0


def test_read_refuses_a_file_whose_row_count_differs(stage: Stage) -> None:
    staged = stage.put("L1", "t", small(1, rows=3))
    stage.put("L1", "t", small(2, rows=4))
    with pytest.raises(StagingError, match="has 4 rows, 3 were staged"):
        stage.read(staged)


def test_read_of_a_deleted_file_is_a_staging_error(stage: Stage) -> None:
    staged = stage.put("L1", "t", small(1))
    stage.delete_load("L1")
    with pytest.raises(StagingError, match="cannot read") as caught:
        stage.read(staged)
    assert staged.location in str(caught.value)


# --- atomicity ---------------------------------------------------------------------------------------


def test_put_failing_midway_leaves_no_file_and_the_old_one_intact(stage: Stage) -> None:
    first = stage.put("L1", "events", small(7, rows=3))

    with pytest.raises(StagingError, match="non-nullable") as caught:
        stage.put("L1", "events", fails_midway())
    assert "L1/events.parquet" in str(caught.value)

    assert listing(stage, "L1") == ["events.parquet"]  # no temporary file left behind
    assert stage.read(first).column("v").to_pylist() == [7, 7, 7]


def test_put_failing_midway_on_a_new_table_shows_nothing(stage: Stage) -> None:
    with pytest.raises(StagingError):
        stage.put("L2", "events", fails_midway())
    assert listing(stage, "L2") == []
    assert "L2" not in stage.loads()


def test_local_put_writes_a_temporary_file_and_cleans_it_when_the_rename_fails(
    local_stage: LocalStage,
) -> None:
    # The final name is taken by a non-empty folder: the write succeeds, the rename cannot.
    blocker = local_stage.root / "L1" / "events.parquet"
    blocker.mkdir(parents=True)
    (blocker / "keep").write_text("x")

    with pytest.raises(StagingError, match="cannot write"):
        local_stage.put("L1", "events", small(1))

    assert sorted(os.listdir(local_stage.root / "L1")) == ["events.parquet"]
    assert blocker.is_dir() and (blocker / "keep").read_text() == "x"


def test_local_reader_never_sees_a_partial_file(local_stage: LocalStage) -> None:
    # Two versions of one table are put over each other while a reader reads it: every read must be
    # one whole version (a torn file fails to parse or mixes the versions' values).
    rows = 60_000
    versions = [
        pa.table({"v": pa.array([k] * rows, pa.int64()), "s": pa.array([str(k) * (k * 7)] * rows)})
        for k in (1, 2)
    ]
    staged = local_stage.put("L1", "t", versions[0])
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            i = 1
            while not stop.is_set():
                local_stage.put("L1", "t", versions[i % 2])
                i += 1
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    seen = set()
    try:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            table = local_stage.read(staged)
            value = table.column("v")[0].as_py()
            assert table.equals(versions[value - 1])
            seen.add(value)
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert seen == {1, 2}
    assert os.listdir(local_stage.root / "L1") == ["t.parquet"]


# --- loads, delete, expire ---------------------------------------------------------------------------


def test_loads_lists_each_load_with_its_newest_time(stage: Stage) -> None:
    assert stage.loads() == {}
    before = time.time()
    stage.put("L1", "a", small(1))
    stage.put("L1", "b", small(2))
    stage.put("L10", "a", small(3))
    after = time.time()

    found = stage.loads()
    assert sorted(found) == ["L1", "L10"]
    for modified in found.values():
        # S3 keeps whole seconds.
        assert int(before) - 1 <= modified <= after + 1


def test_delete_load_removes_only_that_load(stage: Stage) -> None:
    a = stage.put("L1", "a", small(1))
    stage.put("L1", "b", small(2))
    other = stage.put("L10", "a", small(3))  # shares "L1" as a name prefix: must survive
    stage.put("L2", "a", small(4))

    stage.delete_load("L1")

    assert sorted(stage.loads()) == ["L10", "L2"]
    assert listing(stage, "L1") == []
    assert stage.read(other).column("v").to_pylist() == [3, 3, 3]
    with pytest.raises(StagingError):
        stage.read(a)
    stage.delete_load("L1")  # again: nothing there, no error
    stage.delete_load("never-was")


@pytest.mark.parametrize("stage", ["local", pytest.param("s3", marks=pytest.mark.slow)], indirect=True)
def test_expire_deletes_old_loads_except_kept_ones(stage: Stage) -> None:
    for load_id in ("old-1", "old-2", "old-kept"):
        stage.put(load_id, "t", small(1))
    if isinstance(stage, LocalStage):
        hour_ago = time.time() - 3600
        for folder in stage.root.iterdir():
            for path in (*folder.iterdir(), folder):
                os.utime(path, (hour_ago, hour_ago))
        threshold = 1800.0
    else:
        time.sleep(2.5)  # S3 modification times cannot be set; let the old loads age instead
        threshold = 2.0
    stage.put("new", "t", small(2))

    deleted = stage.expire(threshold, keep=lambda load_id: load_id == "old-kept")

    assert deleted == 2
    assert sorted(stage.loads()) == ["new", "old-kept"]
    assert stage.expire(threshold, keep=lambda load_id: load_id == "old-kept") == 0
    assert stage.expire(0) == 2  # everything is at least 0 s old
    assert stage.loads() == {}


def test_names_that_would_leave_the_stage_are_refused(local_stage: LocalStage, tmp_path: Path) -> None:
    for load_id, table in (("../escape", "t"), ("L1", "a/b"), ("..", "t"), ("L1", ""), ("", "t")):
        with pytest.raises(StagingError, match="invalid"):
            local_stage.put(load_id, table, small(1))
    with pytest.raises(StagingError, match="invalid"):
        local_stage.delete_load("../stage")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# --- check, describe, failures ----------------------------------------------------------------------


def test_local_check_and_describe(tmp_path: Path) -> None:
    stage = LocalStage(tmp_path / "a" / "b")
    assert stage.describe() == str(tmp_path / "a" / "b")
    stage.check()  # creates the folder
    assert (tmp_path / "a" / "b").is_dir()
    assert os.listdir(tmp_path / "a" / "b") == []  # the probe is gone


def test_local_stage_under_a_file_fails_with_staging_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    stage = LocalStage(tmp_path / "file" / "stage")
    with pytest.raises(StagingError, match=re.escape(str(tmp_path / "file" / "stage"))):
        stage.check()
    with pytest.raises(StagingError, match="cannot write"):
        stage.put("L1", "t", small(1))
    with pytest.raises(StagingError, match="cannot list"):
        stage.loads()


def test_s3_check_passes_and_describes(s3_stage: S3Stage) -> None:
    s3_stage.check()
    assert s3_stage.describe().startswith("s3://headwater-test/t-")


def test_s3_wrong_secret_is_refused(s3_server: S3Endpoint) -> None:
    prefix = f"t-{uuid.uuid4().hex[:12]}"
    wrong = S3Stage(s3_server.settings(prefix=prefix, secret_access_key="not-the-secret"))
    with pytest.raises(StagingError, match=r"ACCESS_DENIED|SignatureDoesNotMatch|Access Denied") as caught:
        wrong.check()
    assert "s3://headwater-test/" + prefix in str(caught.value)
    with pytest.raises(StagingError, match="cannot write"):
        wrong.put("L1", "t", small(1))
    with pytest.raises(StagingError):
        wrong.loads()
    # Nothing got in: the right key sees an empty prefix.
    assert S3Stage(s3_server.settings(prefix=prefix)).loads() == {}


def test_s3_unknown_access_key_is_refused(s3_server: S3Endpoint) -> None:
    stranger = S3Stage(s3_server.settings(access_key_id="someone-else", secret_access_key="x" * 20))
    with pytest.raises(StagingError):
        stranger.check()


def test_s3_missing_bucket_is_a_staging_error(s3_server: S3Endpoint) -> None:
    stage = S3Stage(s3_server.settings(bucket="no-such-bucket"))
    with pytest.raises(StagingError, match=r"no-such-bucket.*does not exist"):
        stage.check()
    with pytest.raises(StagingError, match=re.escape("s3://no-such-bucket/headwater-staging/L1/t.parquet")):
        stage.put("L1", "t", small(1))
    with pytest.raises(StagingError, match="does not exist"):
        stage.loads()
    with pytest.raises(StagingError, match="does not exist"):
        stage.delete_load("L1")
    assert "no-such-bucket" not in {
        i.base_name for i in s3_server.filesystem().get_file_info(pafs.FileSelector("", recursive=False))
    }


def test_s3_unreachable_endpoint_is_a_staging_error() -> None:
    (port,) = free_ports(1)  # nothing listens there
    stage = S3Stage(
        S3Settings(bucket="b", endpoint=f"http://127.0.0.1:{port}", access_key_id="k", secret_access_key="s")
    )
    with pytest.raises(StagingError, match=re.escape(f"127.0.0.1:{port}")):
        stage.check()


def test_s3_keys_from_the_environment(s3_server: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask an instance-metadata address
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    settings = s3_server.settings(prefix=f"t-{uuid.uuid4().hex[:12]}", access_key_id="", secret_access_key="")
    stage = S3Stage(settings)
    stage.check()
    assert stage.read(stage.put("L1", "t", small(5))).column("v").to_pylist() == [5, 5, 5]

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    with pytest.raises(StagingError):
        S3Stage(settings).check()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bucket": ""}, "s3_bucket is empty"),
        ({"secret_access_key": ""}, "both"),
        ({"access_key_id": ""}, "both"),
        ({"endpoint": "ftp://127.0.0.1:1"}, "not an http"),
        ({"endpoint": "http://127.0.0.1:1/some/path"}, "not an http"),
    ],
)
def test_s3_settings_that_cannot_work_are_refused(changes: dict[str, str], message: str) -> None:
    base = {"bucket": "b", "endpoint": "http://127.0.0.1:1", "access_key_id": "k", "secret_access_key": "s"}
    with pytest.raises(StagingError, match=message):
        S3Stage(S3Settings(**{**base, **changes}))


def test_s3_describe_without_prefix_and_endpoint_without_scheme() -> None:
    stage = S3Stage(S3Settings(bucket="b", prefix="/", endpoint="127.0.0.1:1"))
    assert stage.describe() == "s3://b"


# --- open_stage ---------------------------------------------------------------------------------------


def test_open_stage_local(tmp_path: Path) -> None:
    stage = open_stage(WarehouseSettings(staging="local", staging_dir=tmp_path / "st"))
    assert isinstance(stage, LocalStage)
    assert stage.describe() == str(tmp_path / "st")


def test_open_stage_s3(s3_server: S3Endpoint) -> None:
    stage = open_stage(WarehouseSettings(staging="s3", s3=s3_server.settings(prefix="p/q/")))
    assert isinstance(stage, S3Stage)
    assert stage.describe() == "s3://headwater-test/p/q"
    stage.check()


@pytest.mark.parametrize("settings", [WarehouseSettings(staging="s3"), WarehouseSettings(staging="gcs")])
def test_open_stage_refuses_incomplete_settings(settings: WarehouseSettings) -> None:
    with pytest.raises(StagingError):
        open_stage(settings)
