"""Cell typing, timestamp detection and type reconciliation as RudderStack does them.

Expected timestamp results were measured against rudder-server's ValidTimestamp/ToTimestamp (Go,
dateparse) and checked by hand; Go `%v` float texts were printed by Go itself.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.warehouse.values import (
    discard_text,
    go_text,
    infer,
    infer_text,
    is_blank,
    json_text,
    reconcile,
)

# -- blank -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", [], [""], [[]], [[""]]])
def test_blank(value: object) -> None:
    assert is_blank(value)


@pytest.mark.parametrize("value", [[None], 0, 0.0, False, " ", "x", {}, {"a": 1}, ["", ""], [0], ["a"]])
def test_not_blank(value: object) -> None:
    assert not is_blank(value)


# -- numbers and booleans ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "normalised"),
    [
        (5, "int", 5),
        (5.0, "int", 5),
        (-3.0, "int", -3),
        (0.0, "int", 0),
        (9.5, "float", 9.5),
        (-0.25, "float", -0.25),
        (1e300, "float", 1e300),  # whole, but no BIGINT can hold it
        (2**63 - 1, "int", 2**63 - 1),
        (2**63, "float", float(2**63)),
        (-(2**63), "int", -(2**63)),
        (True, "boolean", True),
        (False, "boolean", False),
    ],
)
def test_numbers_and_booleans(value: object, kind: str, normalised: object) -> None:
    got_kind, got = infer(value)
    assert got_kind == kind
    assert got == normalised
    assert type(got) is type(normalised)


def test_integers_beyond_float_range() -> None:
    assert infer(2**64 - 1) == ("float", 1.8446744073709552e19)
    assert infer(10**400) == ("string", str(10**400))


def test_bool_is_not_an_int() -> None:
    assert infer(True) == ("boolean", True)
    assert infer(1) == ("int", 1)


def test_lists_are_strings_kept_whole() -> None:
    items = [{"sku": "x"}]
    kind, value = infer(items)
    assert kind == "string"
    assert value is items


# -- timestamps ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("2024-01-02", "2024-01-02T00:00:00.000Z"),
        ("2021-05-01", "2021-05-01T00:00:00.000Z"),
        ("2024-01-02T10:20", "2024-01-02T10:20:00.000Z"),
        ("2024-01-02T10:20Z", "2024-01-02T10:20:00.000Z"),
        ("2024-01-02T10:20:30", "2024-01-02T10:20:30.000Z"),
        ("2024-01-02T10:20:30Z", "2024-01-02T10:20:30.000Z"),
        ("2024-01-02T10:20:30.123Z", "2024-01-02T10:20:30.123Z"),
        ("2024-01-02T10:20:30.123456789Z", "2024-01-02T10:20:30.123Z"),
        ("2024-01-02T10:20:30.9999Z", "2024-01-02T10:20:30.999Z"),  # cut, not rounded
        ("2024-01-02T10:20:30.5", "2024-01-02T10:20:30.500Z"),
        ("2024-01-02T10:20:30+05:30", "2024-01-02T04:50:30.000Z"),
        ("2024-01-02T10:20:30+0530", "2024-01-02T04:50:30.000Z"),
        ("2024-01-02T10:20:30+05", "2024-01-02T05:20:30.000Z"),
        ("2024-01-02T10:20:30-08:00", "2024-01-02T18:20:30.000Z"),
        ("2024-01-02T10:20:30.5-08:00", "2024-01-02T18:20:30.500Z"),
        ("2024-12-31T23:59:59-01:00", "2025-01-01T00:59:59.000Z"),
        ("2024-01-02 10:20:30", "2024-01-02T10:20:30.000Z"),
        ("2024-01-02 10:20:30.123-08:00", "2024-01-02T18:20:30.123Z"),
        ("2024-01-02 10:20", "2024-01-02T10:20:00.000Z"),
        ("2024-01-02T10:20:5", "2024-01-02T10:20:05.000Z"),  # one-digit seconds
        ("2024-01-02T", "2024-01-02T00:00:00.000Z"),
        ("2024-01-02 ", "2024-01-02T00:00:00.000Z"),
        ("2024-01-02TZ", "2024-01-02T00:00:00.000Z"),
        ("2024-01-02T+05:00", "2024-01-01T19:00:00.000Z"),
        ("0001-01-01", "0001-01-01T00:00:00.000Z"),
        ("0999-01-01", "0999-01-01T00:00:00.000Z"),
        ("9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"),
        # a day the month does not have rolls over like JavaScript's Date and drops the time
        ("1988-04-31", "1988-05-01T00:00:00.000Z"),
        ("1988-04-31T12:00:00Z", "1988-05-01T00:00:00.000Z"),
        ("2021-02-29", "2021-03-01T00:00:00.000Z"),
        ("2020-02-29", "2020-02-29T00:00:00.000Z"),
        ("2021-02-31T10:00", "2021-03-03T00:00:00.000Z"),
        ("2021-02-31T10:20:30+05:30", "2021-03-03T00:00:00.000Z"),
        ("2021-06-31 10:00:00", "2021-07-01T00:00:00.000Z"),
        # 40 characters is the longest accepted
        ("2024-01-02T10:20:30.1111111111111111111Z", "2024-01-02T10:20:30.111Z"),
    ],
)
def test_timestamps(text: str, normalised: str) -> None:
    assert infer_text(text) == ("datetime", normalised)
    assert infer(text) == ("datetime", normalised)


@pytest.mark.parametrize(
    "text",
    [
        "05/01/2021",
        "2021-05",
        "2021-5-01",
        "2021-05-1",
        "20210501",
        "2021-13-01",
        "2021-00-01",
        "2021-05-00",
        "2021-05-32",
        "2021-05-01T24:00",
        "2024-01-02T10:20:60",  # second out of range
        "2024-01-02T10:20:99",
        "2024-01-02T10:20:3045",
        "2024-01-02T10:20:30:40",
        "2024-01-02Z",
        "2024-01-02+05:00",
        "2024-01-02T10Z",
        "2024-01-02T10:20:30z",  # lower-case z
        "2024-01-02T10:20:30 +05:30",
        "2024-01-02T10:20:30+5:30",
        "2024-01-02T10:20:30.Z",
        "2024-01-02\t10:20:30",
        "+2024-01-02",
        "-2024-01-02",
        "0000-01-01",  # year 0
        "9999-12-31T23:59:59.9999Z",  # past the last millisecond
        "9999-12-31T23:59:59-01:00",  # year 10000 in UTC
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "2024-01-02T10:20:30.11111111111111111111Z",  # 41 characters
        "1712345678",
        "2024-01-02 banana",
        "hello world, this is not a date",
        "",
        "2024",
        "a-b-c-d-e-f",
        "2024-01-02T10:20:30+05:",  # dateparse misreads this one; here it is not a date
    ],
)
def test_not_timestamps(text: str) -> None:
    assert infer_text(text) == ("string", text)


def test_stored_form_passes_unchanged() -> None:
    text = "2026-08-01T10:00:00.123Z"
    kind, value = infer_text(text)
    assert kind == "datetime"
    assert value == text


def test_day_out_of_range_in_the_stored_form() -> None:
    assert infer_text("2021-02-30T10:00:00.000Z") == ("datetime", "2021-03-02T00:00:00.000Z")


def test_hours_only_offset_after_a_fraction_is_read_correctly() -> None:
    # PostgreSQL's text form; dateparse returns a wrong time for it, Headwater the right one
    assert infer_text("2024-04-28 03:19:45.28+05") == ("datetime", "2024-04-27T22:19:45.280Z")


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
def test_any_iso_time_round_trips(moment: datetime) -> None:
    text = moment.isoformat(timespec="milliseconds") + "Z"
    assert infer_text(text) == ("datetime", text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=45))
def test_infer_text_is_total(text: str) -> None:
    kind, value = infer_text(text)
    assert kind in ("string", "datetime")
    if kind == "string":
        assert value == text
    else:
        assert len(value) == 24 and value.endswith("Z")


# -- Go %v texts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (-0.0, "-0"),
        (1.5, "1.5"),
        (9.5, "9.5"),
        (0.1, "0.1"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (0.000123, "0.000123"),
        (123456.0, "123456"),
        (999999.0, "999999"),
        (1000000.0, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (12345678.5, "1.23456785e+07"),
        (123456.7, "123456.7"),
        (1e20, "1e+20"),
        (1e22, "1e+22"),
        (1 / 3, "0.3333333333333333"),
        (2.5e-7, "2.5e-07"),
        (-0.5, "-0.5"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
        (float("nan"), "NaN"),
        (12345678901234, "12345678901234"),  # a top-level int prints plainly
        (True, "true"),
        (False, "false"),
        (None, "<nil>"),
        ("text", "text"),
        ([], "[]"),
        ({}, "map[]"),
        (
            [1, "a b", True, None, {"b": 1, "a": "x"}, [2, 1000000]],
            "[1 a b true <nil> map[a:x b:1] [2 1e+06]]",
        ),
        ({"z": 1, "a": []}, "map[a:[] z:1]"),
    ],
)
def test_go_text(value: object, text: str) -> None:
    assert go_text(value) == text
    assert discard_text(value) == text


def test_json_text_sorts_keys_like_go() -> None:
    assert json_text([{"sku": "x", "b": 2, "a": [1, "é"]}]) == '[{"a":[1,"é"],"b":2,"sku":"x"}]'


# -- reconciliation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "kind", "value", "loaded"),
    [
        # string columns take anything, as its %v text
        ("string", "int", 42, "42"),
        ("string", "float", 9.5, "9.5"),
        ("string", "float", 1234567.5, "1.2345675e+06"),
        ("string", "boolean", True, "true"),
        ("string", "boolean", False, "false"),
        ("string", "datetime", "2024-01-02T00:00:00.000Z", "2024-01-02T00:00:00.000Z"),
        ("string", "json", '{"a":1}', '{"a":1}'),
        ("string", "string", "plain", "plain"),
        ("string", "string", [{"sku": "x"}], '[{"sku":"x"}]'),  # an array becomes JSON text
        # numbers widen and narrow
        ("float", "int", 3, 3.0),
        ("int", "float", 9.99, 9),
        ("int", "float", -9.99, -9),  # truncated toward zero, like Go's int()
        # json columns
        ("json", "int", 5, "5"),
        ("json", "float", 1.5, "1.5"),
        ("json", "boolean", True, "true"),
        ("json", "string", [1, 2], "[1,2]"),
        ("json", "string", 'say "hi"', '"say \\"hi\\""'),
        ("json", "datetime", "2024-01-02T00:00:00.000Z", '"2024-01-02T00:00:00.000Z"'),
        # same types load as they are
        ("int", "int", 7, 7),
        ("datetime", "datetime", "2024-01-02T00:00:00.000Z", "2024-01-02T00:00:00.000Z"),
        ("boolean", "boolean", False, False),
    ],
)
def test_reconcile_converts(column: str, kind: str, value: object, loaded: object) -> None:
    got, reason = reconcile(column, kind, value)  # type: ignore[arg-type]
    assert reason is None
    assert got == loaded
    assert type(got) is type(loaded)


@pytest.mark.parametrize(
    ("column", "kind", "value"),
    [
        ("int", "string", "abc"),
        ("int", "boolean", True),
        ("int", "datetime", "2024-01-02T00:00:00.000Z"),
        ("float", "string", "1.5"),
        ("float", "boolean", False),
        ("boolean", "string", "true"),
        ("boolean", "int", 1),
        ("datetime", "string", "yesterday"),
        ("datetime", "int", 1712345678),
        ("datetime", "float", 1.5),
        ("int", "string", [1, 2]),
    ],
)
def test_reconcile_discards(column: str, kind: str, value: object) -> None:
    got, reason = reconcile(column, kind, value)  # type: ignore[arg-type]
    assert got is None
    assert reason == f"incompatible schema conversion from {column} to {kind}"


def test_discard_text_of_discarded_cells() -> None:
    assert discard_text("abc") == "abc"
    assert discard_text(True) == "true"
    assert discard_text(1712345678) == "1712345678"
    assert discard_text(2.5) == "2.5"
    assert discard_text([1, 2]) == "[1 2]"
