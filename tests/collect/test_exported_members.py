"""The public surface of headwater.collect, pinned."""

from __future__ import annotations

import headwater.collect


def test_exported_members() -> None:
    assert headwater.collect.__all__ == [
        "REPLIES",
        "ClientDisconnected",
        "CollectApp",
        "CollectError",
        "CollectMetrics",
        "CollectSettings",
        "LogUnavailable",
        "PersistError",
        "PersistTimeout",
        "Reply",
        "RequestRefused",
        "create_app",
    ]
    for name in headwater.collect.__all__:
        member = getattr(headwater.collect, name)
        if name != "REPLIES":
            assert member.__module__.startswith("headwater.collect."), name


def test_every_error_is_a_collect_error_and_a_headwater_error() -> None:
    from headwater.errors import HeadwaterError

    for name in ("ClientDisconnected", "LogUnavailable", "PersistError", "PersistTimeout", "RequestRefused"):
        error = getattr(headwater.collect, name)
        assert issubclass(error, headwater.collect.CollectError)
        assert issubclass(error, HeadwaterError)


def test_reply_table_keeps_the_strings_sdks_match() -> None:
    replies = headwater.collect.REPLIES
    assert (replies["invalid_write_key"].status, replies["invalid_write_key"].text_body) == (
        401,
        b"invalid write key\n",
    )
    assert replies["no_identifier"].text_body == b"request neither has anonymousId nor userId\n"
    assert replies["source_disabled"].status == 404
    assert replies["ok"].text_body == b"ok"
    for reply in replies.values():
        if reply.status != 200:
            assert reply.text_body == reply.message.encode() + b"\n"
            assert reply.json_body.startswith(b'{"code":')
