"""SQL text shared by every engine: one dialect for the loader's statements, quoting, read-only checks.

The loader writes each generic statement once, in PostgreSQL's dialect with `:name` placeholders,
and `render` turns it into the engine's dialect with SQLGlot. Placeholders are swapped for
sentinels before generation and rendered for the driver afterwards, so a `%` or `:` inside a
string literal is never mistaken for one: DuckDB's Python API takes `$name`, psycopg 3 takes
`%(name)s` and needs every literal `%` doubled.

`check_read_only` guards the query endpoint, where the SQL is a person's: it parses the statement
and admits only reads. It is the first line of defence; each engine adds its own second one
(DuckDB runs the query inside a transaction it rolls back, PostgreSQL in a READ ONLY one).

`users_merge_statements` is the `users` merge of contract §1.5, the same on every engine but for
the aggregate that picks the latest non-null value, which each engine passes in.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable, Mapping, Sequence

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import Token, TokenType

from headwater.warehouse.errors import RowsRefused

__all__ = [
    "QueryError",
    "QueryRefused",
    "check_read_only",
    "quote_ident",
    "quote_literal",
    "render",
    "users_merge_statements",
]

_PLACEHOLDER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# NUL cannot occur in SQL text that reaches either engine, so it cannot collide with real text.
_SENTINEL = "\x00hwp{}\x00"
_SENTINEL_RE = re.compile("\x00hwp([0-9]+)\x00")


class QueryError(ValueError):
    """A person's query failed; the message is the engine's (or ours) and is safe to show them."""


class QueryRefused(QueryError):
    """A person's query is not a plain read, so the query endpoint will not run it."""


def quote_ident(name: str) -> str:
    """Quote a table, column or schema name that may come from event data.

    An empty name or one holding NUL cannot be a PostgreSQL identifier; that is the data's fault,
    so it is refused as such rather than left to fail as a syntax error the loader would retry.
    """
    if not name or "\x00" in name:
        raise RowsRefused(f"invalid identifier {name!r}: empty or contains NUL")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """Quote a string constant for statements that cannot take a bound parameter (SET, COPY)."""
    if "\x00" in value:
        raise RowsRefused(f"invalid literal {value!r}: contains NUL")
    return "'" + value.replace("'", "''") + "'"


@functools.lru_cache(maxsize=4096)
def render(statement: str, dialect: str) -> str:
    """Turn one PostgreSQL-dialect statement with `:name` placeholders into `dialect` for its driver.

    `dialect` is "postgres" (psycopg's `%(name)s`) or "duckdb" (`$name`). Exactly one statement is
    accepted, so parameters always bind the same way on both drivers.
    """
    if dialect not in ("postgres", "duckdb"):
        raise ValueError(f"no placeholder style for dialect {dialect!r}")
    try:
        trees = [tree for tree in sqlglot.parse(statement, read="postgres") if tree is not None]
    except SqlglotError as error:
        raise ValueError(f"cannot parse statement as PostgreSQL: {error}") from error
    if len(trees) != 1:
        raise ValueError(f"render takes exactly one statement, got {len(trees)}")
    names: list[str] = []

    def swap(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Placeholder):
            return node
        name = node.name
        if not name or not _PLACEHOLDER_NAME.match(name):
            raise ValueError(f"placeholders must be :name, got {node.sql(dialect='postgres')!r}")
        names.append(name)
        return exp.var(_SENTINEL.format(len(names) - 1))

    text = trees[0].transform(swap).sql(dialect=dialect)
    if dialect == "postgres":
        text = text.replace("%", "%%")
        return _SENTINEL_RE.sub(lambda match: f"%({names[int(match.group(1))]})s", text)
    return _SENTINEL_RE.sub(lambda match: f"${names[int(match.group(1))]}", text)


# --- read-only checks for the query endpoint ---------------------------------------------------

