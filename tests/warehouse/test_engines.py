"""The warehouse engines against real databases: a DuckDB file and a fresh PostgreSQL database each.

Expected values are worked out by hand: the users merge follows contract §1.5 (per column, the
latest non-null value by received_at over the old row and the staged rows).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
import psycopg
import pyarrow as pa
import pytest

from headwater.warehouse.engines import render as render_module
from headwater.warehouse.engines.base import Engine, QueryResult
from headwater.warehouse.engines.duckdb import DuckDBEngine
from headwater.warehouse.engines.open import open_engine
from headwater.warehouse.engines.postgres import PostgresEngine
from headwater.warehouse.engines.render import QueryError, QueryRefused, quote_ident, render
from headwater.warehouse.errors import RowsRefused, WarehouseError, WarehouseUnavailable
from headwater.warehouse.settings import WarehouseSettings
from tests.warehouse import engines_fixtures

engine_kind = engines_fixtures.engine_kind
engine = engines_fixtures.engine
fresh_engine = engines_fixtures.fresh_engine
fresh_duckdb = engines_fixtures.fresh_duckdb
fresh_postgres_dsn = engines_fixtures.fresh_postgres_dsn

MS = pa.timestamp("ms", tz="UTC")
T = TypeVar("T")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def ms(text: str) -> int:
    return int(at(text).timestamp() * 1000)


def in_thread(call: Callable[[], T]) -> T:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result(timeout=60)


def tracks_table(engine: Engine, ids: list[str]) -> None:
    engine.create_namespace("events")
    engine.create_table("events", "tracks", {"id": "string"})
    engine.append("events", "tracks", pa.table({"id": pa.array(ids, pa.string())}))


def count(engine: Engine, table: str = "events.tracks") -> int:
    return int(engine.fetch(engine.sql(f"SELECT count(*) FROM {table}"))[0][0])


# --- render ----------------------------------------------------------------------------------

UPSERT = (
    "INSERT INTO hw.offsets (source, part, pos, note) VALUES (:source, :part, :pos, :note) "
    "ON CONFLICT (source, part) DO UPDATE SET pos = EXCLUDED.pos, note = EXCLUDED.note"
)
OFFSETS_DDL = (
    "CREATE TABLE IF NOT EXISTS hw.offsets (source text NOT NULL, part bigint NOT NULL, "
    "pos bigint NOT NULL, note text, meta jsonb, updated_at timestamptz, PRIMARY KEY (source, part))"
)
SELECT_OFFSETS = (
    "SELECT part, pos, note FROM hw.offsets "
    "WHERE source = :source AND source LIKE 'web%' AND pos >= :min ORDER BY part"
)


def test_render_placeholders_for_each_driver():
    assert render(UPSERT, "postgres") == (
        "INSERT INTO hw.offsets (source, part, pos, note) VALUES "
        "(%(source)s, %(part)s, %(pos)s, %(note)s) ON CONFLICT(source, part) DO UPDATE SET "
        "pos = EXCLUDED.pos, note = EXCLUDED.note"
    )
    assert render(UPSERT, "duckdb") == (
        "INSERT INTO hw.offsets (source, part, pos, note) VALUES ($source, $part, $pos, $note) "
        "ON CONFLICT(source, part) DO UPDATE SET pos = EXCLUDED.pos, note = EXCLUDED.note"
    )
    # Literal % is doubled for psycopg only; ':x' inside a string literal is not a placeholder.
    statement = "SELECT a % 2, 'x:y%', ':nope' FROM t WHERE b = :b AND c = :b"
    assert (
        render(statement, "postgres")
        == "SELECT a %% 2, 'x:y%%', ':nope' FROM t WHERE b = %(b)s AND c = %(b)s"
    )
    assert render(statement, "duckdb") == "SELECT a % 2, 'x:y%', ':nope' FROM t WHERE b = $b AND c = $b"
    # DuckDB gets its own type names.
    assert "meta JSON" in render(OFFSETS_DDL, "duckdb")
    assert "meta JSONB" in render(OFFSETS_DDL, "postgres")


def test_render_is_cached_and_refuses_what_cannot_bind_alike():
    assert render(SELECT_OFFSETS, "duckdb") is render(SELECT_OFFSETS, "duckdb")
    with pytest.raises(ValueError, match="exactly one statement"):
        render("SELECT 1; SELECT 2", "postgres")
    with pytest.raises(ValueError, match="placeholders must be :name"):
        render("SELECT * FROM t WHERE a = ?", "duckdb")
    with pytest.raises(ValueError, match="no placeholder style"):
        render("SELECT 1", "snowflake")


def test_quote_ident():
    assert quote_ident("tracks") == '"tracks"'
    assert quote_ident('say "hi"') == '"say ""hi"""'
    for bad in ("", "a\x00b"):
        with pytest.raises(RowsRefused):
            quote_ident(bad)


