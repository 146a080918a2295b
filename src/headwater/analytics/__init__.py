"""The analytics HTTP API: overview, funnels, retention, paths, attribution, users, live events, health.

It runs inside the warehouse process (which owns the DuckDB file) and reads the model tables through
`Engine.query` with bound parameters; `start_analytics` in `headwater.analytics.server` starts it.
Definitions and every parameter are in docs/analytics-api.md.
"""
