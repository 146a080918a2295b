"""Names as RudderStack derives them: the contract's §2.2 table, both number modes, escapes, limits."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.warehouse.naming import POSTGRES_RESERVED, Namer

DEFAULT = Namer()
DIVIDED = Namer(underscore_divide_numbers=True)

# (raw name, default column, column with underscore_divide_numbers): every row of the contract's
# §2.2 worked-examples table that names a column, plus rudder-server's safe_test.go cases.
WORKED = [
    ("Order Completed", "order_completed", "order_completed"),
    ("firstName", "first_name", "first_name"),
    ("user-Name", "user_name", "user_name"),
    ("$price", "price", "price"),
    ("ome$ga", "ome_ga", "ome_ga"),
    ("omega$", "omega", "omega"),
    ("123abc", "_123abc", "_123_abc"),
    ("9mega", "_9mega", "_9_mega"),
    ("omega v2", "omega_v2", "omega_v_2"),
    ("CamelCase123Key", "camel_case123_key", "camel_case_123_key"),
    ("9mega________-________90", "_9mega_90", "_9_mega_90"),
    ("path to $1,00,000", "path_to_1_00_000", "path_to_1_00_000"),
    ("&4yasdfa(84224_fs9##_____*3q", "_4yasdfa_84224_fs9_3q", "_4_yasdfa_84224_fs_9_3_q"),
    ("_abc_123_def_456", "_abc_123_def_456", "_abc_123_def_456"),
    ("__abc_123_def_456", "__abc_123_def_456", "__abc_123_def_456"),
    ("Cízǔ", "c_z", "c_z"),
    ("@#$%", "", ""),
    ("HTTPStatus", "http_status", "http_status"),
    ("XMLHttp", "xml_http", "xml_http"),
    ("XmlHTTP", "xml_http", "xml_http"),
    ("isISO8601", "is_iso8601", "is_iso_8601"),
    ("walk500Miles", "walk500_miles", "walk_500_miles"),
    ("tooLegit2Quit", "too_legit2_quit", "too_legit_2_quit"),
    ("don't", "don_t", "don_t"),
    ("group", "_group", "_group"),
    ("context_app_name", "context_app_name", "context_app_name"),
    ("omega", "omega", "omega"),
    ("mega&", "mega", "mega"),
    ("ome_ ga", "ome_ga", "ome_ga"),
    ("test123", "test123", "test_123"),
    ("abc123def456", "abc123_def456", "abc_123_def_456"),
    ("abc_123_def_456", "abc_123_def_456", "abc_123_def_456"),
]


@pytest.mark.parametrize(("raw", "default", "divided"), WORKED)
def test_worked_examples(raw: str, default: str, divided: str) -> None:
    assert DEFAULT.column(raw) == default
    assert DIVIDED.column(raw) == divided


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1st_place", "_1st_place"),  # an ordinal is one word
        ("21stCentury", "_21st_century"),
        ("ABC123def", "abc123_def"),
        ("userID", "user_id"),
        ("Sign Up - Step 2", "sign_up_step_2"),
        ("___", "___"),  # leading underscores are kept even when nothing follows
        ("_9lives", "_9lives"),  # starts with `_`, so no extra prefix
        ("price ($)", "price"),
    ],
)
def test_more_word_boundaries(raw: str, expected: str) -> None:
    assert DEFAULT.column(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("user", "_user"),
        ("end", "_end"),
        ("order", "_order"),
        ("from", "_from"),
        ("to", "_to"),
        ("offset", "_offset"),
        ("limit", "_limit"),
        ("default", "_default"),
        ("desc", "_desc"),
        ("both", "_both"),
        ("case", "_case"),
        ("check", "_check"),
        ("table", "_table"),
        ("column", "_column"),
        ("all", "_all"),
        ("new", "_new"),
        ("old", "_old"),
        ("off", "_off"),
        ("when", "_when"),
        ("where", "_where"),
        ("Order", "_order"),  # lower-cased first, then matched
        ("SELECT", "_select"),
        ("current_user", "_current_user"),
        # not reserved for PostgreSQL in RudderStack's list
        ("timestamp", "timestamp"),
        ("event", "event"),
        ("name", "name"),
        ("type", "type"),
        ("window", "window"),
        ("with", "with"),
        ("users", "users"),
    ],
)
def test_reserved_words(raw: str, expected: str) -> None:
    assert DEFAULT.column(raw) == expected


def test_reserved_list_is_rudderstacks_postgres_list() -> None:
    assert len(POSTGRES_RESERVED) == 93
    assert {
        "new",
        "old",
        "off",
        "user",
        "group",
        "order",
        "analyse",
        "analyze",
        "placing",
    } <= POSTGRES_RESERVED
    assert not {"window", "with", "fetch", "lateral", "returning", "timestamp", "event"} & POSTGRES_RESERVED
    assert all(word == word.lower() for word in POSTGRES_RESERVED)


def test_truncation_to_63_bytes() -> None:
    raw = "ThisIsAReallyLongColumnNameThatExceedsThe63CharacterLimitForPostgresTables"
    # cut after snake-casing, so a trailing `_` can remain, as in RudderStack
    assert DEFAULT.column(raw) == "this_is_a_really_long_column_name_that_exceeds_the63_character_"
    assert len(DEFAULT.column(raw)) == 63
    seventy = "a" * 70
    assert DEFAULT.column(seventy) == "a" * 63
    # two names sharing their first 63 characters collide, as in RudderStack
    assert DEFAULT.column("x" * 63 + "_one") == DEFAULT.column("x" * 63 + "_two") == "x" * 63


def test_other_identifier_limits() -> None:
    wide = Namer(identifier_limit=127)
    assert wide.column("b" * 200) == "b" * 127
    assert wide.column("c" * 100) == "c" * 100


def test_very_long_names() -> None:
    raw = "level " * 5000
    assert DEFAULT.column(raw) == ("level_" * 11)[:63]
    assert DEFAULT.column("@" * 100_000) == ""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("注文", ""),  # only non-ASCII letters: no name
        ("prix_€", "prix"),
        ("größe", "gr_e"),
        ("naïveCafé", "na_ve_caf"),
        ("emoji😀key", "emoji_key"),
        ("Ünïcödé Kéy", "n_c_d_k_y"),
    ],
)
def test_unicode_names(raw: str, expected: str) -> None:
    assert DEFAULT.column(raw) == expected


def test_results_are_cached_and_consistent() -> None:
    namer = Namer()
    first = namer.column("someKey")
    assert namer.column("someKey") is first
    assert first == "some_key"


@pytest.mark.parametrize(
    ("event", "table", "value"),
    [
        ("Order Completed", "order_completed", "order_completed"),
        ("Pages", "_pages", "pages"),
        ("tracks", "_tracks", "tracks"),
        ("Screens", "_screens", "screens"),
        ("aliases", "_aliases", "aliases"),
        ("groups", "_groups", "groups"),
        ("accounts", "_accounts", "accounts"),
        ("users", "_users", "users"),
        ("Identifies", "_identifies", "identifies"),
        ("user", "_user", "user"),  # reserved word escape, not a Rudder table escape
        ("group", "_group", "group"),  # the event value is not escaped, the table is
        ("@#$%", "", ""),
        ("注文", "", ""),
        ("9 lives", "_9_lives", "_9_lives"),
        ("page", "page", "page"),
    ],
)
def test_event_tables_and_values(event: str, table: str, value: str) -> None:
    assert DEFAULT.event_table(event) == table
    assert DEFAULT.event_value(event) == value


def test_event_value_is_not_truncated_but_the_table_is() -> None:
    raw = "Very Long Event Name " * 6
    value = DEFAULT.event_value(raw)
    assert value == "_".join(["very_long_event_name"] * 6)
    assert len(value) > 63
    assert DEFAULT.event_table(raw) == value[:63]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("omega", "omega"),
        ("omega v2 ", "omega_v_2"),
        ("9mega", "_9_mega"),
        ("mega&", "mega"),
        ("ome$ga", "ome_ga"),
        ("omega$", "omega"),
        ("ome_ ga", "ome_ga"),
        ("9mega________-________90", "_9_mega_90"),
        ("Cízǔ", "c_z"),
        ("Rudderstack", "rudderstack"),
        ("___", "stringempty"),
        ("group", "_group"),
        ("k3_namespace", "k_3_namespace"),
        ("JSONData", "json_data"),
        ("Web Shop Prod", "web_shop_prod"),
    ],
)
def test_namespace(raw: str, expected: str) -> None:
    assert DEFAULT.namespace(raw) == expected


def test_namespace_is_cut_to_127() -> None:
    assert DEFAULT.namespace("n" * 300) == "n" * 127


_SAFE = re.compile(r"[a-z0-9_]*")


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=120))
def test_any_key_gives_a_safe_identifier(raw: str) -> None:
    for namer in (DEFAULT, DIVIDED):
        name = namer.column(raw)
        assert _SAFE.fullmatch(name)
        assert len(name.encode()) <= 63
        assert not name[:1].isdigit()
        assert name.removeprefix("_") not in POSTGRES_RESERVED or name.startswith("_")
        # a produced name is stable: naming it again changes nothing unless it was escaped
        if name and name.lstrip("_") == name and name not in POSTGRES_RESERVED:
            assert namer.column(name) == name


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abcXYZ019_ -$", max_size=40))
def test_table_names_are_safe_and_never_rudder_tables(raw: str) -> None:
    table = DEFAULT.event_table(raw)
    assert _SAFE.fullmatch(table)
    assert len(table) <= 64
    assert table not in {"tracks", "pages", "screens", "aliases", "groups", "accounts", "users", "identifies"}
