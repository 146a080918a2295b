"""The log's public surface is exactly what `__all__` lists, and every name is importable."""

from __future__ import annotations

import headwater.log


def test_all_is_pinned():
    assert headwater.log.__all__ == [
        "Consumer",
        "ConsumerNameError",
        "CorruptRecordError",
        "EmbeddedConsumer",
        "EmbeddedLog",
        "EventLog",
        "InvalidEntryError",
        "LogClosedError",
        "LogError",
        "LogSettings",
        "LogWriteError",
        "LogWriter",
        "PartitionBusyError",
        "PartitionWriter",
        "Record",
        "RetentionReport",
        "WriterStats",
        "open_log",
    ]


def test_every_exported_member_exists_and_belongs_here():
    for name in headwater.log.__all__:
        member = getattr(headwater.log, name)
        assert member.__module__.startswith("headwater.log"), name


def test_errors_share_the_log_root():
    for name in headwater.log.__all__:
        member = getattr(headwater.log, name)
        if name.endswith("Error"):
            assert issubclass(member, headwater.log.LogError), name


def test_the_embedded_log_satisfies_the_interfaces(tmp_path):
    """Static conformance is checked by mypy; this checks the runtime objects carry every method."""
    from headwater.log import LogSettings, open_log

    with open_log(LogSettings(directory=tmp_path)) as log:
        for method in (
            "open_writer",
            "partitions",
            "end_offsets",
            "start_offsets",
            "read",
            "consumer",
            "consumer_names",
            "enforce_retention",
            "close",
        ):
            assert callable(getattr(log, method))
        writer = log.open_writer()
        assert writer.partition == 0 and callable(writer.append) and callable(writer.aclose)
        consumer = log.consumer("c")
        for method in ("poll", "commit", "committed", "seek", "lag"):
            assert callable(getattr(consumer, method))
        writer.close()
