"""Fixtures for the warehouse stage's tests: one real S3 server (SeaweedFS) for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.warehouse.s3server import S3Endpoint, SeaweedS3


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Endpoint]:
    """A running `weed mini` with credentials enforced and an empty bucket; tests use their own prefix."""
    with SeaweedS3() as endpoint:
        yield endpoint
