"""Errors of the control plane.

HeadwaterError
└── ControlError
    └── SourceConfigError     a source entry is malformed (terminal: fix the config file)
"""

from __future__ import annotations

from headwater.errors import HeadwaterError


class ControlError(HeadwaterError):
    """Base for control-plane errors."""


class SourceConfigError(ControlError):
    """A `sources:` entry is wrong; the message names the entry and the key."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem
