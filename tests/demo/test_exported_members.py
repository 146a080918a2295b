"""The demo's public surface is what `__all__` says, and everything it names exists."""

from __future__ import annotations

import headwater.demo


def test_all_is_pinned() -> None:
    assert sorted(headwater.demo.__all__) == [
        "DEFAULT_DAYS",
        "DEFAULT_EVENTS",
        "DEFAULT_SEED",
        "DEFAULT_START",
        "DeliveryError",
        "DeliveryFailedError",
        "DemoError",
        "DemoSetupError",
        "Event",
        "Request",
        "RequestRejectedError",
        "Sdk",
        "SendReport",
        "SourceDisabledError",
        "TrafficSummary",
        "WriteKeyRejectedError",
        "generate",
        "plan_requests",
        "send",
        "send_requests",
        "summarize",
    ]
    for name in headwater.demo.__all__:
        assert getattr(headwater.demo, name) is not None
