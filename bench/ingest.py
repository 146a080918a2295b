"""Ingest benchmark: acknowledged events/s and ack latency of `headwater up`, against its ceiling.

Each round starts a real `headwater up` (2 ingest workers, fsync on, a fresh data dir) and, in the
same round, the ceiling server (bench/ceiling.py: the same uvicorn/httptools/uvloop/SO_REUSEPORT
stack answering 200 without parsing or writing). wrk, a separate process on loopback, drives:

  batch   POST /v1/batch, 100 events (~40 KB) per request
  track   POST /v1/track, one event (the JS SDK's default)

then the same scenario paced at half of the measured maximum for the p99 at half load.
Prints medians over the rounds and each figure's ratio to the ceiling measured in the same run.

    python bench/ingest.py [--rounds 3] [--seconds 10] [--batch-connections 16] [--track-connections 64]

Connections: 16 for batches (each is ~40 KB; more only queues), 64 for single events (many browsers).
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import yaml

HERE = Path(__file__).resolve().parent
KEY = "2dUZ8nGkBenchKey0000000000A"
AUTH = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def web_event(n: int) -> dict[str, object]:
    """An event shaped like @rudderstack/analytics-js sends, trimmed to ~400 bytes (100 make ~40 KB)."""
    return {
        "type": "track",
        "event": "Product Viewed",
        "channel": "web",
        "anonymousId": str(uuid.UUID(int=n * 7919 + 1)),
        "userId": f"user-{n % 500}",
        "messageId": str(uuid.UUID(int=n * 104729 + 3)),
        "properties": {"product_id": f"sku-{n % 97}", "price": 19.99},
        "context": {
            "library": {"name": "RudderLabs JavaScript SDK", "version": "3.34.1"},
            "page": {"path": "/p/shoes"},
            "locale": "en-US",
            "sessionId": 1764000000000,
        },
        "originalTimestamp": "2026-11-24T10:00:00.100Z",
        "sentAt": "2026-11-24T10:00:00.123Z",
        "integrations": {"All": True},
    }


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, path: str, body: Path, seconds: int, connections: int, delay_ms: float = 0) -> Run:
    env = dict(
        os.environ, BENCH_BODY=str(body), BENCH_PATH=path, BENCH_AUTH=AUTH, BENCH_DELAY_MS=str(delay_ms)
    )
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "1",
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--latency",
            "-s",
            str(HERE / "scenarios" / "post.lua"),
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = {
        m.group(1): float(m.group(2)) * _UNIT[m.group(3)]
        for m in re.finditer(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", out, re.M)
    }
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    count = int(errors.group(1)) if errors else 0
    if socket_errors:
        count += sum(int(g) for g in socket_errors.groups())
    return Run(rps, lat["50"], lat["99"], count)


def wait_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/health", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"nothing answered at {url}")


def start_headwater(workdir: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = workdir / "headwater.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(workdir / "data"),
                "collect": {"port": port, "host": "127.0.0.1", "workers": workers},
                "log": {"fsync": True},
                "sources": [{"name": "bench", "write_key": KEY}],
            }
        )
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "headwater", "up", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_up(url)
    return process, url


def start_ceiling(workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(HERE / "ceiling.py"), str(port), str(workers)])
    url = f"http://127.0.0.1:{port}"
    wait_up(url)
    return process, url


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--batch-connections", type=int, default=16)
    parser.add_argument("--track-connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench: wrk is needed (apt-get install wrk)")

    workdir = Path(tempfile.mkdtemp(prefix="headwater-bench-"))
    batch_body = workdir / "batch.json"
    batch_body.write_bytes(
        orjson.dumps({"batch": [web_event(n) for n in range(100)], "sentAt": "2026-11-24T10:00:00.123Z"})
    )
    track_body = workdir / "track.json"
    track_body.write_bytes(orjson.dumps(web_event(1)))
    print(
        f"batch body {batch_body.stat().st_size} bytes (100 events); "
        f"track body {track_body.stat().st_size} bytes"
    )
    print(
        f"{args.rounds} rounds x {args.seconds}s, wrk -c {args.batch_connections} (batch) "
        f"-c {args.track_connections} (track), {args.workers} workers, "
        f"{os.cpu_count()} cores\n"
    )

    scenarios = {"batch": ("/v1/batch", batch_body, 100), "track": ("/v1/track", track_body, 1)}
    connections = {"batch": args.batch_connections, "track": args.track_connections}
    results: dict[str, dict[str, list[Run]]] = {
        s: {"headwater": [], "ceiling": [], "half": []} for s in scenarios
    }
    for round_no in range(args.rounds):
        for name, (path, body, _) in scenarios.items():
            ceiling, ceiling_url = start_ceiling(args.workers)
            try:
                results[name]["ceiling"].append(wrk(ceiling_url, path, body, args.seconds, connections[name]))
            finally:
                stop(ceiling)
            round_dir = workdir / f"round-{round_no}-{name}"
            round_dir.mkdir()
            server, url = start_headwater(round_dir, args.workers)
            try:
                full = wrk(url, path, body, args.seconds, connections[name])
                results[name]["headwater"].append(full)
                # Half load: pace each connection so the offered rate is half the maximum. Latency falls as
                # load falls, so calibrate the pause on a short trial run and correct it once.
                target = full.rps / 2
                delay_ms = max(0.0, 1000.0 * connections[name] / target - full.p50_ms)
                trial = wrk(url, path, body, 3, connections[name], delay_ms)
                cycle_ms = 1000.0 * connections[name] / trial.rps
                delay_ms = max(0.0, delay_ms + 1000.0 * connections[name] / target - cycle_ms)
                results[name]["half"].append(wrk(url, path, body, args.seconds, connections[name], delay_ms))
            finally:
                stop(server)
                shutil.rmtree(round_dir, ignore_errors=True)
            r = results[name]
            print(
                f"round {round_no + 1} {name}: headwater {r['headwater'][-1].rps:,.0f} req/s, "
                f"ceiling {r['ceiling'][-1].rps:,.0f} req/s, half-load {r['half'][-1].rps:,.0f} req/s "
                f"p99 {r['half'][-1].p99_ms:.2f} ms",
                flush=True,
            )

    print("\nmedians")
    for name, (_, _, per_request) in scenarios.items():
        r = results[name]
        hw = statistics.median(x.rps for x in r["headwater"])
        ceil = statistics.median(x.rps for x in r["ceiling"])
        p50 = statistics.median(x.p50_ms for x in r["headwater"])
        p99 = statistics.median(x.p99_ms for x in r["headwater"])
        half_rps = statistics.median(x.rps for x in r["half"])
        half_p50 = statistics.median(x.p50_ms for x in r["half"])
        half_p99 = statistics.median(x.p99_ms for x in r["half"])
        errors = sum(x.errors for x in r["headwater"] + r["half"])
        unit = "events/s" if per_request > 1 else "requests/s"
        print(
            f"{name:6} headwater {hw * per_request:>10,.0f} {unit} ({hw:,.0f} req/s)  "
            f"ceiling {ceil * per_request:>10,.0f}  ratio {hw / ceil:.2f}"
        )
        print(f"{'':6} at max load   p50 {p50:6.2f} ms  p99 {p99:6.2f} ms")
        print(
            f"{'':6} at half load  ({half_rps * per_request:,.0f} {unit}, {half_rps / hw:.2f} of max) "
            f"p50 {half_p50:6.2f} ms  "
            f"p99 {half_p99:6.2f} ms   non-2xx/socket errors {errors}"
        )
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
