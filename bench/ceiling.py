"""The ceiling: the same server stack as an ingest worker (uvicorn, httptools, uvloop, SO_REUSEPORT
processes) answering 200 `ok` after reading the body, without parsing or writing anything.

`python bench/ceiling.py PORT WORKERS` runs until SIGTERM.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
from typing import Any

import uvicorn
import uvloop

from headwater.collect.listen import bind_socket

OK_HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"2")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": OK_HEADERS})
    await send({"type": "http.response.body", "body": b"ok"})


def serve(port: int) -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, lambda *_: None)
    sock = bind_socket("127.0.0.1", port)
    config = uvicorn.Config(app, http="httptools", lifespan="off", access_log=False, log_config=None)
    uvloop.run(uvicorn.Server(config).serve(sockets=[sock]))


def main() -> None:
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    processes = [multiprocessing.Process(target=serve, args=(port,)) for _ in range(workers)]
    for process in processes:
        process.start()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    for process in processes:
        process.terminate()
        process.join()


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    main()
