"""Events to rows, checked cell by cell against the contract's worked examples (§1.1-§1.4, §6)."""

from __future__ import annotations

import copy
import re
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.collect.enrich import Stamp, enrich
from headwater.demo import generate, plan_requests
from headwater.warehouse.errors import EventRejected
from headwater.warehouse.model import Row, SourceInfo
from headwater.warehouse.naming import Namer
from headwater.warehouse.transform import Transformer

RECEIVED = "2024-03-01T12:00:00.500Z"
SENT = "2024-03-01T12:00:00.400Z"
ORIGINAL = "2024-03-01T11:59:59.900Z"
TIMESTAMP = "2024-03-01T12:00:00.000Z"
SOURCE = SourceInfo("src-web", "Javascript", "wh-1", "DUCKDB")

# The columns every row of an event carries (contract §1.2), as (value, type).
ENVELOPE: dict[str, tuple[Any, str]] = {
    "received_at": (RECEIVED, "datetime"),
    "sent_at": (SENT, "datetime"),
    "original_timestamp": (ORIGINAL, "datetime"),
    "timestamp": (TIMESTAMP, "datetime"),
    "context_source_id": ("src-web", "string"),
    "context_source_type": ("Javascript", "string"),
    "context_destination_id": ("wh-1", "string"),
    "context_destination_type": ("DUCKDB", "string"),
}


def stored(**fields: Any) -> dict[str, Any]:
    """An event as the data plane stores it: the four time fields and request_ip filled in."""
    event: dict[str, Any] = {
        "receivedAt": RECEIVED,
        "sentAt": SENT,
        "originalTimestamp": ORIGINAL,
        "timestamp": TIMESTAMP,
        "request_ip": "203.0.113.7",
    }
    event.update(fields)
    return event


def cells(row: Row) -> dict[str, tuple[Any, str]]:
    assert row.values.keys() == row.types.keys()
    return {column: (row.values[column], row.types[column]) for column in row.values}


def by_table(rows: list[Row]) -> dict[str, Row]:
    return {row.table: row for row in rows}


def transform(event: dict[str, Any], **options: Any) -> list[Row]:
    return Transformer(Namer(), **options).rows(event, SOURCE)


# -- the worked examples (§1.4) ---------------------------------------------------------------------


def test_order_completed_track() -> None:
    event = stored(
        type="track",
        event="Order Completed",
        userId="u1",
        anonymousId="a1",
        messageId="m1",
        channel="web",
        properties={"revenue": 9.5, "items": [{"sku": "x"}], "shipping": {"city": "Oslo"}},
        context={"library": {"name": "rudder-js"}},
    )
    rows = transform(event)
    assert [row.table for row in rows] == ["tracks", "order_completed"]
    tracks = {
        **ENVELOPE,
        "id": ("m1", "string"),
        "anonymous_id": ("a1", "string"),
        "user_id": ("u1", "string"),
        "channel": ("web", "string"),
        "event_text": ("Order Completed", "string"),
        "event": ("order_completed", "string"),
        "context_library_name": ("rudder-js", "string"),
        "context_ip": ("203.0.113.7", "string"),
        "context_request_ip": ("203.0.113.7", "string"),
    }
    assert cells(rows[0]) == tracks
    assert cells(rows[1]) == {
        **tracks,
        "revenue": (9.5, "float"),
        "items": ([{"sku": "x"}], "string"),
        "shipping_city": ("Oslo", "string"),
    }
    assert "uuid_ts" not in rows[0].values  # the loader adds it


def test_segment_style_identify_fills_identifies_and_users() -> None:
    event = stored(type="identify", userId="u1", messageId="m2", traits={"email": "a@b.c", "plan": "pro"})
    rows = transform(event)
    assert [row.table for row in rows] == ["identifies", "users"]
    identifies = {
        **ENVELOPE,
        "id": ("m2", "string"),
        "user_id": ("u1", "string"),
        "email": ("a@b.c", "string"),
        "plan": ("pro", "string"),
        "context_ip": ("203.0.113.7", "string"),
        "context_request_ip": ("203.0.113.7", "string"),
    }
    assert cells(rows[0]) == identifies
    users = {column: cell for column, cell in identifies.items() if column != "user_id"}
    users["id"] = ("u1", "string")
    assert cells(rows[1]) == users


