"""The config file, environment overrides and the errors an operator sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater.config import ConfigError, load_config, load_sources
from headwater.settings import DECLARED


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "headwater.yaml"
    path.write_text(text)
    return path


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(environ={})
    assert config.path is None
    assert config["collect.port"] == 8080
    assert config["collect.max_body_bytes"] == 4 * 1024 * 1024
    assert config.data_dir == tmp_path / "headwater-data"
    assert config.sources == ()


def test_issue_shape_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
data_dir: ./somewhere
collect:
  port: 9090
sources:
  - name: web
    write_key: 2dUZ8nGkAbc
    enabled: true
  - name: ios
    write_key: other-key
    enabled: false
""",
    )
    config = load_config(path, environ={})
    assert config["collect.port"] == 9090
    assert config.data_dir == tmp_path / "somewhere"
    assert [(s.name, s.enabled, s.id) for s in config.sources] == [
        ("web", True, "web"),
        ("ios", False, "ios"),
    ]
    assert "2dUZ8nGkAbc" not in repr(config.sources[0])


def test_env_overrides_every_declared_setting(tmp_path: Path) -> None:
    path = write(tmp_path, "collect:\n  port: 9090\n")
    samples = {"int": "7", "float": "2.5", "bool": "false", "bytes": "8KiB", "str": "x"}
    for setting in DECLARED.values():
        value = setting.choices[-1] if setting.choices else samples[setting.kind]
        if setting.kind == "bool":
            value = "false" if setting.default else "true"
        if setting.kind == "int" and setting.minimum is not None:
            value = str(max(int(setting.minimum), 7))
        if setting.kind == "bytes" and setting.minimum is not None and setting.minimum > 8192:
            value = str(int(setting.minimum))
        config = load_config(path, environ={setting.env_var: value})
        assert config.origins[setting.key] == "env", setting.key
        assert config[setting.key] != setting.default or setting.kind == "str", setting.key


def test_flag_beats_env_beats_file(tmp_path: Path) -> None:
    path = write(tmp_path, "collect:\n  port: 9090\n")
    assert load_config(path, environ={"HEADWATER_COLLECT_PORT": "9191"})["collect.port"] == 9191
    config = load_config(path, environ={"HEADWATER_COLLECT_PORT": "9191"}, overrides={"collect.port": 9292})
    assert config["collect.port"] == 9292


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("collect:\n  port: eighty\n", "collect.port", "whole number"),
        ("collect:\n  port: 70000\n", "collect.port", "at most"),
        ("collect:\n  prot: 1\n", "collect.prot", "did you mean collect.port"),
        ("collect:\n  max_body_bytes: lots\n", "collect.max_body_bytes", "size"),
        ("log:\n  fsync: maybe\n", "log.fsync", "true or false"),
        ("sources:\n  - name: web\n", "sources[0].write_key", "required"),
        (
            "sources:\n  - {name: a, write_key: k}\n  - {name: b, write_key: k}\n",
            "sources[1].write_key",
            "two sources",
        ),
        (
            "sources:\n  - {name: a, write_key: k, enabled: sometimes}\n",
            "sources[0].enabled",
            "true or false",
        ),
        ("sources:\n  - {name: a, write_key: k, colour: red}\n", "sources[0].colour", "unknown key"),
        ("sources: {name: a}\n", "sources", "list"),
        ("- just\n- a list\n", "(top level)", "mapping"),
        ("collect: [\n", "line", "not valid YAML"),
    ],
)
def test_errors_name_file_key_and_problem(tmp_path: Path, text: str, key: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert message.startswith(str(path))
    assert key in message
    assert problem in message


def test_env_error_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\$HEADWATER_COLLECT_PORT: collect.port"):
        load_config(write(tmp_path, ""), environ={"HEADWATER_COLLECT_PORT": "x"})


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yaml", environ={})


def test_headwater_config_env_selects_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "collect:\n  port: 9999\n")
    monkeypatch.setenv("HEADWATER_CONFIG", str(path))
    assert load_config(environ={})["collect.port"] == 9999


def test_load_sources_rereads_only_sources(tmp_path: Path) -> None:
    path = write(tmp_path, "sources:\n  - {name: a, write_key: k1}\n")
    assert [s.write_key for s in load_sources(path)] == ["k1"]
    path.write_text("sources:\n  - {name: a, write_key: k2, enabled: false}\n")
    assert [(s.write_key, s.enabled) for s in load_sources(path)] == [("k2", False)]
