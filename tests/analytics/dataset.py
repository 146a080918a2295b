"""Hand-written rows for the API's tests, one scenario per date range so scenarios never mix.

- March 2024: funnel F1 (models-contract §2.3) with U1's `Search` at 10:02 (strict) and U2's `Logout`
  at 10:02 (exclusion); U1's session channel is Email, everyone else's Direct. Raw table
  `events.view` holds each View's `price` (U1 20, U2 5, U3 15, U4 50) and a column named `we"ird`.
- June/July 2024: F1-re-entry (U5).
- 2024-01-01 (Mon) .. 01-04 (Thu): retention R1 (P1 Mon Tue Thu, P2 Mon Wed, P3 Tue Wed).
- 2024-02-01: paths P1 (A, B, C with C's second session 2 h later).
- May 2024: attribution A3 paths, and rule-model credits for two conversions.
- August 2024: overview, 08-08..08-14 against 08-01..08-07; users p-alice, p-bob.
"""

from __future__ import annotations

from typing import Any

from tests.analytics.tables import at

Row = dict[str, Any]


def _events() -> list[Row]:
    rows: list[Row] = []

    def add(person: str, kind: str, name: str, when: str, **extra: Any) -> None:
        row: Row = {
            "message_id": extra.pop("message_id", f"m{len(rows):03d}"),
            "person_id": person,
            "device_id": f"d-{person}",
            "anonymous_id": f"a-{person}",
            "event_type": kind,
            "event_name": name if kind == "track" else kind,
            "event_table": name.lower() if kind == "track" else f"{kind}s",
            "ts": at(when),
            "channel": "Direct",
            "device_category": "Desktop",
            "session_id": f"s-{person}",
        }
        if kind == "page":
            row["page_path"] = name
        row.update(extra)
        rows.append(row)

    # F1 (window 1 day), March 2024.
    add("U1", "track", "View", "2024-03-04 10:00", channel="Email", message_id="v-u1")
    add("U1", "track", "Search", "2024-03-04 10:02", channel="Email")
    add("U1", "track", "AddToCart", "2024-03-04 10:05", channel="Email")
    add("U1", "track", "Purchase", "2024-03-04 10:30", channel="Email")
    add("U2", "track", "View", "2024-03-04 10:00", message_id="v-u2")
    add("U2", "track", "Logout", "2024-03-04 10:02")
    add("U2", "track", "Purchase", "2024-03-04 10:10")
    add("U2", "track", "AddToCart", "2024-03-04 10:20")
    add("U3", "track", "View", "2024-03-04 10:00", message_id="v-u3")
    add("U3", "track", "AddToCart", "2024-03-06 09:00")
    add("U4", "track", "AddToCart", "2024-03-04 09:00")
    add("U4", "track", "View", "2024-03-04 10:00", message_id="v-u4")
    # F1-re-entry.
    add("U5", "track", "View", "2024-06-01 10:00")
    add("U5", "track", "View", "2024-07-01 10:00")
    add("U5", "track", "AddToCart", "2024-07-01 10:10")
    # R1: daily activity Mon 2024-01-01 .. Thu 2024-01-04.
    for person, days in {"P1": (1, 2, 4), "P2": (1, 3), "P3": (2, 3)}.items():
        for day in days:
            add(person, "page", "/home", f"2024-01-0{day} 12:00")
    # P1 paths, 2024-02-01.
    for person, steps in {
        "A": [("/", "09:00"), ("/pricing", "09:01"), ("/pricing", "09:02"), ("/signup", "09:03")],
        "B": [("/", "09:00"), ("/pricing", "09:05")],
        "C": [("/", "09:00"), ("/blog", "09:01"), ("/", "11:01"), ("/pricing", "11:02")],
    }.items():
        for path, time in steps:
            add(person, "page", path, f"2024-02-01 {time}")
    # Overview, August 2024: current period 08-08..08-14, previous 08-01..08-07.
    add("p-alice", "page", "/a", "2024-08-08 10:00", session_id="s1", channel="Email")
    add("p-alice", "page", "/a", "2024-08-09 10:00", session_id="s2")
    add("p-alice", "page", "/b", "2024-08-09 10:01", session_id="s2")
    add("p-alice", "track", "Signup", "2024-08-09 10:02", session_id="s2")
    add("p-bob", "page", "/a", "2024-08-10 10:00", session_id="s3")
    add("p-bob", "page", "/b", "2024-08-10 10:00:10", session_id="s3")
    add("p-zed", "page", "/a", "2024-08-02 10:00", session_id="s0")
    add("p-zed", "page", "/a", "2024-08-02 10:01", session_id="s0")
    return rows


def _sessions() -> list[Row]:
    def session(sid: str, person: str, start: str, channel: str, source: str, **values: Any) -> Row:
        return {
            "session_id": sid, "person_id": person, "session_start": at(start), "channel": channel,
            "source": source, "device_category": "Desktop", "is_server_only": False, "n_conversions": 0,
            "revenue": 0.0, **values,
        }  # fmt: skip

    return [
        session("s1", "p-alice", "2024-08-08 10:00", "Email", "newsletter", n_page_views=1, duration_s=0.0,
                is_bounce=True),
        session("s2", "p-alice", "2024-08-09 10:00", "Direct", "(direct)", n_page_views=3, duration_s=100.0,
                is_bounce=False, n_conversions=1, revenue=30.0),
        session("s3", "p-bob", "2024-08-10 10:00", "Direct", "(direct)", n_page_views=1, duration_s=20.0,
                is_bounce=True),
        session("s4", "server", "2024-08-10 11:00", "Direct", "(direct)", n_page_views=0, duration_s=0.0,
                is_bounce=True, is_server_only=True),
        session("s0", "p-zed", "2024-08-02 10:00", "Direct", "(direct)", n_page_views=2, duration_s=50.0,
                is_bounce=False),
    ]  # fmt: skip


