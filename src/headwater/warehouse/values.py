"""Cell values: which RudderStack type a JSON value gets, and how a value meets an existing column.

Inference follows rudder-server's `dataTypeFor` for the PostgreSQL profile (contract §3.1):

- a number is `int` when it is whole (`5.0` too, as JavaScript's `Number.isInteger` says), else
  `float`; `true`/`false` are `boolean` (tested before numbers: Python's bool is an int);
- a string that RudderStack's `ValidTimestamp` accepts is `datetime`, and its value becomes
  `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC; every other string, and an array, is `string` (the array is
  kept as a list and written as JSON text).

`ValidTimestamp` is an ISO-8601-looking regular expression, a 40-character cap, a parse by Go's
`dateparse.ParseAny` and a year in 1..9999. Its behaviour was measured against that Go code (half a
million generated strings) and is reproduced here, quirks included: a date whose day does not exist
in its month (`1988-04-31`) rolls over as JavaScript's `Date` does and loses its time of day;
`2024-01-02T`, `2024-01-02 ` and `2024-01-02TZ` are dates; one-digit seconds are read; a signed
year, a tab or newline before the time, seconds of three digits or 60 are not dates. Where
dateparse misreads its input the result here is deliberately the sane one: an hours-only offset
after fractional seconds (`…:45.28+05`, PostgreSQL's text form) is converted correctly where
dateparse returns a wrong time; a lower-case `z`, an offset ending in `:` (`+05:`), doubled seconds
(`10:20:30:40`) and control characters after the date are never dates here, where dateparse
sometimes accepts them with a wrong value.

Reconciliation is the load-time rule of rudder-server's `HandleSchemaChange` (contract §3.4): the
warehouse's column type wins, a convertible value is converted, anything else is discarded with the
reason RudderStack writes to `rudder_discards`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Final

import orjson

from headwater.warehouse.model import AbstractType

__all__ = ["discard_text", "go_text", "infer", "infer_text", "is_blank", "json_text", "reconcile"]

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1

# RudderStack's ISO-8601 gate, as written in rudder-server (RE2 `\d` and `\s` are ASCII; Go's `\s`
# has no vertical tab).
_GATE = re.compile(
    r"([+-]?[0-9]{4})-(0[1-9]|1[0-2])-([12][0-9]|0[1-9]|3[01])"
    r"(?:[T\t\n\f\r ](?:(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-9]+)?)?"
    r"(?::[0-5][0-9](?:\.[0-9]+)?)?"
    r"(?:[zZ]|[+-](?:[01][0-9]|2[0-3]):?(?:[0-5][0-9])?)?)?",
    re.ASCII,
)
# The part of that language dateparse reads correctly: a date, then either nothing or `T`/space
# followed by an optional `HH:MM[:S|:SS[.frac]]` and an optional zone.
_PARSED = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ](?:([0-9]{2}):([0-9]{2})(?::([0-9]{1,2})(?:\.([0-9]+))?)?)?"
    r"(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?",
    re.ASCII,
)
# The form every stored time already has (the data plane writes it): checked without a full parse.
_CANONICAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z", re.ASCII)
_MAX_LENGTH: Final = 40  # len("2012-08-03 18:31:59.257000000 +00:00 UTC")

_fromiso = datetime.fromisoformat
_LAST_MS: Final = datetime(9999, 12, 31, 23, 59, 59, 999_000)


def is_blank(value: object) -> bool:
    """RudderStack's `IsEmptyString`: lodash `isEmpty(toString(v))`; `[None]` is not blank."""
    if value is None or value == "":
        return True
    if type(value) is list:
        if not value:
            return True
        if len(value) == 1:
            first = value[0]
            return first is not None and is_blank(first)
    return False


def _format(moment: datetime) -> str:
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


def _parse_timestamp(text: str) -> str | None:
    """The normalised UTC text of an ISO-like timestamp, or None when RudderStack keeps it a string."""
    if _GATE.fullmatch(text) is None:
        return None
    parts = _PARSED.fullmatch(text)
    if parts is None:
        return None
    year_s, month_s, day_s, hour_s, minute_s, second_s, fraction, zone = parts.groups()
    year, month, day = int(year_s), int(month_s), int(day_s)
    if year == 0 or (second_s is not None and int(second_s) > 59):
        return None
    try:
        day_start = date(year, month, day)
    except ValueError:
        # "day out of range": rudder-server falls back to the date alone, rolled over like JS Date.
        try:
            rolled = date(year, month, 1) + timedelta(days=day - 1)
        except OverflowError:
            return None
        return f"{rolled.year:04d}-{rolled.month:02d}-{rolled.day:02d}T00:00:00.000Z"
    moment = datetime(day_start.year, day_start.month, day_start.day)
    if hour_s is not None:
        moment = moment.replace(hour=int(hour_s), minute=int(minute_s))
        if second_s is not None:
            moment = moment.replace(second=int(second_s))
            if fraction is not None:
                moment = moment.replace(microsecond=int(fraction[:3].ljust(3, "0")) * 1000)
    if zone is not None and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        try:
            moment = moment - sign * offset
        except OverflowError:
            return None
    if moment >= _LAST_MS and fraction is not None and fraction[3:].strip("0"):
        return None  # after 9999-12-31T23:59:59.999 once the sub-millisecond digits count
    return _format(moment)


