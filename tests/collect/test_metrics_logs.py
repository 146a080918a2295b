"""Prometheus metrics (per process and across processes) and the structured refusal logs."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from headwater.collect import CollectMetrics
from headwater.collect.refusals import RefusalLog
from tests.collect.conftest import GOOD_EVENT, OFF_KEY, UNKNOWN_KEY, WEB_KEY, Harness


def sample(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{line_start} not in metrics:\n{text}")


def test_requests_events_bytes_and_ack_latency_are_counted(hw: Harness) -> None:
    hw.post("/v1/batch", auth=WEB_KEY, json={"batch": [GOOD_EVENT] * 3})
    hw.track()
    hw.track(auth=UNKNOWN_KEY)
    hw.get("/nope")
    response = hw.get("/metrics")
    assert response.status == 200
    assert response.header(
        "content-type",
    ).startswith("text/plain; version=")
    text = response.text
    assert sample(text, 'headwater_collect_requests_total{route="/v1/batch",status="200"}') == 1
    assert sample(text, 'headwater_collect_requests_total{route="/v1/track",status="200"}') == 1
    assert sample(text, 'headwater_collect_requests_total{route="/v1/track",status="401"}') == 1
    assert sample(text, 'headwater_collect_requests_total{route="unmatched",status="404"}') == 1
    assert sample(text, 'headwater_collect_events_accepted_total{source="web"}') == 4
    assert sample(text, 'headwater_collect_refusals_total{check="write_key_known"}') == 1
    assert sample(text, "headwater_collect_ack_seconds_count") == 2
    assert sample(text, 'headwater_collect_request_bytes_total{route="/v1/track"}') > 0


def test_append_failures_and_fsync_hook_are_exposed(hw: Harness) -> None:
    hw.writer.fail = OSError("disk")
    hw.track()
    hw.app.metrics.observe_fsync(0.004)
    text = hw.get("/metrics").text
    assert sample(text, 'headwater_collect_append_failures_total{reason="error"}') == 1
    assert sample(text, "headwater_log_fsync_seconds_count") == 1
    assert sample(text, 'headwater_log_fsync_seconds_bucket{le="0.005"}') == 1


def test_two_apps_in_one_process_keep_separate_metrics(make: Any) -> None:
    first, second = make(), make()
    first.track()
    assert sample(first.get("/metrics").text, 'headwater_collect_events_accepted_total{source="web"}') == 1
    assert "headwater_collect_events_accepted_total{" not in second.get("/metrics").text


@pytest.mark.slow
def test_metrics_are_summed_across_worker_processes(tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR set, any worker's /metrics shows every worker's counts."""
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    worker = textwrap.dedent("""
        from headwater.collect import CollectMetrics
        metrics = CollectMetrics()
        metrics.count_accepted("web", 5)
        metrics.count_request("/v1/batch", 200)
    """)
    for _ in range(2):
        subprocess.run([sys.executable, "-c", worker], env=env, check=True, timeout=60)
    render = textwrap.dedent("""
        import sys
        from headwater.collect import CollectMetrics
        sys.stdout.write(CollectMetrics().render()[0].decode())
    """)
    out = subprocess.run(
        [sys.executable, "-c", render], env=env, check=True, timeout=60, capture_output=True, text=True
    )
    assert sample(out.stdout, 'headwater_collect_events_accepted_total{source="web"}') == 10
    assert sample(out.stdout, 'headwater_collect_requests_total{route="/v1/batch",status="200"}') == 2


def test_refusals_are_logged_with_check_and_source_never_the_write_key(
    hw: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="headwater.collect")
    hw.track(auth=OFF_KEY)
    hw.track({"event": "no ids"})
    hw.track(auth=UNKNOWN_KEY)
    records = [r for r in caplog.records if r.getMessage() == "request refused"]
    by_check = {r.check: r for r in records}  # type: ignore[attr-defined]
    assert by_check["source_enabled"].source == "off"  # type: ignore[attr-defined]
    assert by_check["has_identifier"].source == "web"  # type: ignore[attr-defined]
    assert by_check["has_identifier"].status == 400  # type: ignore[attr-defined]
    assert by_check["write_key_known"].source is None  # type: ignore[attr-defined]
    for record in caplog.records:
        text = repr(record.__dict__)
        for key in (WEB_KEY, OFF_KEY, UNKNOWN_KEY):
            assert key not in text


def test_refusal_log_holds_back_floods() -> None:
    log = RefusalLog(interval_seconds=3600)
    handler_records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            handler_records.append(record)

    logger = logging.getLogger("headwater.collect")
    keep = Keep()
    logger.addHandler(keep)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        for _ in range(100):
            log.refused("has_identifier", "/v1/track", 400, "web")
        log.refused("event_is_object", "/v1/track", 400, "web")
    finally:
        logger.removeHandler(keep)
        logger.setLevel(old_level)
    assert [r.check for r in handler_records] == ["has_identifier", "event_is_object"]  # type: ignore[attr-defined]


def test_metrics_object_is_usable_without_an_app() -> None:
    metrics = CollectMetrics()
    metrics.count_request("/v1/track", 200)
    metrics.count_request("/v1/track", 200)
    body, content_type = metrics.render()
    assert sample(body.decode(), 'headwater_collect_requests_total{route="/v1/track",status="200"}') == 2
    assert content_type.startswith("text/plain")