def _credits() -> list[Row]:
    def credit(cid: str, model: str, channel: str, campaign: str, share: float, revenue: float) -> Row:
        return {
            "conversion_id": cid, "person_id": f"buyer-{cid}", "conversion_ts": at("2024-05-10 12:00"),
            "model": model, "channel": channel, "source": channel.lower(), "campaign": campaign,
            "credit": share, "revenue_credit": revenue,
        }  # fmt: skip

    rows = [credit("c1", "first_touch", "Paid Search", "spring", 1.0, 100.0)]
    for channel, campaign in (
        ("Paid Search", "spring"),
        ("Email", "news"),
        ("Organic Search", None),
        ("Direct", None),
    ):
        rows.append(credit("c1", "linear", channel, campaign, 0.25, 25.0))  # type: ignore[arg-type]
    rows += [
        credit("c2", "first_touch", "Email", "news", 1.0, 50.0),
        credit("c2", "linear", "Email", "news", 1.0, 50.0),
    ]
    return rows


def _paths() -> list[Row]:
    # A3: A>B converts, A does not, B converts.
    return [
        {"person_id": "q1", "conversion_id": "k1", "path_end_ts": at("2024-05-10 12:00"), "path": "A > B",
         "n_touches": 2, "converted": True, "revenue": 100.0},
        {"person_id": "q2", "conversion_id": None, "path_end_ts": at("2024-05-11 12:00"), "path": "A",
         "n_touches": 1, "converted": False, "revenue": None},
        {"person_id": "q3", "conversion_id": "k3", "path_end_ts": at("2024-05-12 12:00"), "path": "B",
         "n_touches": 1, "converted": True, "revenue": 50.0},
    ]  # fmt: skip


def _profiles() -> list[Row]:
    return [
        {"person_id": "p-alice", "user_id": "alice", "email": "alice@example.com", "name": "Alice Liddell",
         "first_seen_at": at("2024-08-08 10:00"), "last_seen_at": at("2024-08-09 10:02"), "sessions": 2,
         "events": 4, "orders": 1, "revenue": 30.0, "lifecycle_state": "new"},
        {"person_id": "p-bob", "user_id": "bob", "email": "bob@example.org", "name": "Bob",
         "first_seen_at": at("2024-08-10 10:00"), "last_seen_at": at("2024-08-10 10:00:10"), "sessions": 1,
         "events": 2, "orders": 0, "revenue": 0.0, "lifecycle_state": "new"},
    ]  # fmt: skip


def _aliases() -> list[Row]:
    return [
        {"alias": "a-p-alice", "alias_type": "anonymous_id", "person_id": "p-alice",
         "first_seen_at": at("2024-08-08 10:00"), "last_seen_at": at("2024-08-09 10:02")},
        {"alias": "alice", "alias_type": "user_id", "person_id": "p-alice",
         "first_seen_at": at("2024-08-09 10:00"), "last_seen_at": at("2024-08-09 10:02")},
    ]  # fmt: skip


MODEL_ROWS: dict[str, list[Row]] = {
    "events_sessionized": _events(),
    "sessions": _sessions(),
    "attribution_credits": _credits(),
    "attribution_paths": _paths(),
    "user_profiles": _profiles(),
    "identity_map": _aliases(),
}

RAW_TABLES: dict[str, dict[str, str]] = {
    "view": {"id": "TEXT", "price": "DOUBLE PRECISION", 'we"ird': "TEXT", "plan": "TEXT"},
    "pages": {"id": "TEXT", "path": "TEXT"},
    "tracks": {"id": "TEXT", "event": "TEXT"},
}
RAW_ROWS: dict[str, list[Row]] = {
    "view": [
        {"id": "v-u1", "price": 20.0, 'we"ird': "x", "plan": "pro"},
        {"id": "v-u2", "price": 5.0, 'we"ird': "y", "plan": "free"},
        {"id": "v-u3", "price": 15.0, 'we"ird': "x", "plan": "pro"},
        {"id": "v-u4", "price": 50.0, 'we"ird': None, "plan": "pro"},
    ],
}


def load(conn: Any, style: str, models_schema: str = "analytics", raw_schema: str = "events") -> None:
    """Create every table and insert the rows above through a DB-API connection."""
    from tests.analytics.tables import MODEL_TABLES, create_statements, insert

    for statement in create_statements(models_schema, MODEL_TABLES) + create_statements(
        raw_schema, RAW_TABLES
    ):
        conn.execute(statement)
    for table, rows in MODEL_ROWS.items():
        insert(conn, models_schema, table, rows, style)
    for table, rows in RAW_ROWS.items():
        insert(conn, raw_schema, table, rows, style)
