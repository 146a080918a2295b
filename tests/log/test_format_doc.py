"""docs/log-format.md is the reader's spec: its examples and names must be what the code writes."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from headwater.log.record import encode
from headwater.log.segment import pack_watermark, partition_dir, segment_name

DOC = Path(__file__).resolve().parents[2] / "docs" / "log-format.md"


def _hex(data: bytes) -> str:
    return data.hex(" ")


def test_the_frame_example_is_what_the_writer_encodes():
    frame = bytes(encode([("web", b"hello")], 7, 1_700_000_000_123, {}))
    assert _hex(frame) in DOC.read_text()


def test_the_watermark_example_is_what_the_writer_writes():
    assert _hex(pack_watermark(8)) in DOC.read_text()


def test_the_documented_names_match_the_code(tmp_path):
    text = DOC.read_text()
    assert partition_dir(tmp_path, 0).name in text
    assert segment_name(81234) in text
    assert re.search(r"\^\(\\d\{20\}\)\\\.seg\$", text)


def test_the_written_files_are_the_documented_ones(make_log):
    log = make_log()
    writer = log.open_writer()
    asyncio.run(writer.append([("web", b"hello")]))
    asyncio.run(writer.aclose())
    log.consumer("warehouse").commit()
    files = sorted(str(p.relative_to(log.directory)) for p in log.directory.rglob("*") if p.is_file())
    assert files == [
        "consumers/warehouse.json",
        f"partition-00000/{segment_name(0)}",
        "partition-00000/watermark",
        "partition-00000/writer.lock",
    ]
    text = DOC.read_text()
    assert all(Path(name).name in text for name in files)
