"""Fixtures for the real-SDK tests: npm SDKs installed and bundled, node scripts, a browser, a page server.

Nothing here skips: a missing node, npm or chromium fails the test with what to install (the test
command installs them), because a compatibility suite that silently skips proves nothing.
"""

from __future__ import annotations

import fcntl
import functools
import http.server
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.sdk.npm_sdks import BUNDLES, CHROMIUM, CHROMIUM_ARGS, DIST, SDK_DIR, install_and_build, need

# The field-by-field checks live in a helper module; let pytest explain its failed asserts too.
pytest.register_assert_rewrite("tests.sdk.sdk_checks")


@pytest.fixture(scope="session")
def npm_sdks() -> Path:
    """tests/sdk with node_modules installed and dist/ bundled; a file lock serialises parallel sessions."""
    DIST.mkdir(exist_ok=True)
    with open(DIST / ".build.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            install_and_build()
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
    return SDK_DIR


NodeSender = Callable[[str, str, str, list[tuple[str, dict[str, Any]]]], dict[str, Any]]


@pytest.fixture(scope="session")
def node_send(npm_sdks: Path) -> NodeSender:
    """Runs a send_*.mjs script: (script, url, write_key, [(method, message), ...]) → its JSON report.

    The report carries `exit` too, so a test can assert that the SDK itself saw a failure.
    """
    node = need("node", "apt-get install nodejs (Debian) or install Node.js 18+")

    def send(
        script: str, url: str, write_key: str, calls: list[tuple[str, dict[str, Any]]]
    ) -> dict[str, Any]:
        cmd = [node, str(npm_sdks / script), url, write_key, orjson.dumps(calls).decode()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        assert lines, f"{script} printed no report (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        report: dict[str, Any] = orjson.loads(lines[-1])
        report["exit"] = proc.returncode
        report["stderr"] = proc.stderr
        return report

    return send


class _PageHandler(http.server.SimpleHTTPRequestHandler):
    """Serves /page/<bundle> from the template and /dist/* from the bundles; nothing else."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/page/"):
            bundle = self.path.removeprefix("/page/").split("?")[0]
            if bundle not in BUNDLES:
                self.send_error(404)
                return
            body = (SDK_DIR / "browser" / "page.html").read_text().replace("{{bundle}}", bundle).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if not self.path.startswith("/dist/"):
            self.send_error(404)
            return
        super().do_GET()


@pytest.fixture(scope="session")
def page_origin(npm_sdks: Path) -> Iterator[str]:
    """The test page's origin: `localhost` on its own port, a different site from the data plane's 127.0.0.1.

    The SDKs therefore make real cross-origin requests, with the CORS preflights their custom headers
    (Authorization, AnonymousId, SentAt) force.
    """
    handler = functools.partial(_PageHandler, directory=str(npm_sdks))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="sdk-page-server", daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def browser(npm_sdks: Path) -> Iterator[Any]:
    """Debian's headless Chromium under Playwright; never a downloaded browser.

    Module-scoped: Playwright's sync API keeps an event loop of its own, which is closed before other
    test modules (some of which run asyncio) start.
    """
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing; the browser SDK tests need Debian's Chromium: apt-get install chromium"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "playwright is not installed: pip install -e '.[test]' (Playwright's Python API, no browser)"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