def test_rendered_generic_statements_run_on_the_engine(engine):
    engine.create_namespace("hw")
    engine.execute(engine.sql(OFFSETS_DDL))
    engine.execute(engine.sql(OFFSETS_DDL))  # IF NOT EXISTS: a second run is a no-op
    upsert = engine.sql(UPSERT)
    with engine.transaction():
        engine.execute(upsert, {"source": "web%", "part": 0, "pos": 10, "note": "50% done"})
        engine.execute(upsert, {"source": "web%", "part": 1, "pos": 5, "note": None})
        engine.execute(upsert, {"source": "web%", "part": 0, "pos": 42, "note": "it's: :pos %s"})
        engine.execute(upsert, {"source": "app", "part": 0, "pos": 7, "note": None})
    rows = engine.fetch(engine.sql(SELECT_OFFSETS), {"source": "web%", "min": 0})
    assert rows == [(0, 42, "it's: :pos %s"), (1, 5, None)]
    assert engine.fetch(engine.sql(SELECT_OFFSETS), {"source": "web%", "min": 6}) == [
        (0, 42, "it's: :pos %s")
    ]
    assert engine.fetch(engine.sql("SELECT source FROM hw.offsets WHERE note LIKE 'it''s: :pos %'")) == [
        ("web%",)
    ]


# --- schema ----------------------------------------------------------------------------------

EVERY_TYPE = {
    "i": "int",
    "f": "float",
    "s": "string",
    "b": "boolean",
    "ts": "datetime",
    "j": "json",
}


def test_schema_round_trip_with_every_type(engine):
    assert engine.read_schema("events") == {}
    engine.create_namespace("events")
    engine.create_namespace("events")
    engine.create_table("events", "all_types", EVERY_TYPE)
    engine.create_table("events", "all_types", {"other": "int"})  # exists: left as it is
    engine.create_table("events", "tracks", {"id": "string"})
    engine.add_columns("events", "tracks", {"n": "int", "payload": "json"})
    engine.add_columns("events", "tracks", {})
    engine.create_namespace("elsewhere")
    engine.create_table("elsewhere", "ignored", {"x": "int"})
    assert engine.read_schema("events") == {
        "all_types": EVERY_TYPE,
        "tracks": {"id": "string", "n": "int", "payload": "json"},
    }
    # Column order is the table's.
    assert list(engine.read_schema("events")["all_types"]) == ["i", "f", "s", "b", "ts", "j"]


def test_names_from_user_data_are_quoted(engine):
    namespace, table = 'Ev"ents %x', 'my "table"; drop'
    columns = {"a b": "string", 'c"d': "int", "e%f": "float", "ünï": "boolean"}
    engine.create_namespace(namespace)
    engine.create_table(namespace, table, columns)
    engine.add_columns(namespace, table, {"g;--": "string"})
    data = pa.table({"a b": ["x"], 'c"d': [1], "e%f": [0.5], "ünï": [True], "g;--": ["y"]})
    with engine.transaction():
        engine.append(namespace, table, data)
    assert engine.read_schema(namespace) == {table: {**columns, "g;--": "string"}}
    target = f"{quote_ident(namespace)}.{quote_ident(table)}"
    selected = ", ".join(quote_ident(name) for name in data.column_names)
    assert engine.fetch(engine.sql(f"SELECT {selected} FROM {target}")) == [("x", 1, 0.5, True, "y")]


# --- append ----------------------------------------------------------------------------------