def test_rudderstack_js_identify_keeps_traits_under_context() -> None:
    event = stored(
        type="identify",
        userId="u1",
        anonymousId="a1",
        messageId="m3",
        context={
            "traits": {"email": "a@b.c", "firstName": "Ada"},
            "library": {"name": "RudderLabs JavaScript SDK"},
        },
    )
    identifies = cells(by_table(transform(event))["identifies"])
    assert identifies["context_traits_email"] == ("a@b.c", "string")
    assert identifies["context_traits_first_name"] == ("Ada", "string")
    assert "email" not in identifies
    assert "first_name" not in identifies

    both = by_table(transform(event, users_context_traits=True))
    for table in ("identifies", "users"):
        row = cells(both[table])
        assert row["email"] == ("a@b.c", "string")
        assert row["first_name"] == ("Ada", "string")
        assert row["context_traits_email"] == ("a@b.c", "string")


def test_users_context_traits_lose_to_top_level_traits() -> None:
    event = stored(
        type="identify",
        userId="u1",
        messageId="m4",
        traits={"plan": "pro"},
        context={"traits": {"plan": "free", "age": 30}},
    )
    row = cells(transform(event, users_context_traits=True)[0])
    assert row["plan"] == ("pro", "string")  # traits come after context.traits
    assert row["age"] == (30, "int")
    assert row["context_traits_plan"] == ("free", "string")


# -- event types and their rule columns (§1.1, §1.2) -----------------------------------------------


def test_page_name_from_name_then_properties() -> None:
    event = stored(
        type="page",
        messageId="p1",
        anonymousId="a1",
        name="Home",
        properties={"name": "Landing", "path": "/", "title": "Shop"},
    )
    rows = transform(event)
    assert [row.table for row in rows] == ["pages"]
    page = cells(rows[0])
    assert page["name"] == ("Home", "string")  # the rule wins; the property `name` is dropped
    assert page["path"] == ("/", "string")
    assert page["title"] == ("Shop", "string")

    without = stored(type="page", messageId="p2", anonymousId="a1", properties={"name": "Landing"})
    assert cells(transform(without)[0])["name"] == ("Landing", "string")

    blank = stored(type="page", messageId="p3", anonymousId="a1", name="", properties={"title": "x"})
    assert "name" not in transform(blank)[0].values


def test_android_screen_takes_its_name_from_properties() -> None:
    event = stored(
        type="screen",
        messageId="s1",
        anonymousId="dev-1",
        userId="",
        event="Product Detail",
        properties={"name": "Product Detail", "sku": "A-1"},
        userProperties={},
    )
    rows = transform(event)
    assert [row.table for row in rows] == ["screens"]
    screen = cells(rows[0])
    assert screen["name"] == ("Product Detail", "string")
    assert screen["sku"] == ("A-1", "string")
    assert "user_id" not in screen  # blank
    assert "event" not in screen and "event_text" not in screen


def test_group_row() -> None:
    event = stored(
        type="group",
        messageId="g1",
        userId="u1",
        groupId="acme",
        traits={"name": "Acme Inc", "employees": 42, "groupId": "ignored"},
    )
    rows = transform(event)
    assert [row.table for row in rows] == ["groups"]
    group = cells(rows[0])
    assert group["group_id"] == ("acme", "string")
    assert group["name"] == ("Acme Inc", "string")
    assert group["employees"] == (42, "int")
    assert group["user_id"] == ("u1", "string")


def test_alias_row() -> None:
    event = stored(
        type="alias", messageId="al1", userId="u1", previousId="anon-9", traits={"source": "merge"}
    )
    rows = transform(event)
    assert [row.table for row in rows] == ["aliases"]
    alias = cells(rows[0])
    assert alias["previous_id"] == ("anon-9", "string")
    assert alias["user_id"] == ("u1", "string")
    assert alias["source"] == ("merge", "string")


