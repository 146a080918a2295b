"""The core layers (staging, identity, sessions) on hand-computed examples, on DuckDB and PostgreSQL.

One warehouse per engine holds every scenario on its own anonymous/user ids, built once per module;
each test reads the rows of its scenario. Expected values are worked out in the comments (the
contract's worked examples S-1, I1 and C1, and a few of our own).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.models.harness import ModelWarehouse, model_warehouse
from tests.models.raw import RawEvent, at, page, track

pytestmark = pytest.mark.slow

CORE = "path:seeds path:models/staging path:models/identity path:models/sessions"

UA_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
UA_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/16.0 Mobile/15E148 Safari/604.1"
)
UA_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0 Safari/537.36"
)
UA_ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"
)
UA_ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0 Safari/537.36"
)


def s1_events() -> list[RawEvent]:
    """Worked example S-1 on device s1: gaps 600, 1799, 1801 (split), 1800 (no split), 4800 (split)."""
    return [
        page("s1-1", at("09:00"), "s1", "/"),
        page("s1-2", at("09:10"), "s1", "/p/1"),
        page("s1-3", at("09:39:59"), "s1", "/p/2"),
        page("s1-4", at("10:10"), "s1", "/cart"),
        page("s1-5", at("10:40"), "s1", "/checkout"),
        page("s1-6", at("12:00"), "s1", "/"),
    ]


def i1_events() -> list[RawEvent]:
    """Worked example I1: t1 page A1; t2 track A1+U1; t3 page A2; t4 track A2+U1; t5 page A3;
    t6 track A1+U2."""
    return [
        page("i1-1", at("08:01", day=1), "i1-A1", "/"),
        track("i1-2", at("08:02", day=1), "i1-A1", "Signed In", user_id="i1-U1"),
        page("i1-3", at("08:03", day=1), "i1-A2", "/"),
        track("i1-4", at("08:04", day=1), "i1-A2", "Signed In", user_id="i1-U1"),
        page("i1-5", at("08:05", day=1), "i1-A3", "/"),
        track("i1-6", at("08:06", day=1), "i1-A1", "Signed In", user_id="i1-U2"),
    ]


def alias_events() -> list[RawEvent]:
    """Three user ids joined by two alias calls (UB->UA, UC->UB); UA is seen first (07:00)."""
    return [
        track("al-1", at("07:00", day=2), "al-A1", "Signed In", user_id="al-UA"),
        track("al-2", at("07:30", day=2), "al-A2", "Signed In", user_id="al-UB"),
        track("al-3", at("07:45", day=2), None, "Server Side", user_id="al-UC"),
        RawEvent(
            "alias", "al-4", at("08:00", day=2), anonymous_id="al-A2", user_id="al-UA", previous_id="al-UB"
        ),
        RawEvent("alias", "al-5", at("08:10", day=2), user_id="al-UB", previous_id="al-UC"),
        page("al-6", at("09:00", day=2), "al-A3", "/", user_id="al-UD"),  # unrelated person
    ]


# (device, utm source, utm medium, referrer, url query) -> the channel C1 and our rules give.
C1_CASES: list[tuple[str, str | None, str | None, str | None, str, str, str, str]] = [
    # device, utm_source, utm_medium, referrer, query, expected source, medium, channel
    ("c1-direct", None, None, None, "", "(direct)", "(none)", "Direct"),
    ("c1-gcpc", "google", "cpc", None, "", "google", "cpc", "Paid Search"),
    ("c1-gorg", "google", "organic", None, "", "google", "organic", "Organic Search"),
    ("c1-fbcpc", "facebook", "cpc", None, "", "facebook", "cpc", "Paid Social"),
    ("c1-fbsoc", "facebook", "social", None, "", "facebook", "social", "Organic Social"),
    ("c1-email", "newsletter", "email", None, "", "newsletter", "email", "Email"),
    ("c1-aff", "partner", "affiliate", None, "", "partner", "affiliate", "Affiliates"),
    (
        "c1-hn",
        None,
        None,
        "https://news.ycombinator.com/item?id=1",
        "",
        "news.ycombinator.com",
        "referral",
        "Referral",
    ),
    ("c1-cpm", "banner network", "cpm", None, "", "banner network", "cpm", "Display"),
    ("c1-foo", "foo", "bar", None, "", "foo", "bar", "Unassigned"),
    # ours: a gclid alone is google / cpc; a search engine's referrer is organic; a self-referral is direct
    ("c1-gclid", None, None, None, "gclid=abc123", "google", "cpc", "Paid Search"),
    ("c1-gref", None, None, "https://www.google.co.uk/", "", "google.co.uk", "organic", "Organic Search"),
    ("c1-self", None, None, "https://shop.example.com/other", "", "(direct)", "(none)", "Direct"),
    (
        "c1-fbref",
        None,
        None,
        "https://l.facebook.com/l.php",
        "",
        "l.facebook.com",
        "referral",
        "Organic Social",
    ),
]


def c1_events() -> list[RawEvent]:
    events = []
    for number, (device, source, medium, referrer, query, *_expected) in enumerate(C1_CASES):
        campaign = {key: value for key, value in (("source", source), ("medium", medium)) if value}
        context = {"campaign": {**campaign, "name": "spring"}} if campaign else {}
        events.append(
            page(
                f"{device}-1",
                at(f"10:{number:02d}", day=3),
                device,
                "/",
                referrer=referrer,
                query=query,
                context=context,
            )
        )
        # a second event of the session without campaign data: the session keeps its first event's source
        events.append(page(f"{device}-2", at(f"10:{number:02d}:30", day=3), device, "/next"))
    return events


def client_session_events() -> list[RawEvent]:
    """sessionId 100 at 09:00 and 09:05, an event without one at 09:06, then 200 at 09:07 and 300 at 09:08.

    Rule: split when both this and the previous event carry a session id and they differ; so 09:06 (no id)
    stays in session 1 and 09:07 (200, previous has none) does not split either; 09:08 (300 vs 200) splits.
    """
    return [
        page("cs-1", at("09:00", day=4), "cs", "/a", session_id=100),
        page("cs-2", at("09:05", day=4), "cs", "/b", session_id=100),
        track("cs-3", at("09:06", day=4), "cs", "Clicked"),
        page("cs-4", at("09:07", day=4), "cs", "/c", session_id=200),
        page("cs-5", at("09:08", day=4), "cs", "/d", session_id=300),
    ]


DEVICE_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("dev-iphone", {"userAgent": UA_IPHONE}, "Mobile"),
    ("dev-ipad", {"userAgent": UA_IPAD}, "Tablet"),
    ("dev-windows", {"userAgent": UA_WINDOWS}, "Desktop"),
    ("dev-aphone", {"userAgent": UA_ANDROID_PHONE}, "Mobile"),
    ("dev-atablet", {"userAgent": UA_ANDROID_TABLET}, "Tablet"),
    ("dev-sdk", {"device": {"type": "Android", "model": "Pixel 8"}, "os": {"name": "Android"}}, "Mobile"),
    ("dev-none", {}, "Other"),
]


def device_events() -> list[RawEvent]:
    return [
        page(f"{device}-1", at(f"11:{n:02d}", day=5), device, "/", context=context)
        for n, (device, context, _category) in enumerate(DEVICE_CASES)
    ]


def path_events() -> list[RawEvent]:
    """Pages /a /a /b /a /c /d /e one minute apart: steps /a /b /a /c /d /e (the repeated /a collapses)."""
    paths = ["/a", "/a", "/b", "/a", "/c", "/d", "/e"]
    events: list[RawEvent] = [
        page(f"path-{n}", at(f"13:{n:02d}", day=6), "path", p) for n, p in enumerate(paths)
    ]
    events.append(RawEvent("screen", "path-s", at("13:30", day=6), anonymous_id="path-app", name="Home"))
    events.append(RawEvent("screen", "path-s2", at("13:31", day=6), anonymous_id="path-app", name="Cart"))
    return events


def conversion_events() -> list[RawEvent]:
    """A session with one page and an order: revenue 40.5 (`revenue` comes before `total` in the var)."""
    return [
        page("cv-1", at("15:00", day=7), "cv", "/product"),
        track(
            "cv-2",
            at("15:00:05", day=7),
            "cv",
            "Order Completed",
            properties={"revenue": 40.5, "total": 45.0, "order_id": "o-1", "currency": "EUR"},
        ),
        track("cv-3", at("15:00:06", day=7), "cv", "Product Viewed", properties={"revenue": 3.0}),
    ]


def all_events() -> list[RawEvent]:
    return (
        s1_events()
        + i1_events()
        + alias_events()
        + c1_events()
        + client_session_events()
        + device_events()
        + path_events()
        + conversion_events()
    )


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def built(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModelWarehouse]:
    tmp_path: Path = tmp_path_factory.mktemp(f"core-{request.param}")
    with model_warehouse(request.param, tmp_path) as warehouse:
        warehouse.load(all_events())
        warehouse.build(select=CORE)
        yield warehouse


def by(rows: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {row[key]: row for row in rows}


def test_s1_sessions_split_strictly_after_1800_seconds(built: ModelWarehouse) -> None:
    sessions = built.rows("sessions", where="device_id = 's1'", order_by="session_start")
    # S1 {09:00, 09:10, 09:39:59}: 2399 s; S2 {10:10, 10:40} (gap 1801 s splits, 1800 s does not): 1800 s;
    # S3 {12:00}: 0 s, one view -> not engaged, bounce.
    assert [s["duration_s"] for s in sessions] == [2399.0, 1800.0, 0.0]
    assert [s["n_page_views"] for s in sessions] == [3, 2, 1]
    assert [s["n_events"] for s in sessions] == [3, 2, 1]
    assert [s["session_number"] for s in sessions] == [1, 2, 3]
    assert [s["is_new_user"] for s in sessions] == [True, False, False]
    assert [s["is_engaged"] for s in sessions] == [True, True, False]
    assert [s["is_bounce"] for s in sessions] == [False, False, True]
    assert [s["landing_path"] for s in sessions] == ["/", "/cart", "/"]
    assert [s["exit_path"] for s in sessions] == ["/p/2", "/checkout", "/"]
    assert all(s["person_id"] == "s1" and s["channel"] == "Direct" for s in sessions)
    # mean session length (AWSG metric) = (2399 + 1800 + 0) / 3 = 1399.67 s
    assert sum(s["duration_s"] for s in sessions) / 3 == pytest.approx(1399.6667, abs=1e-3)

    events = built.rows("events_sessionized", where="device_id = 's1'", order_by="ts")
    assert [e["session_index"] for e in events] == [1, 1, 1, 2, 2, 3]
    assert [e["event_index"] for e in events] == [1, 2, 3, 1, 2, 1]
    first = sessions[0]["session_id"]
    assert [e["session_id"] == first for e in events] == [True, True, True, False, False, False]
    # session_id = md5(device_id || '-' || first message id)
    ids = built.query("select md5('s1' || '-' || 's1-1') as a, md5('s1' || '-' || 's1-4') as b")[0]
    assert [s["session_id"] for s in sessions[:2]] == [ids["a"], ids["b"]]


def test_s1_time_on_page(built: ModelWarehouse) -> None:
    views = built.rows("page_views", where="device_id = 's1'", order_by="ts")
    # S1: / 600 s (09:00 -> 09:10), /p/1 1799 s (09:10 -> 09:39:59), /p/2 last -> NULL; S2: /cart 1800 s
    assert [v["time_on_page_s"] for v in views] == [600.0, 1799.0, None, 1800.0, None, None]
    assert [v["page_view_index"] for v in views] == [1, 2, 3, 1, 2, 1]
    assert [v["is_landing"] for v in views] == [True, False, False, True, False, True]
    assert [v["is_exit"] for v in views] == [False, False, True, False, True, True]


def test_i1_identity_latest_user_wins_and_user_ids_never_merge(built: ModelWarehouse) -> None:
    identity = built.rows("identity_map", where="alias like 'i1-%'")
    persons = {(row["alias_type"], row["alias"]): row["person_id"] for row in identity}
    # A1 was last seen with U2 (t6), A2 with U1, A3 never with a user:
    # persons U1 {U1, A2}, U2 {U2, A1}, A3 {A3}
    assert persons == {
        ("anonymous_id", "i1-A1"): "i1-U2",
        ("anonymous_id", "i1-A2"): "i1-U1",
        ("anonymous_id", "i1-A3"): "i1-A3",
        ("user_id", "i1-U1"): "i1-U1",
        ("user_id", "i1-U2"): "i1-U2",
    }
    a1 = by(identity, "alias")["i1-A1"]
    assert (a1["first_seen_at"], a1["last_seen_at"]) == (at("08:01", day=1), at("08:06", day=1))
    # A1's anonymous page at t1 is credited to U2
    events = built.rows("events_sessionized", where="message_id like 'i1-%'")
    assert {e["message_id"]: e["person_id"] for e in events} == {
        "i1-1": "i1-U2",
        "i1-2": "i1-U2",
        "i1-3": "i1-U1",
        "i1-4": "i1-U1",
        "i1-5": "i1-A3",
        "i1-6": "i1-U2",
    }


def test_alias_calls_merge_user_ids_into_the_earliest_seen(built: ModelWarehouse) -> None:
    identity = built.rows("identity_map", where="alias like 'al-%'")
    persons = {row["alias"]: row["person_id"] for row in identity}
    # components over alias edges: {UA, UB, UC} (UB->UA, UC->UB); UA first seen 07:00 < UB 07:30 < UC 07:45
    assert persons == {
        "al-UA": "al-UA",
        "al-UB": "al-UA",
        "al-UC": "al-UA",
        "al-A1": "al-UA",
        "al-A2": "al-UA",  # latest user seen with A2 is UA (the alias event at 08:00 carries both)
        "al-A3": "al-UD",
        "al-UD": "al-UD",
    }
    sessions = built.rows("sessions", where="person_id = 'al-UA'", order_by="session_start")
    # devices A1 (07:00), A2 (07:30 and 08:00, gap 30 min = 1800 s: one session), UC (server: 07:45, 08:10 is
    # the alias on device UB... no: the 08:10 alias has no anonymous_id, so its device is UB)
    assert [(s["device_id"], s["session_number"]) for s in sessions] == [
        ("al-A1", 1),
        ("al-A2", 2),
        ("al-UC", 3),
        ("al-UB", 4),
    ]
    assert [s["is_server_only"] for s in sessions] == [False, False, True, True]
    assert [s["n_events"] for s in sessions] == [1, 2, 1, 1]


def test_c1_channels(built: ModelWarehouse) -> None:
    sessions = by(built.rows("sessions", where="device_id like 'c1-%'"), "device_id")
    got = {device: (s["source"], s["medium"], s["channel"]) for device, s in sessions.items()}
    expected = {device: (source, medium, channel) for device, *_, source, medium, channel in C1_CASES}
    assert got == expected
    assert sessions["c1-gclid"]["gclid"] == "abc123"
    assert sessions["c1-hn"]["referrer_host"] == "news.ycombinator.com"
    assert sessions["c1-gcpc"]["utm_campaign"] == "spring"
    # both events of a session carry the session's channel
    events = built.rows("events_sessionized", where="device_id = 'c1-fbcpc'")
    assert [e["channel"] for e in events] == ["Paid Social", "Paid Social"]


def test_client_session_id_changes_split(built: ModelWarehouse) -> None:
    events = built.rows("events_sessionized", where="device_id = 'cs'", order_by="ts")
    assert [e["client_session_id"] for e in events] == ["100", "100", None, "200", "300"]
    assert [e["session_index"] for e in events] == [1, 1, 1, 1, 2]
    assert [e["event_index"] for e in events] == [1, 2, 3, 4, 1]


def test_device_category(built: ModelWarehouse) -> None:
    sessions = by(built.rows("sessions", where="device_id like 'dev-%'"), "device_id")
    assert {device: s["device_category"] for device, s in sessions.items()} == {
        device: category for device, _context, category in DEVICE_CASES
    }


def test_session_paths_collapse_consecutive_duplicates(built: ModelWarehouse) -> None:
    paths = by(built.rows("session_paths", where="device_id in ('path', 'path-app')"), "device_id")
    web = paths["path"]
    assert [web[f"step_{n}"] for n in range(1, 6)] == ["/a", "/b", "/a", "/c", "/d"]
    assert web["n_steps"] == 6
    assert web["path"] == "/a > /b > /a > /c > /d > /e"
    app = paths["path-app"]
    assert [app[f"step_{n}"] for n in range(1, 6)] == ["Home", "Cart", None, None, None]
    assert (app["n_steps"], app["path"]) == (2, "Home > Cart")
    session = built.rows("sessions", where="device_id = 'path-app'")[0]
    assert (session["landing_path"], session["exit_path"], session["n_page_views"]) == ("Home", "Cart", 2)
    assert app["session_start"] == at("13:30", day=6)


def test_conversions_and_revenue(built: ModelWarehouse) -> None:
    events = by(built.rows("stg_events", where="device_id = 'cv'"), "message_id")
    order = events["cv-2"]
    assert (order["is_conversion"], order["revenue"], order["order_id"], order["currency"]) == (
        True,
        40.5,
        "o-1",
        "EUR",
    )
    assert order["event_table"] == "order_completed"
    assert (events["cv-3"]["is_conversion"], events["cv-3"]["revenue"]) == (False, None)
    session = built.rows("sessions", where="device_id = 'cv'")[0]
    # one page view, 6 s, but a conversion: engaged (GA4), not a bounce
    assert (session["n_conversions"], session["revenue"], session["duration_s"]) == (1, 40.5, 6.0)
    assert (session["is_engaged"], session["is_bounce"]) == (True, False)


def test_missing_raw_tables_and_columns_build(tmp_path: Path) -> None:
    """A warehouse that only ever got pages without campaign or session data: every model still builds."""
    with model_warehouse("duckdb", tmp_path) as warehouse:
        warehouse.load([page("only-1", at("09:00"), "only", "/"), page("only-2", at("09:01"), "only", "/x")])
        warehouse.build(select=CORE)
        sessions = warehouse.rows("sessions")
        assert [(s["n_page_views"], s["channel"], s["duration_s"]) for s in sessions] == [(2, "Direct", 60.0)]
        assert warehouse.rows("identity_map", order_by="alias")[0]["person_id"] == "only"
