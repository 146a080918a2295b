"""Table, column and schema names exactly as RudderStack's warehouse transformer derives them.

SQL and dbt packages written for RudderStack's tables name columns like `context_traits_first_name`
and tables like `order_completed`; a name that differed by one underscore would break them. So this
follows rudder-server's embedded warehouse transformer (`safe.go`, its lodash-compatible snake case
and the per-warehouse reserved-word lists) for the PostgreSQL profile, which Headwater also uses for
DuckDB (contract §2, §3.3):

1. the raw name is cut into maximal runs of ASCII letters and digits, everything else (including
   `_`, `$`, spaces and every non-ASCII character) separating them, and the runs are joined by `_`;
2. that is snake-cased with lodash `_.snakeCase` word boundaries (`HTTPServer` -> `http_server`);
   by default a letter run and the digits after it stay one word (`test123`), with
   `underscore_divide_numbers` they are separate words (`test_123`, RudderStack's older
   destinations);
3. leading underscores of the raw name are kept; a result starting with a digit gets `_` in front;
4. the result is cut to the identifier limit (63 bytes on PostgreSQL; names are ASCII by now);
5. a reserved word gets `_` in front (`group` -> `_group`).

An empty result means "no column": the caller drops the key (`@#$%`, `注文`).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["POSTGRES_RESERVED", "RUDDER_ISOLATED_TABLES", "RUDDER_TABLES", "Namer"]

# The words RudderStack's PostgreSQL profile escapes with `_` in table, column and schema names: the
# "reserved" column of the SQL key words appendix of PostgreSQL's documentation as it stood when
# RudderStack took it. It still has NEW, OLD and OFF, which current PostgreSQL no longer reserves, and
# lacks some that current PostgreSQL does reserve (FETCH, LATERAL, RETURNING, VARIADIC, WINDOW, WITH).
# Being RudderStack-compatible means escaping exactly these: `new` becomes `_new`, `window` stays.
# fmt: off
POSTGRES_RESERVED: Final[frozenset[str]] = frozenset({
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "authorization",
    "between", "binary", "both",
    "case", "cast", "check", "collate", "column", "constraint", "create", "cross",
    "current_date", "current_role", "current_time", "current_timestamp", "current_user",
    "default", "deferrable", "desc", "distinct", "do",
    "else", "end", "except",
    "false", "for", "foreign", "freeze", "from", "full",
    "grant", "group",
    "having",
    "ilike", "in", "initially", "inner", "intersect", "into", "is", "isnull",
    "join",
    "leading", "left", "like", "limit", "localtime", "localtimestamp",
    "natural", "new", "not", "notnull", "null",
    "off", "offset", "old", "on", "only", "or", "order", "outer", "overlaps",
    "placing", "primary",
    "references", "right",
    "select", "session_user", "similar", "some", "symmetric",
    "table", "then", "to", "trailing", "true",
    "union", "unique", "user", "using",
    "verbose",
    "when", "where",
})
# fmt: on

# Tables RudderStack creates itself: an event named like one gets its per-event table escaped.
RUDDER_TABLES: Final[frozenset[str]] = frozenset(
    {"tracks", "pages", "screens", "aliases", "groups", "accounts"}
)
RUDDER_ISOLATED_TABLES: Final[frozenset[str]] = frozenset({"users", "identifies"})

_ALNUM_RUNS = re.compile(r"[A-Za-z0-9]+")

# lodash's word pattern reduced to what it can meet here: step 1 leaves only ASCII letters, digits and
# `_`, so "a break" is any character that is not a letter or digit. Alternatives are tried in order,
# leftmost first, as lodash (and rudder-server's regexp2 port) do; findall gives the words.
_LODASH_WORDS = (
    r"[A-Z]?[a-z]+(?=[^A-Za-z0-9]|[A-Z]|$)"  # a regular word: `Camel` in `CamelCase`
    r"|[A-Z]+(?=[^A-Za-z0-9]|[A-Z][a-z]|$)"  # an acronym up to the next word: `HTTP` in `HTTPServer`
    r"|[A-Z]?[a-z]+"  # a lower-case run followed by digits
    r"|[A-Z]+"  # an upper-case run followed by digits
    r"|[0-9]*(?:1ST|2ND|3RD|(?![123])[0-9]TH)(?=\b|[a-z_])"  # upper-case ordinals
    r"|[0-9]*(?:1st|2nd|3rd|(?![123])[0-9]th)(?=\b|[A-Z_])"  # lower-case ordinals
    r"|[0-9]+"
)
# RudderStack's "with numbers" variant tries four letter/digit groupings before lodash's words.
_WORDS_DIVIDED = re.compile(_LODASH_WORDS, re.ASCII)
_WORDS_WITH_NUMBERS = re.compile(
    r"[A-Z]?[a-z]+[0-9]+|[A-Z]+[0-9]+|[0-9]+[A-Z]?[a-z]+|[0-9]+[A-Z]+|" + _LODASH_WORDS, re.ASCII
)

_CACHE_LIMIT = 100_000


def _starts_with_digit(name: str) -> bool:
    return bool(name) and "0" <= name[0] <= "9"


def _strcase_snake(name: str) -> str:
    """iancoleman/strcase `ToSnake` (v0.2) on an ASCII name: what RudderStack applies to schema names.

    Unlike lodash it splits letters from digits (`k3` -> `k_3`) and maps `-`, `.`, space to `_`.
    """
    out: list[str] = []
    size = len(name)
    for i, char in enumerate(name):
        upper = "A" <= char <= "Z"
        lower = "a" <= char <= "z"
        digit = "0" <= char <= "9"
        low = char.lower() if upper else char
        if i + 1 < size:
            nxt = name[i + 1]
            next_upper = "A" <= nxt <= "Z"
            next_lower = "a" <= nxt <= "z"
            next_digit = "0" <= nxt <= "9"
            if (
                (upper and (next_lower or next_digit))
                or (lower and (next_upper or next_digit))
                or (digit and (next_upper or next_lower))
            ):
                if upper and next_lower and i > 0 and "A" <= name[i - 1] <= "Z":
                    out.append("_")
                out.append(low)
                if lower or digit or next_digit:
                    out.append("_")
                continue
        out.append("_" if char in " _-." else low)
    return "".join(out)


class Namer:
    """Derives warehouse identifiers; every result is cached, since the same keys recur in every event."""

    __slots__ = ("_columns", "_event_tables", "_event_values", "_limit", "_reserved", "_words")

    def __init__(
        self,
        *,
        identifier_limit: int = 63,
        underscore_divide_numbers: bool = False,
        reserved: frozenset[str] = POSTGRES_RESERVED,
    ) -> None:
        self._limit = identifier_limit
        self._words = _WORDS_DIVIDED if underscore_divide_numbers else _WORDS_WITH_NUMBERS
        self._reserved = reserved
        self._columns: dict[str, str] = {}
        self._event_tables: dict[str, str] = {}
        self._event_values: dict[str, str] = {}

    def _transform(self, raw: str) -> str:
        """RudderStack's transformTableName: steps 1 to 3 of the module docstring, no truncation."""
        words = self._words.findall("_".join(_ALNUM_RUNS.findall(raw)))
        name = "_".join(words).lower()
        if raw.startswith("_"):
            name = raw[: len(raw) - len(raw.lstrip("_"))] + name
        if _starts_with_digit(name):
            name = "_" + name
        return name

    def _safe(self, name: str) -> str:
        """Truncation and reserved-word escape; `name` is ASCII, so characters are bytes."""
        name = name[: self._limit]
        if name in self._reserved:
            name = "_" + name
        return name

    def column(self, raw: str) -> str:
        """The column for a (joined) key path, e.g. `context_traits_firstName`; '' drops the key."""
        cached = self._columns.get(raw)
        if cached is not None:
            return cached
        name = self._transform(raw)
        if name:
            name = self._safe(name)
        if len(self._columns) >= _CACHE_LIMIT:
            self._columns.clear()
        self._columns[raw] = name
        return name

    def event_value(self, raw_event: str) -> str:
        """The `event` column of tracks and per-event rows: snake-cased, neither cut nor escaped."""
        cached = self._event_values.get(raw_event)
        if cached is not None:
            return cached
        value = self._transform(raw_event)
        if len(self._event_values) >= _CACHE_LIMIT:
            self._event_values.clear()
        self._event_values[raw_event] = value
        return value

    def event_table(self, raw_event: str) -> str:
        """The per-event table of a track; '' when the event yields no table (`@#$%`).

        RudderStack names it from the already transformed event value, run through the column
        rules again, then escapes names of its own tables: `users` and `identifies` always, and
        `tracks`, `pages`, `screens`, `aliases`, `groups`, `accounts` (Headwater has no per-event
        opt-out of that escape).
        """
        cached = self._event_tables.get(raw_event)
        if cached is not None:
            return cached
        table = ""
        value = self.event_value(raw_event)
        if value.strip():
            table = self._transform(value)
            if table:
                table = self._safe(table)
                if table in RUDDER_ISOLATED_TABLES or table in RUDDER_TABLES:
                    table = "_" + table
        if len(self._event_tables) >= _CACHE_LIMIT:
            self._event_tables.clear()
        self._event_tables[raw_event] = table
        return table

    def namespace(self, raw: str) -> str:
        """A schema name as RudderStack derives one from a source or destination name.

        Schema names use a different snake case (iancoleman/strcase, which splits digits from
        letters) and are cut to 127 characters; an empty result is `stringempty`.
        """
        name = _strcase_snake("_".join(_ALNUM_RUNS.findall(raw)))
        if _starts_with_digit(name) or name in self._reserved:
            name = "_" + name
        if not name:
            name = "stringempty"
        return name[:127]