_timestamps: dict[str, str | None] = {}
_TIMESTAMP_CACHE_LIMIT: Final = 20_000


def infer_text(text: str) -> tuple[AbstractType, str]:
    """A string's type and value: `datetime` with the normalised text, or `string` as it is.

    Most strings are rejected by their fifth character; the rest are cached, because a batch
    repeats its `sentAt` and `receivedAt` in every event.
    """
    if len(text) < 10 or len(text) > _MAX_LENGTH or text[4] != "-" or text[7] != "-":
        return "string", text
    if text in _timestamps:
        cached = _timestamps[text]
    else:
        cached = None
        if len(text) == 24 and _CANONICAL.fullmatch(text) is not None:
            try:
                moment = _fromiso(text[:23])
            except ValueError:
                cached = _parse_timestamp(text)
            else:
                cached = text if moment.year > 0 else None
        else:
            cached = _parse_timestamp(text)
        if len(_timestamps) >= _TIMESTAMP_CACHE_LIMIT:
            _timestamps.clear()
        _timestamps[text] = cached
    if cached is None:
        return "string", text
    return "datetime", cached


def _number(value: float) -> tuple[AbstractType, object]:
    """A float's type: whole numbers are ints (within int64, so they fit a BIGINT column)."""
    if value.is_integer() and _INT64_MIN <= value <= _INT64_MAX:
        return "int", int(value)
    return "float", value


def infer(value: object) -> tuple[AbstractType, object]:
    """The abstract type of a non-blank JSON value and the value as it goes into the row.

    Objects are never passed here (the flattener recurses into them). An integer outside int64 is
    typed `float`: RudderStack would type it `int` and then fail to load it.
    """
    kind = type(value)
    if kind is str:
        return infer_text(value)  # type: ignore[arg-type]
    if kind is bool:
        return "boolean", value
    if kind is int:
        if _INT64_MIN <= value <= _INT64_MAX:  # type: ignore[operator]
            return "int", value
        try:
            return "float", float(value)  # type: ignore[arg-type]
        except OverflowError:  # orjson never makes such an int (it reads them as floats)
            return "string", str(value)
    if kind is float:
        return _number(value)  # type: ignore[arg-type]
    return "string", value


def _go_float(value: float) -> str:
    """A float64 as Go's `%v` prints it: shortest digits, exponent form below 1e-4 or from 1e6."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if str(value).startswith("-") else "0"
    sign = "-" if value < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + int(exponent)  # digits before the decimal point
    exp10 = point - 1
    if exp10 < -4 or exp10 >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"


def go_text(value: object, *, nested: bool = False) -> str:
    """`fmt.Sprintf("%v", value)` for a decoded JSON value as rudder-server holds it.

    Top-level ints are Go ints (RudderStack converts int-typed cells before formatting), so they
    print plainly; numbers inside arrays and objects are still float64 and print as floats
    (`[1 1e+06]`). Objects print as Go maps, keys sorted: `map[a:1 b:x]`; null is `<nil>`.
    """
    kind = type(value)
    if kind is str:
        return value  # type: ignore[return-value]
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return _go_float(float(value)) if nested else str(value)  # type: ignore[arg-type]
    if kind is float:
        return _go_float(value)  # type: ignore[arg-type]
    if value is None:
        return "<nil>"
    if kind is list:
        return "[" + " ".join(go_text(item, nested=True) for item in value) + "]"  # type: ignore[attr-defined]
    if kind is dict:
        items = sorted(value.items())  # type: ignore[attr-defined]
        return "map[" + " ".join(f"{key}:{go_text(item, nested=True)}" for key, item in items) + "]"
    return str(value)


def discard_text(value: object) -> str:
    """`rudder_discards.column_value` for a discarded cell: Go's `%v` of the value (see `go_text`)."""
    return go_text(value)


def json_text(value: object) -> str:
    """An array or object as the JSON text a load file holds (keys sorted, as Go's encoder writes)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _incompatible(column_type: str, value_type: str) -> tuple[None, str]:
    return None, f"incompatible schema conversion from {column_type} to {value_type}"


def reconcile(
    column_type: AbstractType, value_type: AbstractType, value: object
) -> tuple[object, str | None]:
    """The value to load into a column of `column_type`, or (None, the discard reason).

    Equal types load as they are, except that an array becomes its JSON text. A `json` column takes
    numbers and booleans as their text, arrays as JSON, and anything else as a JSON string (Go
    quotes it with `strconv.Quote`; JSON string escaping is used here so the text stays valid
    JSON for the engine, which differs only for control characters).
    """
    if column_type == value_type:
        if type(value) is list:
            return json_text(value), None
        return value, None
    if column_type == "string":
        if value_type == "json":
            return value, None
        return go_text(value), None
    if column_type == "float" and value_type == "int":
        return float(value), None  # type: ignore[arg-type]
    if column_type == "int" and value_type == "float":
        return int(value), None  # type: ignore[call-overload]
    if column_type == "json":
        if value_type in ("int", "float", "boolean"):
            return go_text(value), None
        if type(value) is list:
            return json_text(value), None
        return orjson.dumps(go_text(value)).decode(), None
    return _incompatible(column_type, value_type)