VALUE_COLUMNS: dict[str, Any] = {
    "k": "int",
    "s": "string",
    "i": "int",
    "f": "float",
    "b": "boolean",
    "ts": "datetime",
    "j": "json",
    "missing": "string",
}
TRICKY = 'quote " comma , newline \n crlf \r\n tab \t backslash \\ end'
VALUES: list[tuple[Any, ...]] = [
    # k, s, i, f, b, ts, j
    (1, "plain", 1, 0.1, True, "2024-01-02T03:04:05.678", '{"a": [1, "x"]}'),
    (2, "", 0, 0.30000000000000004, False, "1969-12-31T23:59:59.999", '"text"'),
    (3, None, None, None, None, None, None),
    (4, TRICKY, -9223372036854775808, 1e300, True, "9999-12-31T23:59:59.999", "[]"),
    (5, "ünïcødé 日本語 🎉", 9223372036854775807, 5e-324, False, "1970-01-01T00:00:00.000", '{"q": "a\\"b"}'),
    (6, "\\N", 42, -2.5, True, "2000-02-29T12:00:00.001", "null"),
    (7, "\\.", 7, 123456789.123456789, False, "2024-06-30T23:59:59.999", '{"": ""}'),
    (8, "  spaced  ", 8, 1e-300, True, "2024-01-01T00:00:00.000", "1.5"),
    (9, '""', 9, 0.0, False, "2024-01-01T00:00:00.000", '"ünï \\n"'),
]


def values_table(rows: list[tuple[Any, ...]]) -> pa.Table:
    columns = list(zip(*rows, strict=True))
    return pa.table(
        {
            "k": pa.array(columns[0], pa.int64()),
            "s": pa.array(columns[1], pa.string()),
            "i": pa.array(columns[2], pa.int64()),
            "f": pa.array(columns[3], pa.float64()),
            "b": pa.array(columns[4], pa.bool_()),
            "ts": pa.array([None if v is None else ms(v) for v in columns[5]], MS),
            "j": pa.array(columns[6], pa.string()),
        }
    )


def read_values(engine: Engine) -> list[tuple[Any, ...]]:
    rows = engine.fetch(
        engine.sql(
            "SELECT k, s, i, CAST(f AS double precision), b, ts, CAST(j AS text), missing "
            "FROM events.vals ORDER BY k"
        )
    )
    return [(*row[:6], None if row[6] is None else orjson.loads(row[6]), row[7]) for row in rows]


def test_append_round_trips_values_exactly(engine):
    engine.create_namespace("events")
    engine.create_table("events", "vals", VALUE_COLUMNS)
    with engine.transaction():
        engine.append("events", "vals", values_table(VALUES))
        engine.append("events", "vals", values_table(VALUES).slice(0, 0))  # no rows: nothing to do
    expected = [
        (k, s, i, f, b, None if ts is None else at(ts), None if j is None else orjson.loads(j), None)
        for k, s, i, f, b, ts, j in VALUES
    ]
    assert read_values(engine) == expected
    # NULL and the empty string stay apart; "null" JSON is a JSON value, not SQL NULL.
    assert engine.fetch(engine.sql("SELECT k FROM events.vals WHERE s IS NULL")) == [(3,)]
    assert engine.fetch(engine.sql("SELECT k FROM events.vals WHERE s = ''")) == [(2,)]
    assert engine.fetch(engine.sql("SELECT k FROM events.vals WHERE j IS NULL")) == [(3,)]


def test_append_outside_a_transaction_commits_by_itself(engine):
    engine.create_namespace("events")
    engine.create_table("events", "vals", VALUE_COLUMNS)
    engine.append("events", "vals", values_table(VALUES[:2]))
    assert count(engine, "events.vals") == 2


def test_postgres_append_does_not_depend_on_the_time_zone_the_dsn_asks_for():
    with fresh_postgres_dsn() as dsn:
        engine = PostgresEngine(f"{dsn}?options=-c%20TimeZone%3DAmerica/New_York")
        engine.open()
        try:
            engine.create_namespace("events")
            engine.create_table("events", "vals", VALUE_COLUMNS)
            engine.append("events", "vals", values_table(VALUES[:2]))
            assert [row[5] for row in read_values(engine)] == [at(VALUES[0][5]), at(VALUES[1][5])]
        finally:
            engine.close()
        with psycopg.connect(dsn) as conn:
            conn.execute("SET TIME ZONE 'Asia/Tokyo'")
            stored = conn.execute("SELECT ts FROM events.vals ORDER BY k").fetchall()
        assert [row[0] for row in stored] == [at(VALUES[0][5]), at(VALUES[1][5])]