def test_type_is_case_insensitive() -> None:
    rows = transform(stored(type="TRACK", event="Signed Up", messageId="t1", anonymousId="a1"))
    assert [row.table for row in rows] == ["tracks", "signed_up"]


def test_ip_columns() -> None:
    sent_ip = stored(type="track", event="E", messageId="i1", anonymousId="a", context={"ip": "198.51.100.1"})
    row = cells(transform(sent_ip)[0])
    assert row["context_ip"] == ("198.51.100.1", "string")
    assert row["context_passed_ip"] == ("198.51.100.1", "string")
    assert row["context_request_ip"] == ("203.0.113.7", "string")

    blank_ip = stored(type="track", event="E", messageId="i2", anonymousId="a", context={"ip": ""})
    row = cells(transform(blank_ip)[0])
    assert row["context_ip"] == ("203.0.113.7", "string")
    assert "context_passed_ip" not in row


def test_missing_ids_and_times_are_filled() -> None:
    event = {"type": "track", "event": "E", "anonymousId": "a"}
    row = cells(transform(event)[0])
    message_id, kind = row["id"]
    assert kind == "string"
    assert re.fullmatch(
        r"auto-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", message_id
    )
    received, kind = row["received_at"]
    assert kind == "datetime"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", received)
    assert row["sent_at"] == row["original_timestamp"] == row["timestamp"] == (received, "datetime")


def test_a_missing_timestamp_is_skew_corrected() -> None:
    event = {
        "type": "track",
        "event": "E",
        "anonymousId": "a",
        "messageId": "x",
        "receivedAt": "2024-03-01T12:00:10.000Z",
        "sentAt": "2024-03-01T11:00:05.000Z",
        "originalTimestamp": "2024-03-01T11:00:00.000Z",
    }
    row = cells(transform(event)[0])
    assert row["timestamp"] == ("2024-03-01T12:00:05.000Z", "datetime")
    assert row["sent_at"] == ("2024-03-01T11:00:05.000Z", "datetime")
    assert row["original_timestamp"] == ("2024-03-01T11:00:00.000Z", "datetime")


def test_time_fields_are_normalised() -> None:
    event = stored(
        type="track", event="E", messageId="x", anonymousId="a", timestamp="2024-03-01T13:00:00+01:00"
    )
    assert cells(transform(event)[0])["timestamp"] == ("2024-03-01T12:00:00.000Z", "datetime")


def test_skip_tracks_table() -> None:
    rows = transform(
        stored(type="track", event="Clicked", messageId="k1", anonymousId="a"), skip_tracks_table=True
    )
    assert [row.table for row in rows] == ["clicked"]


def test_users_row_rules() -> None:
    base = {"type": "identify", "messageId": "m", "traits": {"plan": "pro"}}
    assert [row.table for row in transform(stored(**base, userId="u1"), skip_users_table=True)] == [
        "identifies"
    ]
    assert [row.table for row in transform(stored(**base, anonymousId="a"))] == ["identifies"]
    assert [row.table for row in transform(stored(**base, anonymousId="a", userId=""))] == ["identifies"]
    # a blank-looking id is still recorded in identifies, but makes no users row
    spaces = transform(stored(**base, anonymousId="a", userId="  "))
    assert [row.table for row in spaces] == ["identifies"]
    assert spaces[0].values["user_id"] == "  "
    numeric = by_table(transform(stored(**base, userId=42)))
    assert cells(numeric["users"])["id"] == (42, "int")
    assert cells(numeric["identifies"])["user_id"] == (42, "int")


# -- flattening (§1.3) -----------------------------------------------------------------------------


def test_reserved_columns_are_dropped_per_event_type() -> None:
    event = stored(
        type="track",
        event="Order Completed",
        messageId="m1",
        anonymousId="a1",
        properties={
            "timestamp": "2020-01-01",
            "anonymousId": "spoofed",
            "id": "p-1",
            "channel": "tv",
            "event_text": "other",
            "event": "other event",
            "name": "kept on tracks",
        },
    )
    own = cells(transform(event)[1])
    assert own["timestamp"] == (TIMESTAMP, "datetime")
    assert own["anonymous_id"] == ("a1", "string")
    assert own["id"] == ("m1", "string")
    assert "channel" not in own
    assert own["event_text"] == ("Order Completed", "string")
    assert own["event"] == ("order_completed", "string")  # the common column overwrites the property
    assert own["name"] == ("kept on tracks", "string")