_READ_ROOTS: tuple[type[exp.Expression], ...] = (
    exp.Select,
    exp.SetOperation,
    exp.Values,
    exp.Subquery,
    exp.Describe,
    exp.Show,
    exp.Summarize,
    exp.Pivot,
)
_WRITE_NODES: tuple[type, ...] = (
    exp.DML,  # INSERT, UPDATE, DELETE, MERGE, COPY
    exp.DDL,  # CREATE and friends
    exp.Drop,
    exp.Alter,
    exp.TruncateTable,
    exp.Command,  # anything SQLGlot could not parse: never trusted
    exp.Set,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Use,
    exp.Attach,
    exp.Detach,
    exp.Install,
    exp.Grant,
    exp.Pragma,
    exp.Into,  # SELECT ... INTO creates a table
    exp.Lock,  # SELECT ... FOR UPDATE takes row locks
)
# Functions that reach outside the database or act on other sessions even inside a read.
_REFUSED_FUNCTIONS = frozenset(
    {
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_stat_file",
        "pg_ls_logdir",
        "pg_ls_waldir",
        "pg_ls_tmpdir",
        "pg_ls_archive_statusdir",
        "pg_file_write",
        "pg_file_rename",
        "pg_file_unlink",
        "lo_import",
        "lo_export",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_promote",
        "pg_switch_wal",
        "set_config",
        "nextval",
        "setval",
        "dblink",
        "dblink_exec",
        "dblink_connect",
        "getenv",
    }
)
# PRAGMAs (DuckDB) that only report: anything else may change a setting.
_READ_PRAGMAS = frozenset(
    {
        "table_info",
        "show",
        "show_tables",
        "show_tables_expanded",
        "show_databases",
        "database_list",
        "database_size",
        "storage_info",
        "version",
        "platform",
        "functions",
        "collations",
        "metadata_info",
    }
)
_READ_KEYWORDS = ("SHOW",)


def check_read_only(statement: str, dialect: str) -> bool:
    """Raise `QueryRefused` unless `statement` is one read: SELECT/WITH/VALUES/set operations,
    DESCRIBE, SHOW, SUMMARIZE, read PRAGMAs and EXPLAIN of such a read (never of a write).

    Returns whether it is a plain query (SELECT, WITH, VALUES, set operations), which an engine
    may stream through a server-side cursor so that a row limit bounds what is transferred.
    """
    tokens = _tokens(statement, dialect)
    if not tokens:
        raise QueryRefused("empty query")
    return _check_tokens(statement, tokens, dialect)


def _tokens(statement: str, dialect: str) -> list[Token]:
    try:
        tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(statement)
    except SqlglotError as error:
        raise QueryRefused(f"cannot parse query: {error}") from error
    while tokens and tokens[-1].token_type == TokenType.SEMICOLON:
        tokens.pop()
    if any(token.token_type == TokenType.SEMICOLON for token in tokens):
        raise QueryRefused("one statement at a time")
    return tokens


def _check_tokens(statement: str, tokens: list[Token], dialect: str) -> bool:
    first = tokens[0].text.upper()
    if first == "EXPLAIN":
        _check_explain(statement[tokens[0].end + 1 :], dialect)
        return False
    if first in _READ_KEYWORDS:
        return False
    if first == "PRAGMA":
        _check_pragma(tokens)
        return False
    try:
        trees = [tree for tree in sqlglot.parse(statement, read=dialect) if tree is not None]
    except SqlglotError as error:
        raise QueryRefused(f"cannot parse query as a read: {error}") from error
    if len(trees) != 1:
        raise QueryRefused("one statement at a time")
    tree = trees[0]
    if not isinstance(tree, _READ_ROOTS):
        raise QueryRefused(f"only reads are allowed here, not {first}")
    for node in tree.walk():
        if isinstance(node, _WRITE_NODES):
            raise QueryRefused(f"only reads are allowed here; the query contains {_kind(node)}")
        if isinstance(node, exp.Func) and _function_name(node) in _REFUSED_FUNCTIONS:
            raise QueryRefused(f"function {_function_name(node)} is not allowed here")
    return isinstance(tree, (exp.Select, exp.SetOperation, exp.Values, exp.Subquery))


