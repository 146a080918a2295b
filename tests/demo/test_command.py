"""`headwater demo` as an operator runs it: key and URL resolution, summary, errors."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest
import yaml
from click.testing import CliRunner

from headwater.demo import DemoSetupError
from headwater.demo.command import demo, resolve_target

KEY = "2dUZ8nGkDemoCmdKey00000000Y"


def _config(tmp_path: Path, **extra: object) -> Path:
    path = tmp_path / "headwater.yaml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), **extra}))
    return path


def _demo_source(tmp_path: Path, key: str = KEY) -> None:
    control = tmp_path / "data" / "control"
    control.mkdir(parents=True)
    (control / "demo-source.yaml").write_text(
        yaml.safe_dump({"name": "demo", "write_key": key, "enabled": True})
    )


def test_the_key_comes_from_the_demo_source_that_up_made(tmp_path: Path) -> None:
    config = _config(tmp_path, collect={"port": 9123})
    _demo_source(tmp_path)
    url, key, origin = resolve_target(str(config), None, None)
    assert (url, key) == ("http://127.0.0.1:9123", KEY)
    assert origin.endswith("demo-source.yaml")


def test_configured_sources_win_over_the_demo_source(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        sources=[
            {"name": "off", "write_key": "k-off", "enabled": False},
            {"name": "web", "write_key": "k-web"},
        ],
        collect={"path_prefix": "/collect/"},
    )
    _demo_source(tmp_path, "stale-demo-key")
    url, key, origin = resolve_target(str(config), None, None)
    assert (url, key) == ("http://127.0.0.1:8080/collect", "k-web")
    assert "'web'" in origin


def test_flags_need_no_config(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert resolve_target(str(missing), "http://h:1", "k")[:2] == ("http://h:1", "k")


def test_no_key_anywhere_says_how_to_get_one(tmp_path: Path) -> None:
    config = _config(tmp_path)
    with pytest.raises(DemoSetupError, match="headwater up"):
        resolve_target(str(config), None, None)
    result = CliRunner().invoke(demo, ["--config", str(config), "-n", "5"])
    assert result.exit_code == 2
    assert "demo-source.yaml" in result.output and "--write-key" in result.output


def test_dry_run_summarises_without_sending(tmp_path: Path) -> None:
    output = tmp_path / "events.jsonl"
    result = CliRunner().invoke(
        demo,
        [
            "-n",
            "700",
            "--days",
            "3",
            "--seed",
            "9",
            "--dry-run",
            "--output",
            str(output),
            "--start",
            "2026-02-02",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "generated 700 events" in result.output and "2026-02-02 to 2026-02-04" in result.output
    assert "not sent" in result.output
    lines = output.read_bytes().splitlines()
    assert len(lines) == 700 and all(orjson.loads(line)["messageId"] for line in lines)


def test_a_run_sends_through_http_and_reports(recorder, tmp_path: Path) -> None:
    config = _config(tmp_path)
    _demo_source(tmp_path)
    result = CliRunner().invoke(
        demo, ["--config", str(config), "--url", recorder.url, "-n", "300", "--days", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "sent 300 events in" in result.output and "events/s" in result.output
    assert sum(len(r.body.get("batch", [r.body])) for r in recorder.requests) == 300
    assert {r.headers["Authorization"] for r in recorder.requests} == {
        "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
    }


def test_a_refused_key_exits_1_with_the_reason(recorder) -> None:
    recorder.answer = lambda n, r: (401, "invalid write key\n", {})
    result = CliRunner().invoke(demo, ["--url", recorder.url, "--write-key", "bad", "-n", "20"])
    assert result.exit_code == 1
    assert "invalid write key" in result.output and "--write-key" in result.output


def test_a_broken_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "headwater.yaml"
    config.write_text("collect: {port: nope}\n")
    result = CliRunner().invoke(demo, ["--config", str(config), "-n", "5"])
    assert result.exit_code == 2 and "config error" in result.output