# --- transactions ----------------------------------------------------------------------------


def test_rollback_undoes_rows_and_ddl(engine):
    tracks_table(engine, ["m1"])
    with pytest.raises(RuntimeError, match="boom"), engine.transaction():
        engine.create_table("events", "order_completed", {"id": "string", "revenue": "float"})
        engine.add_columns("events", "tracks", {"event": "string"})
        engine.append("events", "tracks", pa.table({"id": ["m2", "m3"], "event": ["a", "b"]}))
        assert count(engine) == 3
        raise RuntimeError("boom")
    assert engine.read_schema("events") == {"tracks": {"id": "string"}}
    assert count(engine) == 1
    with engine.transaction():
        engine.create_table("events", "order_completed", {"id": "string", "revenue": "float"})
        engine.add_columns("events", "tracks", {"event": "string"})
        engine.append("events", "tracks", pa.table({"id": ["m2"], "event": ["a"]}))
    assert engine.read_schema("events") == {
        "order_completed": {"id": "string", "revenue": "float"},
        "tracks": {"id": "string", "event": "string"},
    }
    assert count(engine) == 2


def test_registered_table_lives_until_the_transaction_ends(engine):
    tracks_table(engine, ["m1", "m2", "m3"])
    staged = pa.table({"id": ["m2", "m3", "m9"], "note": ['{"a": 1}', None, "x"]})
    with engine.transaction():
        engine.register("staged_tracks", staged)
        engine.execute(engine.sql("DELETE FROM events.tracks WHERE id IN (SELECT id FROM staged_tracks)"))
        assert engine.fetch(engine.sql("SELECT count(*) FROM staged_tracks WHERE note IS NULL")) == [(1,)]
    assert engine.fetch(engine.sql("SELECT id FROM events.tracks")) == [("m1",)]
    with pytest.raises(WarehouseError), engine.transaction():
        engine.fetch(engine.sql("SELECT count(*) FROM staged_tracks"))
    with engine.transaction():  # the name is free again, and registering it twice replaces it
        engine.register("staged_tracks", staged.slice(0, 1))
        assert engine.fetch(engine.sql("SELECT id FROM staged_tracks")) == [("m2",)]
        engine.register("staged_tracks", pa.table({"id": ["m7", "m8"], "n": [1, 2]}))
        replaced = engine.fetch(engine.sql("SELECT id, n FROM staged_tracks ORDER BY id"))
        assert replaced == [("m7", 1), ("m8", 2)]
    with pytest.raises(RuntimeError, match="open transaction"):
        engine.register("outside", staged)


# --- users merge -----------------------------------------------------------------------------

USERS_COLUMNS: dict[str, Any] = {
    "id": "string",
    "received_at": "datetime",
    "email": "string",
    "plan": "string",
    "name": "string",
    "company": "string",
    "score": "float",
    "age": "int",
    "vip": "boolean",
    "traits": "json",
}
T1, T2, T3, T4, T5, T8, T9 = (
    "2024-01-01T00:00:00.001",
    "2024-01-02T00:00:00.000",
    "2024-01-03T00:00:00.000",
    "2024-01-04T00:00:00.000",
    "2024-01-05T00:00:00.000",
    "2024-01-08T00:00:00.000",
    "2024-01-09T00:00:00.000",
)


def users_rows(rows: list[dict[str, Any]], columns: list[str]) -> pa.Table:
    kinds = {"string": pa.string(), "datetime": MS, "float": pa.float64(), "int": pa.int64()}
    kinds |= {"boolean": pa.bool_(), "json": pa.string()}
    arrays = {}
    for name in columns:
        values = [row.get(name) for row in rows]
        if name == "received_at":
            values = [None if v is None else ms(v) for v in values]
        arrays[name] = pa.array(values, kinds[USERS_COLUMNS[name]])
    return pa.table(arrays)


