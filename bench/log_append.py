"""Event-log benchmark: appended events/s with fsync on, against the same writer with fsync off.

Concurrent asyncio producers append batches of 100 events (~490 bytes each) to one partition
writer, as one ingest worker's requests do; group commit shares each fsync among them. The
baseline, measured in the same run, is the same writer with fsync off (page-cache speed), so the
ratio is what durability costs. Medians over rounds.

    python bench/log_append.py [--rounds 5] [--seconds 3] [--producers 1 8 64]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import orjson
import uvloop

from headwater.log import LogSettings, open_log
from ingest import web_event  # bench/ is on sys.path when a script in it runs


async def run(directory: Path, fsync: bool, producers: int, seconds: float) -> tuple[float, float]:
    """Returns (events/s, fsyncs per second)."""
    log = open_log(LogSettings(directory=directory, fsync=fsync))
    writer = log.open_writer()
    entries = [("web", orjson.dumps(web_event(n))) for n in range(100)]
    appended = 0
    deadline = time.perf_counter() + seconds

    async def producer() -> None:
        nonlocal appended
        while time.perf_counter() < deadline:
            await writer.append(entries)
            appended += len(entries)

    started = time.perf_counter()
    await asyncio.gather(*(producer() for _ in range(producers)))
    elapsed = time.perf_counter() - started
    fsyncs = writer.stats.fsyncs
    await writer.aclose()
    log.close()
    return appended / elapsed, fsyncs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--producers", type=int, nargs="+", default=[1, 8, 64])
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="headwater-logbench-"))
    try:
        print(f"{args.rounds} rounds x {args.seconds:g}s, batches of 100 events, one partition writer\n")
        for producers in args.producers:
            durable, baseline, syncs = [], [], []
            for round_no in range(args.rounds):
                rate, per_second = uvloop.run(
                    run(root / f"on-{producers}-{round_no}", True, producers, args.seconds)
                )
                durable.append(rate)
                syncs.append(per_second)
                rate, _ = uvloop.run(
                    run(root / f"off-{producers}-{round_no}", False, producers, args.seconds)
                )
                baseline.append(rate)
                shutil.rmtree(root / f"on-{producers}-{round_no}")
                shutil.rmtree(root / f"off-{producers}-{round_no}")
            on, off = statistics.median(durable), statistics.median(baseline)
            syncs_per_second = statistics.median(syncs)
            print(
                f"{producers:3} producers: fsync on {on:>10,.0f} events/s ({syncs_per_second:,.0f} fsyncs/s)"
                f"   fsync off {off:>10,.0f} events/s   ratio {on / off:.2f}"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