def test_colliding_keys_resolve_in_byte_order() -> None:
    # `firstName` sorts before `first_name` (N < _), so the value of `first_name` wins
    for traits in ({"firstName": "A", "first_name": "B"}, {"first_name": "B", "firstName": "A"}):
        row = cells(transform(stored(type="identify", messageId="m", anonymousId="a", traits=traits))[0])
        assert row["first_name"] == ("B", "string")
    # a nested path and a flat key: `a` < `a_b`, so the flat key wins
    row = cells(
        transform(stored(type="identify", messageId="m", anonymousId="a", traits={"a_b": 2, "a": {"b": 1}}))[
            0
        ]
    )
    assert row["a_b"] == (2, "int")


def test_later_inputs_win() -> None:
    event = stored(
        type="track",
        event="E",
        messageId="m",
        anonymousId="a",
        properties={"plan": "from properties"},
        userProperties={"plan": "from userProperties"},
    )
    assert cells(transform(event)[1])["plan"] == ("from userProperties", "string")


def test_injected_source_fields_follow_the_same_order() -> None:
    event = stored(
        type="track",
        event="E",
        messageId="m",
        anonymousId="a",
        context={"sourceId": "client says", "source_id": "snake wins", "destinationType": "client"},
    )
    row = cells(transform(event)[0])
    assert row["context_source_id"] == ("snake wins", "string")  # `sourceId` < `source_id`
    assert row["context_destination_type"] == ("DUCKDB", "string")  # injected over the client's key


def test_blank_values_are_skipped() -> None:
    properties = {
        "none": None,
        "empty": "",
        "no_items": [],
        "blank_item": [""],
        "null_item": [None],
        "nothing": {},
        "only_null": {"inner": None},
        "zero": 0,
        "no": False,
        "space": " ",
        "@#$%": "no column name",
    }
    own = cells(
        transform(stored(type="track", event="E", messageId="m", anonymousId="a", properties=properties))[1]
    )
    assert own["null_item"] == ([None], "string")
    assert own["zero"] == (0, "int")
    assert own["no"] == (False, "boolean")
    assert own["space"] == (" ", "string")
    for column in ("none", "empty", "no_items", "blank_item", "nothing", "only_null", "only_null_inner"):
        assert column not in own


def test_values_and_types() -> None:
    properties = {
        "whole": 5.0,
        "count": 3,
        "price": 19.99,
        "flag": True,
        "day": "2021-05-01",
        "bad_day": "1988-04-31",
        "us_date": "05/01/2021",
        "month": "2021-05",
        "tags": ["a", "b"],
        "address": {"geo": {"lat": 59.9, "lng": 10}},
    }
    own = cells(
        transform(stored(type="track", event="E", messageId="m", anonymousId="a", properties=properties))[1]
    )
    assert own["whole"] == (5, "int")
    assert type(own["whole"][0]) is int
    assert own["count"] == (3, "int")
    assert own["price"] == (19.99, "float")
    assert own["flag"] == (True, "boolean")
    assert own["day"] == ("2021-05-01T00:00:00.000Z", "datetime")
    assert own["bad_day"] == ("1988-05-01T00:00:00.000Z", "datetime")
    assert own["us_date"] == ("05/01/2021", "string")
    assert own["month"] == ("2021-05", "string")
    assert own["tags"] == (["a", "b"], "string")
    assert own["address_geo_lat"] == (59.9, "float")
    assert own["address_geo_lng"] == (10, "int")


def test_context_is_prefixed_and_snake_cased() -> None:
    event = stored(
        type="track",
        event="E",
        messageId="m",
        anonymousId="a",
        context={
            "app": {"name": "Shop", "build": 12},
            "traits": {"firstName": "Ada"},
            "screen": {"width": 1440, "density": 2},
            "sessionStart": True,
        },
    )
    row = cells(transform(event)[0])
    assert row["context_app_name"] == ("Shop", "string")
    assert row["context_app_build"] == (12, "int")
    assert row["context_traits_first_name"] == ("Ada", "string")
    assert row["context_screen_width"] == (1440, "int")
    assert row["context_session_start"] == (True, "boolean")


