"""Settings of the data plane."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from headwater.settings import declare

if TYPE_CHECKING:
    from headwater.config import Config

HOST = declare("collect.host", "str", "0.0.0.0", "Address the data plane listens on.")
PORT = declare(
    "collect.port",
    "int",
    8080,
    "TCP port of the data plane (rudder-server's default).",
    minimum=0,
    maximum=65535,
)
WORKERS = declare(
    "collect.workers", "int", 0, "Ingest worker processes (0: one per core).", minimum=0, maximum=256
)
MAX_BODY = declare(
    "collect.max_body_bytes",
    "bytes",
    "4MiB",
    "Largest request body after gzip decoding; larger gets 413 (rudder-server: 4000KiB).",
    minimum=1024,
)
MAX_EVENT = declare(
    "collect.max_event_bytes",
    "bytes",
    0,
    "Refuse any single event larger than this (0: no per-event cap, as rudder-server).",
    minimum=0,
)
PATH_PREFIX = declare(
    "collect.path_prefix",
    "str",
    "",
    "Optional path prefix before every route, e.g. /collect (SDKs keep the dataPlaneUrl path).",
)
PUBLIC_URL = declare(
    "collect.public_url",
    "str",
    "",
    "URL the SDKs reach the data plane at; Segment settings point apiHost there "
    "(empty: taken from the request's Host header).",
)
TRUST_FORWARDED = declare(
    "collect.trust_forwarded_for",
    "bool",
    True,
    "Take request_ip from the first X-Forwarded-For entry (rudder-server does).",
)
WRITE_TIMEOUT = declare(
    "collect.write_timeout_seconds",
    "float",
    10.0,
    "Longest wait for the log to make a request durable before answering 504.",
    minimum=0.1,
)
SHUTDOWN_TIMEOUT = declare(
    "collect.shutdown_timeout_seconds",
    "float",
    10.0,
    "How long a stopping worker lets in-flight requests finish.",
    minimum=0,
)
RELOAD_INTERVAL = declare(
    "collect.reload_interval_seconds",
    "float",
    1.0,
    "How often the config file is checked for changed sources (0: only on SIGHUP).",
    minimum=0,
)


@dataclass(frozen=True, slots=True)
class CollectSettings:
    """The data plane's resolved settings."""

    host: str = "0.0.0.0"
    port: int = 8080
    workers: int = 0
    max_body_bytes: int = 4 * 1024 * 1024
    max_event_bytes: int = 0
    path_prefix: str = ""
    public_url: str = ""
    trust_forwarded_for: bool = True
    write_timeout_seconds: float = 10.0
    shutdown_timeout_seconds: float = 10.0
    reload_interval_seconds: float = 1.0

    @property
    def worker_count(self) -> int:
        return self.workers or (os.cpu_count() or 1)

    @classmethod
    def from_config(cls, config: Config) -> CollectSettings:
        return cls(
            host=config["collect.host"],
            port=config["collect.port"],
            workers=config["collect.workers"],
            max_body_bytes=config["collect.max_body_bytes"],
            max_event_bytes=config["collect.max_event_bytes"],
            path_prefix=config["collect.path_prefix"].rstrip("/"),
            public_url=config["collect.public_url"].rstrip("/"),
            trust_forwarded_for=config["collect.trust_forwarded_for"],
            write_timeout_seconds=config["collect.write_timeout_seconds"],
            shutdown_timeout_seconds=config["collect.shutdown_timeout_seconds"],
            reload_interval_seconds=config["collect.reload_interval_seconds"],
        )
