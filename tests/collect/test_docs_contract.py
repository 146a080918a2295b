"""docs/ingest-api.md and docs/openapi.yaml cannot drift from the code: routes, replies, checks, metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from headwater.collect import REPLIES, CollectMetrics, auth, body, handle_pixel, validate
from headwater.collect.app import CollectApp
from tests.collect.conftest import build

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    document = yaml.safe_load((DOCS / "openapi.yaml").read_text())
    assert str(document["openapi"]).startswith("3.1")
    return document


@pytest.fixture(scope="module")
def guide() -> str:
    return (DOCS / "ingest-api.md").read_text()


def served_paths(app: CollectApp) -> set[str]:
    return set(app._routes) | {"/v1/projects/{writeKey}/settings", "/projects/{writeKey}/settings"}


def test_every_served_path_is_in_the_spec_and_nothing_else(spec: dict[str, Any]) -> None:
    harness = build()
    try:
        assert set(spec["paths"]) == served_paths(harness.app)
    finally:
        harness.client.close()


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_every_ref_in_the_spec_resolves(spec: dict[str, Any]) -> None:
    for ref in _refs(spec):
        assert ref.startswith("#/"), ref
        node: Any = spec
        for part in ref[2:].split("/"):
            assert part in node, f"unresolved {ref}"
            node = node[part]


def test_spec_lists_exactly_the_reply_tables_errors(spec: dict[str, Any]) -> None:
    errors = {reply.text_body.decode() for reply in REPLIES.values() if reply.status != 200}
    assert set(spec["components"]["schemas"]["TextError"]["enum"]) == errors
    codes = {reply.code for reply in REPLIES.values() if reply.status != 200}
    assert set(spec["components"]["schemas"]["SegmentError"]["properties"]["code"]["enum"]) == codes


def test_guide_documents_every_reply_with_its_status(guide: str) -> None:
    for reply in REPLIES.values():
        assert f"| {reply.status} | `{reply.message}` |" in guide, reply


def test_guide_names_every_check(guide: str) -> None:
    names = {check.name for check in validate.EVENT_CHECKS}
    names |= {
        validate.IS_JSON.name,
        validate.HAS_EVENTS.name,
        validate.SERIALIZABLE.name,
        validate.EVENT_SIZE.name,
    }
    names |= {auth.CHECK_PRESENT, auth.CHECK_KNOWN, auth.CHECK_ENABLED, body.CHECK_SIZE, body.CHECK_ENCODING}
    names.add(handle_pixel.CHECK_TRACK_EVENT)
    for name in names:
        assert f"`{name}`" in guide, name


def test_guide_lists_every_metric(guide: str) -> None:
    metrics = CollectMetrics()
    for collector in metrics.registry._collector_to_names:
        for family in collector.describe():
            suffix = "_total" if family.type == "counter" else ""
            assert f"`{family.name}{suffix}`" in guide, family.name