def test_spread_string_traits() -> None:
    spread = {"0": "a", "1": "b", "2": "c"}
    track = stored(type="track", event="E", messageId="m", anonymousId="a", context={"traits": spread})
    row = cells(transform(track)[0])
    assert row["context_traits"] == ("abc", "string")
    assert "context_traits_0" not in row

    group = stored(type="group", messageId="g", anonymousId="a", groupId="x", traits={"1": "h", "2": "i"})
    row = cells(transform(group)[0])
    assert not any(column in row for column in ("1", "_1", "_2", "context_traits"))

    # not a spread string: a gap in the keys, or longer values, flatten as usual
    gap = stored(
        type="track", event="E", messageId="m", anonymousId="a", context={"traits": {"0": "a", "2": "c"}}
    )
    row = cells(transform(gap)[0])
    assert row["context_traits_0"] == ("a", "string")
    assert row["context_traits_2"] == ("c", "string")


def test_unicode_property_names() -> None:
    properties = {"注文": 1, "prix_€": 2, "Größe": "L", "naïve": True}
    own = cells(
        transform(stored(type="track", event="E", messageId="m", anonymousId="a", properties=properties))[1]
    )
    assert own["prix"] == (2, "int")
    assert own["gr_e"] == ("L", "string")
    assert own["na_ve"] == (True, "boolean")
    assert not any(column.startswith(("注", "_")) for column in own)


# -- per-event tables (§1.7) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "table", "value"),
    [
        ("Pages", "_pages", "pages"),
        ("users", "_users", "users"),
        ("identifies", "_identifies", "identifies"),
        ("Tracks", "_tracks", "tracks"),
        ("group", "_group", "group"),
        ("Product Viewed", "product_viewed", "product_viewed"),
    ],
)
def test_per_event_table_names(name: str, table: str, value: str) -> None:
    rows = transform(stored(type="track", event=name, messageId="m", anonymousId="a"))
    assert [row.table for row in rows] == ["tracks", table]
    assert rows[1].values["event"] == value
    assert rows[0].values["event_text"] == name


@pytest.mark.parametrize("name", ["@#$%", "注文", "", None, 123])
def test_events_without_a_table_name_only_fill_tracks(name: Any) -> None:
    rows = transform(stored(type="track", event=name, messageId="m", anonymousId="a"))
    assert [row.table for row in rows] == ["tracks"]
    assert cells(rows[0])["event"] == ("", "string")
    if name in ("@#$%", "注文"):
        assert cells(rows[0])["event_text"] == (name, "string")
    if name == 123:
        assert cells(rows[0])["event_text"] == (123, "int")


def test_rows_do_not_share_dicts() -> None:
    rows = transform(stored(type="track", event="E", messageId="m", anonymousId="a"))
    rows[0].values["uuid_ts"] = "x"
    assert "uuid_ts" not in rows[1].values
    identify = transform(stored(type="identify", messageId="m", userId="u"))
    identify[0].values["user_id"] = None
    assert identify[1].values["id"] == "u"


# -- column cap and rejection ----------------------------------------------------------------------


def _wide(count: int) -> dict[str, Any]:
    # 12 common columns: id, anonymous_id, the four times, event, event_text, four context_* fields
    return {
        "type": "track",
        "event": "Wide",
        "messageId": "w",
        "anonymousId": "a",
        "receivedAt": RECEIVED,
        "sentAt": SENT,
        "originalTimestamp": ORIGINAL,
        "timestamp": TIMESTAMP,
        "properties": {f"p{i}": i for i in range(count)},
    }


def test_a_thousand_properties_fit() -> None:
    rows = transform(_wide(1200))
    assert len(rows[1].values) == 1212
    assert rows[1].values["p1199"] == 1199