def read_users(engine: Engine) -> list[tuple[Any, ...]]:
    rows = engine.fetch(
        engine.sql(
            "SELECT id, received_at, email, plan, name, company, CAST(score AS double precision), age, vip, "
            "CAST(traits AS text) FROM events.users ORDER BY id"
        )
    )
    return [(*row[:9], None if row[9] is None else orjson.loads(row[9])) for row in rows]


def test_merge_users_keeps_the_latest_non_null_value_per_column(engine):
    engine.create_namespace("events")
    engine.create_table("events", "users", USERS_COLUMNS)
    existing = [
        {"id": "u1", "email": "a@x", "plan": "free", "company": "Acme", "score": 1.5, "age": 30}
        | {"vip": False, "traits": '{"k": 1}', "received_at": T1},
        {"id": "u3", "email": "c@x", "plan": "free", "received_at": T1},
        {"id": "u4", "plan": "new", "received_at": T9},
        {"id": "u5", "plan": "old5", "email": "five@x", "received_at": T5},
    ]
    engine.append("events", "users", users_rows(existing, list(USERS_COLUMNS)))
    staged_columns = ["id", "received_at", "email", "plan", "name", "score", "age", "vip", "traits"]
    staged = [
        # The contract's example: a later identify with email NULL does not erase a@x.
        {"id": "u1", "plan": "pro", "email": None, "received_at": T2},
        {"id": "u1", "plan": None, "name": "Ann", "score": 2.25, "traits": '{"k": 2}', "received_at": T3},
        # A new user: the later row wins even though it comes first.
        {"id": "u2", "plan": "a", "received_at": T5},
        {"id": "u2", "plan": "b", "email": "b@x", "received_at": T4},
        # No id: not a user.
        {"id": None, "plan": "ghost", "received_at": T9},
        # Late arrival: the stored row is newer, so its plan stays; the email was null there.
        {"id": "u4", "plan": "old", "email": "e@x", "received_at": T8},
        # Same received_at as the stored row: the staged row wins.
        {"id": "u5", "plan": "staged5", "received_at": T5},
    ]
    with engine.transaction():
        engine.register("staged_identifies", users_rows(staged, staged_columns))
        engine.merge_users("events", "staged_identifies", staged_columns)
    expected = [
        ("u1", at(T3), "a@x", "pro", "Ann", "Acme", 2.25, 30, False, {"k": 2}),
        ("u2", at(T5), "b@x", "a", None, None, None, None, None, None),
        ("u3", at(T1), "c@x", "free", None, None, None, None, None, None),
        ("u4", at(T9), "e@x", "new", None, None, None, None, None, None),
        ("u5", at(T5), "five@x", "staged5", None, None, None, None, None, None),
    ]
    assert read_users(engine) == expected

    # A second batch in one transaction with two merges: each id still has one row.
    later = [{"id": "u2", "plan": None, "vip": True, "age": 41, "received_at": T8}]
    with engine.transaction():
        engine.register("staged_a", users_rows(later, ["id", "received_at", "plan", "vip", "age"]))
        engine.merge_users("events", "staged_a", ["id", "received_at", "plan", "vip", "age"])
        engine.register("staged_b", users_rows([{"id": "u3", "received_at": T2}], ["id", "received_at"]))
        engine.merge_users("events", "staged_b", ["id", "received_at"])
    expected[1] = ("u2", at(T8), "b@x", "a", None, None, None, 41, True, None)
    expected[2] = ("u3", at(T2), "c@x", "free", None, None, None, None, None, None)
    assert read_users(engine) == expected


def test_merge_users_rolls_back_with_the_transaction(engine):
    engine.create_namespace("events")
    engine.create_table("events", "users", USERS_COLUMNS)
    engine.append(
        "events", "users", users_rows([{"id": "u1", "plan": "free", "received_at": T1}], list(USERS_COLUMNS))
    )
    with pytest.raises(RuntimeError), engine.transaction():
        engine.register(
            "s", users_rows([{"id": "u1", "plan": "pro", "received_at": T2}], ["id", "received_at", "plan"])
        )
        engine.merge_users("events", "s", ["id", "received_at", "plan"])
        raise RuntimeError("loader crashed")
    assert engine.fetch(engine.sql("SELECT id, plan FROM events.users")) == [("u1", "free")]
    with pytest.raises(ValueError, match="received_at"), engine.transaction():
        engine.register("s", users_rows([{"id": "u1"}], ["id"]))
        engine.merge_users("events", "s", ["id"])


