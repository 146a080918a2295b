"""Writing the OpenAPI document: `python -m headwater.analytics.openapi > docs/analytics-openapi.json`.

The document depends only on the routes and models, so it is built from an app with no warehouse.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson

__all__ = ["document", "main"]


def document() -> dict[str, Any]:
    from headwater.analytics.app import AnalyticsContext, create_app
    from headwater.analytics.sql import Tables

    app = create_app(AnalyticsContext(Tables(None, "analytics", "events"), None, dict))  # type: ignore[arg-type]
    return app.openapi()


def main() -> int:
    sys.stdout.buffer.write(
        orjson.dumps(document(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