def test_column_cap_counts_uuid_ts() -> None:
    assert len(transform(_wide(1587))[1].values) == 1599  # + uuid_ts = 1600: allowed
    with pytest.raises(EventRejected, match=r"^too many columns: 1601 > 1600$"):
        transform(_wide(1588))
    with pytest.raises(EventRejected, match=r"^too many columns: 2013 > 1600$"):
        transform(_wide(2000))
    with pytest.raises(EventRejected, match=r"^too many columns: 33 > 20$"):
        Transformer(Namer(), max_columns=20).rows(_wide(20), SOURCE)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"type": "foo", "anonymousId": "a"}, 'unknown event type "foo"'),
        ({"anonymousId": "a"}, 'unknown event type ""'),
        ({"type": None, "anonymousId": "a"}, 'unknown event type ""'),
        ({"type": 7, "anonymousId": "a"}, 'unknown event type "7"'),
        ({"type": "extract", "anonymousId": "a"}, 'unsupported event type "extract"'),
        ({"type": "merge", "anonymousId": "a"}, 'unsupported event type "merge"'),
        ({"type": "track", "context": "ctx"}, "context is not a JSON object"),
        ({"type": "foo", "context": ["ctx"]}, "context is not a JSON object"),
    ],
)
def test_rejected_events(event: dict[str, Any], message: str) -> None:
    with pytest.raises(EventRejected) as caught:
        transform(event)
    assert str(caught.value) == message


@pytest.mark.parametrize("event", [[], "track", 3, None])
def test_non_object_events_are_rejected(event: Any) -> None:
    with pytest.raises(EventRejected, match="event is not a JSON object"):
        Transformer(Namer()).rows(event, SOURCE)


def test_null_context_is_an_empty_one() -> None:
    row = cells(transform(stored(type="track", event="E", messageId="m", anonymousId="a", context=None))[0])
    assert row["context_source_id"] == ("src-web", "string")


# -- real SDK traffic ------------------------------------------------------------------------------


def _stored_demo_events(count: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for request in plan_requests(generate(events=count)):
        body = copy.deepcopy(request.body)
        batched = "batch" in body
        batch = body["batch"] if batched else [body]
        enrich(
            batch,
            Stamp(
                ip=request.headers["X-Forwarded-For"],
                rule="auto",
                batch=body if batched else None,
                forced_type=None if batched else request.path.rsplit("/", 1)[1],
            ),
        )
        events.extend(orjson.loads(orjson.dumps(event)) for event in batch)
    return events


def test_demo_traffic_transforms() -> None:
    transformer = Transformer(Namer())
    safe = re.compile(r"[a-z_][a-z0-9_]*")
    tables: set[str] = set()
    for event in _stored_demo_events(400):
        rows = transformer.rows(event, SOURCE)
        for row in rows:
            tables.add(row.table)
            assert safe.fullmatch(row.table)
            assert row.types["id"] == "string"
            for column in ("received_at", "sent_at", "original_timestamp", "timestamp"):
                assert row.types[column] == "datetime"
            assert row.values["context_request_ip"] == event["request_ip"]
            for column, value in row.values.items():
                assert safe.fullmatch(column)
                assert not isinstance(value, dict)
    assert {"tracks", "pages", "identifies"} <= tables


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.text(max_size=15), _JSON, max_size=8),
    st.sampled_from(["track", "identify", "page", "group"]),
)
def test_any_properties_give_safe_typed_cells(payload: dict[str, Any], kind: str) -> None:
    event = stored(type=kind, event="Anything", messageId="m", userId="u", properties=payload, traits=payload)
    column = re.compile(r"[a-z_][a-z0-9_]{0,63}")
    for row in Transformer(Namer()).rows(event, SOURCE):
        assert row.values.keys() == row.types.keys()
        for name, value in row.values.items():
            assert column.fullmatch(name)
            kind_of = row.types[name]
            if kind_of == "int":
                assert type(value) is int and -(2**63) <= value < 2**63
            elif kind_of == "float":
                assert type(value) is float
            elif kind_of == "boolean":
                assert type(value) is bool
            elif kind_of == "datetime":
                assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", value)
            else:
                assert kind_of == "string"
                assert type(value) in (str, list)
                assert value not in ("", [], [""])