# --- query -----------------------------------------------------------------------------------


def test_query_reads_while_the_loader_holds_a_write_transaction(engine):
    tracks_table(engine, ["m1", "m2"])
    with engine.transaction():
        engine.append("events", "tracks", pa.table({"id": ["m3", "m4", "m5"]}))
        seen = in_thread(lambda: engine.query("SELECT count(*) AS n FROM tracks"))
        assert seen == QueryResult(columns=["n"], rows=[(2,)])
    assert in_thread(lambda: engine.query("select count(*) as n from tracks")).rows == [(5,)]


def test_query_limit_and_columns(engine):
    tracks_table(engine, ["m1", "m2", "m3", "m4"])
    result = engine.query("select id, upper(id) as shout from tracks order by id desc", limit=2)
    assert result.columns == ["id", "shout"]
    assert result.rows == [("m4", "M4"), ("m3", "M3")]
    assert list(result.records()) == [{"id": "m4", "shout": "M4"}, {"id": "m3", "shout": "M3"}]
    assert engine.query("select id from tracks", limit=0).rows == []
    assert len(engine.query("select id from tracks where id like 'm%'").rows) == 4
    assert engine.query("select id from events.tracks order by id", limit=1).rows == [("m1",)]
    with pytest.raises(QueryError, match=r"(?i)does not exist|not found|no such"):
        engine.query("select * from no_such_table")


def test_unqualified_names_resolve_only_through_the_default_namespace(engine_kind, tmp_path):
    with fresh_engine(engine_kind, tmp_path, default_namespace=None) as plain:
        tracks_table(plain, ["m1"])
        with pytest.raises(QueryError):
            plain.query("select * from tracks")
        assert plain.query("select id from events.tracks").rows == [("m1",)]
    with fresh_engine(engine_kind, tmp_path, default_namespace="not_there_yet") as early:
        assert early.query("select 1 as one").rows == [(1,)]
        early.create_namespace("not_there_yet")
        early.create_table("not_there_yet", "t", {"x": "int"})
        early.append("not_there_yet", "t", pa.table({"x": [7]}))
        assert early.query("select x from t").rows == [(7,)]


WRITES = [
    "insert into tracks values ('x')",
    "INSERT INTO events.tracks (id) SELECT 'x'",
    "create table stolen as select * from tracks",
    "drop table tracks",
    "update tracks set id = 'y'",
    "delete from tracks",
    "copy tracks to '/tmp/hw-stolen.csv'",
    "copy (select * from tracks) to '/tmp/hw-stolen.csv'",
    "attach '/tmp/hw-other.duckdb' as other",
    "set search_path = 'public'",
    "select 1; delete from tracks",
    "with gone as (delete from tracks returning *) select * from gone",
    "explain analyze delete from tracks",
    "select * into stolen from tracks",
    "select nextval('events.seq')",
    "begin",
    "checkpoint",
    "install httpfs",
    "pragma threads=1",
    "select pg_terminate_backend(pg_backend_pid())",
]


@pytest.mark.parametrize("statement", WRITES)
def test_query_refuses_writes(engine, statement):
    tracks_table(engine, ["m1"])
    with pytest.raises(QueryRefused):
        engine.query(statement)
    assert count(engine) == 1
    assert engine.read_schema("events") == {"tracks": {"id": "string"}}


