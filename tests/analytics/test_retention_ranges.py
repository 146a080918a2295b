"""Retention's two counting strategies agree: bit masks (up to 4 x 63 periods) and the SQL join (longer).

Both engines run both strategies: R1 (models-contract §2.4) within a 96-day range takes two masks,
within a 279-day range the join, and a two-month monthly range one mask with calendar months.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.analytics.conftest import post
from tests.analytics.test_postgres import pg_api  # noqa: F401  (module-scoped PostgreSQL API fixture)
from tests.analytics.test_reports import matrix

LONG = {"from": "2023-10-01", "to": "2024-01-04", "period": "day"}  # 96 days: more than one mask holds
LONGEST = {"from": "2023-04-01", "to": "2024-01-04", "period": "day"}  # 279 days: more than four masks


def check(client: httpx.Client) -> None:
    long = post(client, "retention", LONG)
    cohorts = matrix(long)
    assert len(cohorts) == 96
    # Only R1's rows fall in the range, so its cohorts are as in the 4-day range.
    assert cohorts["2024-01-01"] == [2, 1, 1, 1]  # {P1, P2}: Tue P1, Wed P2, Thu P1
    assert cohorts["2024-01-03"] == [2, 0]
    assert cohorts["2023-10-01"] == [0] * 96
    joined = matrix(post(client, "retention", LONGEST))
    assert len(joined) == 279
    assert joined["2024-01-01"] == [2, 1, 1, 1]
    assert joined["2024-01-02"] == [2, 1, 1]  # {P1, P3}: Wed P3, Thu P1
    assert joined["2023-04-01"] == [0] * 279
    assert matrix(post(client, "retention", {**LONGEST, "cumulative": True}))["2024-01-01"] == [2, 2, 2, 1]
    cumulative = matrix(post(client, "retention", {**LONG, "cumulative": True}))
    assert cumulative["2024-01-01"] == [2, 2, 2, 1]  # latest returns: P1 Thu (3), P2 Wed (2)
    first = matrix(post(client, "retention", {**LONG, "mode": "first_time"}))
    assert first["2024-01-02"] == [1, 1, 0]  # P3 (first seen Tue), back Wed
    assert first["2023-12-31"][0] == 0
    # Months with masks: January {P1, P2, P3}, none of them back in February; February {A, B, C}.
    monthly: dict[str, Any] = matrix(
        post(client, "retention", {"from": "2024-01-01", "to": "2024-02-29", "period": "month"})
    )
    assert monthly == {"2024-01-01": [3, 0], "2024-02-01": [3]}


def test_retention_strategies_on_duckdb(api: httpx.Client) -> None:
    check(api)


def test_retention_strategies_on_postgres(pg_api: httpx.Client) -> None:  # noqa: F811
    check(pg_api)