def _check_explain(rest: str, dialect: str) -> None:
    """EXPLAIN [ANALYZE] / EXPLAIN (options) of a read; the explained statement must itself pass."""
    text = rest.lstrip()
    if text.startswith("("):
        depth = 0
        for index, char in enumerate(text):
            depth += char == "("
            depth -= char == ")"
            if depth == 0:
                text = text[index + 1 :]
                break
        else:
            raise QueryRefused("cannot parse EXPLAIN options")
    else:
        text = re.sub(r"^(analy[sz]e\s+)?(verbose\s+)?", "", text, flags=re.IGNORECASE)
    tokens = _tokens(text, dialect)
    if not tokens:
        raise QueryRefused("EXPLAIN of nothing")
    if tokens[0].text.upper() in ("EXPLAIN", "PRAGMA", "SHOW"):
        raise QueryRefused("only EXPLAIN of a query is allowed here")
    _check_tokens(text, tokens, dialect)


def _check_pragma(tokens: list[Token]) -> None:
    if len(tokens) < 2 or tokens[1].text.lower() not in _READ_PRAGMAS:
        name = tokens[1].text if len(tokens) > 1 else ""
        raise QueryRefused(f"PRAGMA {name} is not a read allowed here")
    if any(token.token_type == TokenType.EQ for token in tokens):
        raise QueryRefused("PRAGMA assignments change settings and are not allowed here")


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def _kind(node: exp.Expr) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    return type(node).__name__.upper()


# --- the users merge, shared by the engines but for the "latest non-null" aggregate ---------------


def users_merge_statements(
    namespace: str,
    staged: str,
    staged_columns: Sequence[str],
    users_types: Mapping[str, str],
    latest: Callable[[str, str], str],
) -> list[str]:
    """Statements that fold `staged` identifies rows into `users` (contract §1.5).

    For each id in `staged`, the new users row holds, per column, the latest non-null value by
    `received_at` over the existing users row and the staged rows; on a tie the staged row wins.
    Columns of `users` the batch does not carry still come from the old row, because the old row
    is deleted and replaced. `users_types` maps every users column to its SQL type (for the casts
    that put staged text such as JSON into typed columns); `latest(column, order)` renders the
    engine's "first non-null value of column by order" aggregate.
    """
    missing = [name for name in ("id", "received_at") if name not in staged_columns]
    if missing:
        raise ValueError(f"staged users rows need columns {missing}")
    unknown = [name for name in staged_columns if name not in users_types]
    if unknown:
        raise ValueError(f"users has no columns {unknown}; add them before merging")
    users = f"{quote_ident(namespace)}.{quote_ident('users')}"
    source = quote_ident(staged)
    merged = quote_ident(f"_hw_users_merge_{uuid.uuid4().hex}")
    priority = quote_ident("_hw_merge_priority")
    carried = set(staged_columns)
    names = list(users_types)
    old_side = ", ".join(quote_ident(name) for name in names)
    new_side = ", ".join(
        f"CAST({'s.' + quote_ident(name) if name in carried else 'NULL'} AS {users_types[name]}) "
        f"AS {quote_ident(name)}"
        for name in names
    )
    order = f"{quote_ident('received_at')} DESC NULLS LAST, {priority} DESC"
    picked = ", ".join(
        f"{latest(quote_ident(name), order)} AS {quote_ident(name)}" for name in names if name != "id"
    )
    ident = quote_ident("id")
    listed = ", ".join(quote_ident(name) for name in names)
    return [
        f"CREATE TEMPORARY TABLE {merged} AS "
        f"WITH candidates AS ("
        f"SELECT {old_side}, 0 AS {priority} FROM {users} "
        f"WHERE {ident} IN (SELECT {ident} FROM {source} WHERE {ident} IS NOT NULL) "
        f"UNION ALL "
        f"SELECT {new_side}, 1 AS {priority} FROM {source} AS s WHERE s.{ident} IS NOT NULL) "
        f"SELECT {ident}{', ' if picked else ''}{picked} FROM candidates GROUP BY {ident}",
        f"DELETE FROM {users} WHERE {ident} IN (SELECT {ident} FROM {merged})",
        f"INSERT INTO {users} ({listed}) SELECT {listed} FROM {merged}",
        f"DROP TABLE {merged}",
    ]