def test_query_allows_reads_of_every_kind(engine, engine_kind):
    tracks_table(engine, ["m1", "m2"])
    assert engine.query("with t as (select id from tracks) select count(*) from t").rows == [(2,)]
    assert engine.query("select 'a' as x union all select 'b' order by x").rows == [("a",), ("b",)]
    assert engine.query("values (1, 'x')").rows == [(1, "x")]
    assert engine.query("explain select * from tracks").rows
    assert engine.query("/* why */ select id from tracks order by id; ").rows == [("m1",), ("m2",)]
    if engine_kind == "duckdb":
        assert engine.query("describe tracks").rows[0][:2] == ("id", "VARCHAR")
        assert engine.query("summarize tracks").rows[0][0] == "id"
        assert ("tracks",) in engine.query("show tables").rows
        assert engine.query("pragma table_info('tracks')").rows[0][1] == "id"
        assert engine.query("from tracks select count(*)").rows == [(2,)]
    else:
        assert engine.query("show search_path").rows == [('"events", public',)]


def test_duckdb_query_cannot_touch_host_files(tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("a,b\n1,2\n")
    with fresh_engine("duckdb", tmp_path) as duck:
        for statement in (f"select * from '{secret}'", f"select * from read_text('{secret}')"):
            with pytest.raises(QueryError, match="disabled"):
                duck.query(statement)


def test_postgres_enforces_read_only_beneath_the_parser():
    with fresh_postgres_dsn() as dsn:
        engine = PostgresEngine(dsn, default_namespace="events")
        engine.open()
        try:
            tracks_table(engine, ["m1"])
            with psycopg.connect(dsn, autocommit=True) as admin:
                admin.execute(
                    "CREATE FUNCTION events.sneaky() RETURNS bigint LANGUAGE sql "
                    "AS $$ INSERT INTO events.tracks VALUES ('sneaky') RETURNING 1 $$"
                )
            with pytest.raises(QueryRefused, match="read-only"):
                engine.query("select sneaky()")
            assert count(engine) == 1
        finally:
            engine.close()


# --- errors ----------------------------------------------------------------------------------


def test_postgres_unreachable_is_unavailable():
    engine = PostgresEngine("postgresql://postgres@127.0.0.1:1/test", default_namespace="events")
    with pytest.raises(WarehouseUnavailable, match="cannot connect"):
        engine.open()
    with pytest.raises(WarehouseUnavailable), engine.transaction():
        pass
    with pytest.raises(WarehouseUnavailable):
        engine.query("select 1")
    engine.close()
    engine.close()


def test_too_many_columns_is_refused(engine):
    engine.create_namespace("events")
    wide = {f"c{index}": "string" for index in range(1601)}
    with pytest.raises(RowsRefused, match="at most 1600 columns"), engine.transaction():
        engine.create_table("events", "wide", wide)
    del wide["c1600"]
    with engine.transaction():
        engine.create_table("events", "wide", wide)
    with pytest.raises(RowsRefused, match="at most 1600 columns"), engine.transaction():
        engine.add_columns("events", "wide", {"one_more": "int"})
    with engine.transaction():  # the engine is still usable
        engine.append("events", "wide", pa.table({"c0": ["x"]}))
    assert len(engine.read_schema("events")["wide"]) == 1600


@pytest.mark.parametrize(
    ("column", "kind", "values"),
    [
        ("n", "int", pa.array([1.0, 1e20], pa.float64())),  # out of range for bigint
        ("j", "json", pa.array(['{"ok": 1}', "{not json"], pa.string())),
        ("t", "datetime", pa.array(["yesterday-ish"], pa.string())),
    ],
)
def test_values_that_do_not_fit_are_refused(engine, column, kind, values):
    engine.create_namespace("events")
    engine.create_table("events", "t", {column: kind, "k": "int"})
    with pytest.raises(RowsRefused), engine.transaction():
        engine.append("events", "t", pa.table({column: values}))
    with engine.transaction():
        engine.append("events", "t", pa.table({"k": [1]}))
    assert count(engine, "events.t") == 1


def test_postgres_reconnects_after_its_backend_is_terminated():
    with fresh_postgres_dsn() as dsn:
        engine = PostgresEngine(dsn)
        engine.open()
        try:
            tracks_table(engine, ["m1"])
            with engine.transaction():
                pid = engine.fetch(engine.sql("SELECT pg_backend_pid()"))[0][0]
            with psycopg.connect(dsn, autocommit=True) as admin:
                assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone() == (True,)
            with engine.transaction():
                engine.append("events", "tracks", pa.table({"id": ["m2"]}))
                assert engine.fetch(engine.sql("SELECT pg_backend_pid()"))[0][0] != pid
            assert count(engine) == 2
            # Killed between statements outside a transaction: that statement fails as unavailable,
            # and the engine reconnects for the next one.
            pid = engine.fetch(engine.sql("SELECT pg_backend_pid()"))[0][0]
            with psycopg.connect(dsn, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])
            with pytest.raises(WarehouseUnavailable):
                engine.fetch(engine.sql("SELECT 1"))
            assert engine.fetch(engine.sql("SELECT 1")) == [(1,)]
        finally:
            engine.close()


