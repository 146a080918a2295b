"""Where the npm SDKs live and how they get installed and bundled; shared by the fixtures and the tests.

Nothing here skips: a missing node or npm fails the test with what to install, because a compatibility
suite that silently skips proves nothing. The npm install and the esbuild bundle are redone only when
their inputs changed, so a warm run costs a few stat calls.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import orjson
import pytest

SDK_DIR = Path(__file__).resolve().parent
DIST = SDK_DIR / "dist"
BUNDLES = ("rudder-analytics.js", "segment-analytics.js")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def need(program: str, install: str) -> str:
    """The program's path, or a test failure that says how to install it."""
    path = shutil.which(program)
    if path is None:
        pytest.fail(f"{program} is not installed; the SDK compatibility tests need it: {install}")
    return path


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, cwd=SDK_DIR, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{what} failed ({' '.join(cmd)}, exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else 0.0


def install_and_build() -> None:
    """`npm ci` when node_modules is missing or older than the lock, then esbuild when a bundle is stale."""
    npm = need("npm", "apt-get install npm (Debian) or install Node.js 18+ with npm")
    node = need("node", "apt-get install nodejs (Debian) or install Node.js 18+")
    lock = SDK_DIR / "package-lock.json"
    # npm rewrites node_modules/.package-lock.json on every install, so it dates the tree.
    installed = SDK_DIR / "node_modules" / ".package-lock.json"
    if _mtime(installed) < max(_mtime(lock), _mtime(SDK_DIR / "package.json")):
        # No install scripts: esbuild's binary comes from its platform package; none of the SDKs needs one.
        verb = "ci" if lock.exists() else "install"
        _run([npm, verb, "--ignore-scripts", "--no-audit", "--no-fund"], f"npm {verb} in {SDK_DIR}")
    inputs = [SDK_DIR / "build.mjs", installed, *sorted((SDK_DIR / "browser").glob("*.mjs"))]
    newest_input = max(_mtime(p) for p in inputs)
    if any(_mtime(DIST / name) < newest_input for name in BUNDLES):
        _run([node, "build.mjs"], "esbuild bundle of the browser SDKs")


def package_version(name: str) -> str:
    """The installed version of an npm package, as the SDK reports it in context.library."""
    manifest = SDK_DIR / "node_modules" / name / "package.json"
    version = orjson.loads(manifest.read_bytes())["version"]
    assert isinstance(version, str)
    return version
