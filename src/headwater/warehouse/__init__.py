"""The warehouse stage: the loader that turns the event log into RudderStack's tables.

Events are read from the log, transformed into rows of RudderStack's warehouse schema, staged as
Parquet (a folder or S3) and loaded into an engine (DuckDB embedded, PostgreSQL) in one transaction
that also records the log offsets it covers, so a crash never loads an event twice.
"""