def test_duckdb_read_only_instance(tmp_path):
    path = fresh_duckdb(tmp_path)
    missing = DuckDBEngine(path, read_only=True)
    with pytest.raises(WarehouseUnavailable):
        missing.open()
    writer = DuckDBEngine(path, default_namespace="events")
    writer.open()
    tracks_table(writer, ["m1"])
    writer.close()
    reader = DuckDBEngine(path, read_only=True, default_namespace="events")
    reader.open()
    try:
        assert reader.query("select id from tracks").rows == [("m1",)]
        assert reader.read_schema("events") == {"tracks": {"id": "string"}}
        with pytest.raises(WarehouseError, match="read-only"), reader.transaction():
            pass
    finally:
        reader.close()


def test_duckdb_query_before_open_is_unavailable(tmp_path):
    with pytest.raises(WarehouseUnavailable, match="not open"):
        DuckDBEngine(fresh_duckdb(tmp_path)).query("select 1")


HOLDER = textwrap.dedent(
    """
    import sys, time, duckdb
    connection = duckdb.connect(sys.argv[1])
    print("ready", flush=True)
    time.sleep(60)
    """
)


@pytest.mark.slow
def test_duckdb_file_held_by_another_process_is_unavailable(tmp_path):
    path = fresh_duckdb(tmp_path)
    path.parent.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(WarehouseUnavailable, match=r"(?i)lock"):
            DuckDBEngine(path).open()
    finally:
        holder.kill()
        holder.wait(timeout=30)
        if holder.stdout is not None:
            holder.stdout.close()
    engine = DuckDBEngine(path)
    engine.open()  # free again
    engine.close()


# --- open_engine -----------------------------------------------------------------------------


def test_open_engine_builds_the_configured_engine(tmp_path):
    duck = open_engine(WarehouseSettings(engine="duckdb", duckdb_path=tmp_path / "w.duckdb", namespace="ev"))
    assert isinstance(duck, DuckDBEngine)
    assert (duck.path, duck.read_only, duck.default_namespace) == (tmp_path / "w.duckdb", False, "ev")
    assert not (tmp_path / "w.duckdb").exists()  # built, not opened
    reader = open_engine(WarehouseSettings(duckdb_path=tmp_path / "w.duckdb"), read_only=True)
    assert isinstance(reader, DuckDBEngine) and reader.read_only
    pg = open_engine(WarehouseSettings(engine="postgres", postgres_dsn="postgresql://x@127.0.0.1:1/db"))
    assert isinstance(pg, PostgresEngine)
    assert (pg.kind, pg.dialect, pg.destination_type, pg.column_limit) == (
        "postgres",
        "postgres",
        "POSTGRES",
        1600,
    )
    assert (duck.kind, duck.dialect, duck.destination_type, duck.identifier_limit) == (
        "duckdb",
        "duckdb",
        "DUCKDB",
        63,
    )
    with pytest.raises(WarehouseError, match="postgres_dsn is empty"):
        open_engine(WarehouseSettings(engine="postgres", postgres_dsn=" "))
    with pytest.raises(WarehouseError, match="invalid PostgreSQL connection string"):
        open_engine(WarehouseSettings(engine="postgres", postgres_dsn="nonsense"))
    with pytest.raises(WarehouseError, match=r"unknown warehouse\.engine"):
        open_engine(WarehouseSettings(engine="clickhouse"))


def test_module_exports_query_errors_as_value_errors():
    assert issubclass(render_module.QueryRefused, render_module.QueryError)
    assert issubclass(render_module.QueryError, ValueError)
