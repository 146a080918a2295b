"""One stored event becomes the rows RudderStack's warehouse transformer would write for it.

This reproduces rudder-server's embedded warehouse transformer for the PostgreSQL profile
(contract §1-§3, checklist §6): which tables an event type fills, the rule columns (`id`,
`received_at`, `context_ip`, ...), how `properties`, `traits` and `context` are flattened into
columns (keys in byte order so that colliding keys resolve the same way, blank values skipped,
arrays kept whole, reserved rule columns dropped per event type, string-spread `traits` rejoined),
and the per-cell types of `values.infer`. The loader adds `uuid_ts` when it loads.

Deliberately not implemented, because Headwater's sources never produce them or no package needs
them: `jsonPaths` (JSON columns for chosen paths), `extract` and `merge` events (rejected as
unsupported), identity-merge-rule rows, the cloud-source rule that stores objects nested three
levels deep as JSON text, `record_id`, Blendo casing, `storeFullEvent` (`rudder_event`), and the
per-event `skipReservedKeywordsEscaping` / `skipTracksTable` / `skipUsersTable` integration options
(the destination-level settings are honoured). The `users` row is built from the `identifies` row
(its values without `user_id`, with `id` = the user id), which is what RudderStack's PostgreSQL
loader itself merges into `users`; the loader keeps one row per id with the latest non-null values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final
from uuid import uuid4

import orjson

from headwater.collect.timestamps import format_time, parse_time, stamp_times
from headwater.warehouse.errors import EventRejected
from headwater.warehouse.model import AbstractType, Row, SourceInfo
from headwater.warehouse.naming import Namer
from headwater.warehouse.values import go_text, infer, infer_text, is_blank

__all__ = ["Transformer"]

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1

# Rule columns every event type reserves: a flattened key landing on one of these is dropped.
_DEFAULT_RULES: Final = frozenset(
    {
        "id",
        "anonymous_id",
        "user_id",
        "sent_at",
        "timestamp",
        "received_at",
        "original_timestamp",
        "channel",
        "context_ip",
        "context_request_ip",
        "context_passed_ip",
    }
)
_RESERVED: Final[dict[str, frozenset[str]]] = {
    "track": _DEFAULT_RULES | {"event_text", "record_id"},
    "identify": _DEFAULT_RULES,
    "page": _DEFAULT_RULES | {"name"},
    "screen": _DEFAULT_RULES | {"name"},
    "group": _DEFAULT_RULES | {"group_id"},
    "alias": _DEFAULT_RULES | {"previous_id"},
}
_UNSUPPORTED: Final = frozenset({"extract", "merge"})
_TIME_TYPES: Final[dict[str, AbstractType]] = {
    "original_timestamp": "datetime",
    "received_at": "datetime",
    "sent_at": "datetime",
    "timestamp": "datetime",
}

# What a node does with an object that is a spread string ({"0": "a", "1": "b"}).
_PLAIN, _REJOIN, _DROP = 0, 1, 2

_NODE_LIMIT: Final = 100_000


class _Node:
    """One object position in an input (e.g. `context.traits` of a track): its names, cached.

    `prefix` is the raw key path joined with `_` (`context_traits_`), from which the column of
    each key is derived once; `columns` maps a key to its column ('' when the key is dropped:
    empty name or a reserved rule column of the event type).
    """

    __slots__ = ("children", "columns", "complete", "prefix", "stringlike")

    def __init__(self, prefix: str, complete: str) -> None:
        self.prefix = prefix
        self.complete = complete
        self.columns: dict[str, str] = {}
        self.children: dict[str, _Node] = {}
        # RudderStack rejoins a spread string found as `context.traits` and drops one found as a
        # group's `traits`; it decides by the full path including the event type ("complete").
        if complete.endswith("context_traits_") or complete == "group_traits_":
            self.stringlike = _REJOIN if prefix == "context_traits_" else _DROP
        else:
            self.stringlike = _PLAIN


def _is_spread_string(obj: dict[str, Any]) -> bool:
    """Keys `0..n-1` or `1..n`, each holding one ASCII character: a JS string spread into an object."""
    low = high = -1
    for key, value in obj.items():
        if not key or not key.isascii() or not key.isdigit():
            return False
        if type(value) is not str or len(value) != 1 or not value.isascii():
            return False
        number = int(key)
        if low < 0 or number < low:
            low = number
        if number > high:
            high = number
    if low not in (0, 1) or high - low + 1 != len(obj):
        return False
    return all(str(number) in obj for number in range(low, high + 1))


def _joined(obj: dict[str, Any]) -> str:
    return "".join(value for _, value in sorted(obj.items(), key=lambda item: int(item[0])))


def _lookup(obj: Any, key: str) -> Any:
    return obj.get(key) if type(obj) is dict else None


def _first_non_blank(*candidates: Any) -> Any:
    for value in candidates:
        if not is_blank(value):
            return value
    return None


def _go_string(value: Any) -> str:
    """rudder-server's `ToString`, used on `type` and `userId`: '' for null, a number's text."""
    if type(value) is str:
        return value
    if value is None:
        return ""
    return go_text(value)


def _time_text(value: Any) -> str | None:
    """The normalised text of a time field, or None when it is missing or not a RudderStack datetime."""
    if type(value) is not str:
        return None
    kind, text = infer_text(value)
    return text if kind == "datetime" else None


class Transformer:
    """Turns decoded events into rows; holds the name caches, so keep one per loader."""

    def __init__(
        self,
        namer: Namer,
        *,
        max_columns: int = 1600,
        users_context_traits: bool = False,
        skip_users_table: bool = False,
        skip_tracks_table: bool = False,
    ) -> None:
        self.namer = namer
        self.max_columns = max_columns
        self.users_context_traits = users_context_traits
        self.skip_users_table = skip_users_table
        self.skip_tracks_table = skip_tracks_table
        self._trees: dict[tuple[str, str], _Node] = {}
        self._nodes = 0
        self._injected: dict[int, tuple[SourceInfo, dict[str, Any]]] = {}
        self._handlers = {
            "track": self._track,
            "identify": self._identify,
            "page": self._page,
            "screen": self._page,
            "group": self._group,
            "alias": self._alias,
        }

    # -- names ------------------------------------------------------------------------------------

    def _tree(self, kind: str, root: str) -> _Node:
        """The root node of one input of one event type, e.g. ("track", "context")."""
        node = self._trees.get((kind, root))
        if node is None:
            prefix = "context_" if root == "context" else ""
            node = self._trees[(kind, root)] = _Node(prefix, f"{kind}_{root}_")
        return node

    def _child(self, node: _Node, key: str) -> _Node:
        self._grow()
        child = node.children[key] = _Node(node.prefix + key + "_", node.complete + key + "_")
        return child

    def _column(self, node: _Node, key: str, reserved: frozenset[str]) -> str:
        self._grow()
        column = self.namer.column(node.prefix + key)
        if column in reserved:
            column = ""
        node.columns[key] = column
        return column

    def _grow(self) -> None:
        """Bound the name trees: an endless variety of keys must not grow memory without end."""
        self._nodes += 1
        if self._nodes > _NODE_LIMIT:
            self._trees.clear()
            self._nodes = 0

    # -- flattening -------------------------------------------------------------------------------

    def _flatten(
        self,
        obj: dict[str, Any],
        node: _Node,
        reserved: frozenset[str],
        values: dict[str, Any],
        types: dict[str, AbstractType],
    ) -> None:
        """Write the leaves of `obj` as columns; later keys (in byte order) overwrite earlier ones."""
        if node.stringlike and _is_spread_string(obj):
            if node.stringlike == _REJOIN:
                whole = self.namer.column(node.prefix)
                if whole and whole not in reserved:
                    types[whole], values[whole] = infer_text(_joined(obj))
            return
        columns = node.columns
        children = node.children
        for key in sorted(obj):
            value = obj[key]
            kind = type(value)
            if kind is str:
                if not value:
                    continue
                column = columns.get(key)
                if column is None:
                    column = self._column(node, key, reserved)
                if column:
                    if len(value) > 9 and value[4] == "-":
                        types[column], values[column] = infer_text(value)
                    else:
                        values[column] = value
                        types[column] = "string"
                continue
            if kind is dict:
                if value:
                    child = children.get(key)
                    if child is None:
                        child = self._child(node, key)
                    self._flatten(value, child, reserved, values, types)
                continue
            if value is None or (kind is list and is_blank(value)):
                continue
            column = columns.get(key)
            if column is None:
                column = self._column(node, key, reserved)
            if not column:
                continue
            if kind is bool:
                values[column] = value
                types[column] = "boolean"
            elif kind is int and _INT64_MIN <= value <= _INT64_MAX:
                values[column] = value
                types[column] = "int"
            elif kind is float and value.is_integer() and _INT64_MIN <= value <= _INT64_MAX:
                values[column] = int(value)
                types[column] = "int"
            else:
                types[column], values[column] = infer(value)

    def _input(
        self,
        obj: Any,
        kind: str,
        root: str,
        values: dict[str, Any],
        types: dict[str, AbstractType],
    ) -> None:
        if type(obj) is dict and obj:
            self._flatten(obj, self._tree(kind, root), _RESERVED[kind], values, types)

    def _context(self, context: dict[str, Any] | None, source: SourceInfo) -> dict[str, Any]:
        """The event's context with the source and destination injected, as RudderStack does."""
        cached = self._injected.get(id(source))
        if cached is None or cached[0] is not source:
            injected = dict(source.extra)
            injected.update(
                sourceId=source.source_id,
                sourceType=source.source_type,
                destinationId=source.destination_id,
                destinationType=source.destination_type,
            )
            if len(self._injected) > 1_000:
                self._injected.clear()
            cached = self._injected[id(source)] = (source, injected)
        if not context:
            return cached[1]
        return {**context, **cached[1]}

    # -- rule columns -----------------------------------------------------------------------------

    def _rules(
        self, event: dict[str, Any], context: dict[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The default rule columns of this event (values, types): the same on every row it makes."""
        received = _time_text(event.get("receivedAt"))
        if received is None:
            received = format_time(datetime.now(UTC).replace(tzinfo=None))
        sent_at = _time_text(event.get("sentAt"))
        original = _time_text(event.get("originalTimestamp"))
        timestamp = _time_text(event.get("timestamp"))
        if sent_at is None or original is None or timestamp is None:
            sent_at, original, timestamp = (
                _time_text(value) or received for value in _filled_times(event, received)
            )
        values: dict[str, Any] = {
            "original_timestamp": original,
            "received_at": received,
            "sent_at": sent_at,
            "timestamp": timestamp,
        }
        types: dict[str, AbstractType] = dict(_TIME_TYPES)

        message_id = event.get("messageId")
        if is_blank(message_id):
            message_id = f"auto-{uuid4()}"
        passed_ip = context.get("ip") if context else None
        request_ip = event.get("request_ip")
        for column, value in (
            ("anonymous_id", event.get("anonymousId")),
            ("channel", event.get("channel")),
            ("context_ip", request_ip if is_blank(passed_ip) else passed_ip),
            ("context_passed_ip", passed_ip),
            ("context_request_ip", request_ip),
            ("id", message_id),
            ("user_id", event.get("userId")),
        ):
            kind = type(value)
            if kind is str:
                if value:
                    if len(value) > 9 and value[4] == "-":
                        types[column], values[column] = infer_text(value)
                    else:
                        values[column] = value
                        types[column] = "string"
            elif value is not None and kind is not dict and kind is not list:
                types[column], values[column] = infer(value)
        return values, types

    # -- event types ------------------------------------------------------------------------------

    def rows(self, event: dict[str, Any], source: SourceInfo) -> list[Row]:
        """The rows of one event; raises `EventRejected` when RudderStack would fail the event."""
        if type(event) is not dict:
            raise EventRejected("event is not a JSON object")
        context = event.get("context")
        if context is not None and type(context) is not dict:
            raise EventRejected("context is not a JSON object")
        kind = _go_string(event.get("type")).lower()
        handler = self._handlers.get(kind)
        if handler is None:
            quoted = orjson.dumps(kind).decode()
            if kind in _UNSUPPORTED:
                raise EventRejected(f"unsupported event type {quoted}")
            raise EventRejected(f"unknown event type {quoted}")
        rows = handler(event, context, source, kind)
        limit = self.max_columns
        for row in rows:
            count = len(row.values) + 1  # the loader's uuid_ts
            if count > limit:
                raise EventRejected(f"too many columns: {count} > {limit}")
        return rows

    def _track(
        self, event: dict[str, Any], context: dict[str, Any] | None, source: SourceInfo, kind: str
    ) -> list[Row]:
        values: dict[str, Any] = {}
        types: dict[str, AbstractType] = {}
        self._flatten_context(context, source, kind, values, types)
        rule_values, rule_types = self._rules(event, context)
        values.update(rule_values)
        types.update(rule_types)
        _set_rule(values, types, "event_text", event.get("event"))
        text = values.get("event_text")
        name = text if type(text) is str else ""
        values["event"] = self.namer.event_value(name)
        types["event"] = "string"

        rows: list[Row] = []
        table = self.namer.event_table(name)
        if table:
            own_values: dict[str, Any] = {}
            own_types: dict[str, AbstractType] = {}
            self._input(event.get("properties"), kind, "properties", own_values, own_types)
            self._input(event.get("userProperties"), kind, "userProperties", own_values, own_types)
            own_values.update(values)
            own_types.update(types)
            rows.append(Row(table, own_values, own_types))
        if not self.skip_tracks_table:
            rows.insert(0, Row("tracks", values, types))
        return rows

    def _identify(
        self, event: dict[str, Any], context: dict[str, Any] | None, source: SourceInfo, kind: str
    ) -> list[Row]:
        values: dict[str, Any] = {}
        types: dict[str, AbstractType] = {}
        self._input(event.get("userProperties"), kind, "userProperties", values, types)
        if self.users_context_traits:
            self._input(_lookup(context, "traits"), kind, "context_traits", values, types)
        self._input(event.get("traits"), kind, "traits", values, types)
        self._flatten_context(context, source, kind, values, types)
        rule_values, rule_types = self._rules(event, context)
        values.update(rule_values)
        types.update(rule_types)
        rows = [Row("identifies", values, types)]

        user_id = event.get("userId")
        if not self.skip_users_table and "user_id" in values and _go_string(user_id).strip():
            user_values = dict(values)
            user_types = dict(types)
            user_values["id"] = user_values.pop("user_id")
            user_types["id"] = user_types.pop("user_id")
            rows.append(Row("users", user_values, user_types))
        return rows

    def _page(
        self, event: dict[str, Any], context: dict[str, Any] | None, source: SourceInfo, kind: str
    ) -> list[Row]:
        """Pages and screens: properties and context, plus `name` from `name` or `properties.name`."""
        values: dict[str, Any] = {}
        types: dict[str, AbstractType] = {}
        properties = event.get("properties")
        self._input(properties, kind, "properties", values, types)
        self._flatten_context(context, source, kind, values, types)
        rule_values, rule_types = self._rules(event, context)
        values.update(rule_values)
        types.update(rule_types)
        _set_rule(values, types, "name", _first_non_blank(event.get("name"), _lookup(properties, "name")))
        return [Row("pages" if kind == "page" else "screens", values, types)]

    def _group(
        self, event: dict[str, Any], context: dict[str, Any] | None, source: SourceInfo, kind: str
    ) -> list[Row]:
        values: dict[str, Any] = {}
        types: dict[str, AbstractType] = {}
        self._input(event.get("traits"), kind, "traits", values, types)
        self._flatten_context(context, source, kind, values, types)
        rule_values, rule_types = self._rules(event, context)
        values.update(rule_values)
        types.update(rule_types)
        _set_rule(values, types, "group_id", event.get("groupId"))
        return [Row("groups", values, types)]

    def _alias(
        self, event: dict[str, Any], context: dict[str, Any] | None, source: SourceInfo, kind: str
    ) -> list[Row]:
        values: dict[str, Any] = {}
        types: dict[str, AbstractType] = {}
        self._input(event.get("traits"), kind, "traits", values, types)
        self._flatten_context(context, source, kind, values, types)
        rule_values, rule_types = self._rules(event, context)
        values.update(rule_values)
        types.update(rule_types)
        _set_rule(values, types, "previous_id", event.get("previousId"))
        return [Row("aliases", values, types)]

    def _flatten_context(
        self,
        context: dict[str, Any] | None,
        source: SourceInfo,
        kind: str,
        values: dict[str, Any],
        types: dict[str, AbstractType],
    ) -> None:
        self._flatten(
            self._context(context, source), self._tree(kind, "context"), _RESERVED[kind], values, types
        )


def _set_rule(values: dict[str, Any], types: dict[str, Any], column: str, value: Any) -> None:
    """A rule column: omitted when blank, an object or an array; typed like any other cell."""
    if value is None or value == "" or type(value) is dict or type(value) is list:
        return
    types[column], values[column] = infer(value)


def _filled_times(event: dict[str, Any], received: str) -> tuple[Any, Any, Any]:
    """sentAt, originalTimestamp and timestamp when the stored event lacks one (not our data plane's).

    The same derivation the data plane applies at ingest (rudder rule): a missing sentAt or
    originalTimestamp is the receive time, a missing timestamp is skew-corrected.
    """
    moment = parse_time(received)
    assert moment is not None  # received passed the datetime check
    times = {key: event.get(key) for key in ("sentAt", "originalTimestamp", "timestamp")}
    stamp_times(times, "rudder", moment, received, None, {})
    return times["sentAt"], times["originalTimestamp"], times["timestamp"]
