"""One ingest worker process: uvicorn on the data plane's ASGI app, owning one log partition.

Each worker binds its own SO_REUSEPORT socket on the collect port, so the kernel spreads
connections across workers without a shared accept lock, and a worker killed with SIGKILL takes
only its own connections with it (none of which got a 200). The worker owns one log partition for
as long as it lives; a restarted worker recovers that partition's tail before serving.

Shutdown (SIGTERM or SIGINT): uvicorn stops accepting, lets in-flight requests finish (each has
already awaited its own fsync), then the writers are closed. Sources reload on SIGHUP and when the
config file changes, without dropping a request.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
from types import FrameType

import uvicorn

from headwater.collect.app import create_app
from headwater.collect.listen import bind_socket
from headwater.collect.settings import CollectSettings
from headwater.config import Config, ConfigError, load_config, load_sources
from headwater.control import SourceRegistry, effective_sources
from headwater.log import open_log
from headwater.log.settings import LogSettings
from headwater.logs import configure_logging, get_logger

log = get_logger("headwater.collect.worker")


class SourceWatcher:
    """Keeps the registry in step with the config file: on SIGHUP and whenever the file's stat changes."""

    def __init__(self, config: Config, registry: SourceRegistry) -> None:
        self._config = config
        self._registry = registry
        self._stamp = self._stat()

    def _stat(self) -> tuple[int, int, int] | None:
        if self._config.path is None:
            return None
        try:
            st = os.stat(self._config.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def reload(self, reason: str) -> None:
        """Swap in the file's sources; a broken file keeps the old sources and says why."""
        if self._config.path is None:
            return
        try:
            sources = effective_sources(load_sources(self._config.path), self._config.data_dir)
        except ConfigError as exc:
            log.error("sources not reloaded: %s", exc, extra={"reason": reason})
            return
        self._registry.replace(sources)
        log.info(
            "sources reloaded",
            extra={"reason": reason, "sources": len(sources), "enabled": sum(s.enabled for s in sources)},
        )

    async def watch(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            stamp = self._stat()
            if stamp != self._stamp:
                self._stamp = stamp
                self.reload("file changed")


async def serve(config: Config, index: int) -> None:
    """Run one worker until SIGTERM/SIGINT, then drain and close the log cleanly."""
    settings = CollectSettings.from_config(config)
    registry = SourceRegistry(effective_sources(config.sources, config.data_dir))
    log_settings = LogSettings.from_config(config)
    event_log = open_log(log_settings)
    quarantine_log = open_log(dataclasses.replace(log_settings, directory=config.data_dir / "quarantine"))
    writer = event_log.open_writer()
    quarantine = quarantine_log.open_writer()
    app = create_app(settings, registry, writer, quarantine=quarantine)
    writer.on_fsync = app.metrics.observe_fsync
    sock = bind_socket(settings.host, settings.port)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            http="httptools",
            lifespan="off",
            access_log=False,
            log_config=None,
            server_header=False,
            timeout_keep_alive=65,
            timeout_graceful_shutdown=max(1, round(settings.shutdown_timeout_seconds)),
        )
    )
    watcher = SourceWatcher(config, registry)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, watcher.reload, "SIGHUP")
    tasks = []
    if settings.reload_interval_seconds > 0 and config.path is not None:
        tasks.append(asyncio.create_task(watcher.watch(settings.reload_interval_seconds)))
    log.info(
        "ingest worker serving", extra={"worker": index, "partition": writer.partition, "port": settings.port}
    )
    try:
        await server.serve(sockets=[sock])
    finally:
        for task in tasks:
            task.cancel()
        await writer.aclose()
        await quarantine.aclose()
        event_log.close()
        quarantine_log.close()
        sock.close()
    log.info("ingest worker stopped", extra={"worker": index, "partition": writer.partition})


def _note_signal(signum: int, frame: FrameType | None) -> None:
    """uvicorn re-raises the stop signal after its graceful shutdown; this keeps it from killing us early."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="headwater-collect-worker")
    parser.add_argument("--config", default=None)
    parser.add_argument("--index", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config or None)
    except ConfigError as exc:
        print(f"headwater: {exc}", file=sys.stderr)
        return 2
    configure_logging(config["log_level"])
    signal.signal(signal.SIGTERM, _note_signal)
    signal.signal(signal.SIGINT, _note_signal)
    import uvloop

    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(config, args.index))
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["SourceWatcher", "main", "serve"]
