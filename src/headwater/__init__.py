"""Headwater: a self-hosted behavioural data platform (collect, log, warehouse, model, look, personalise)."""

__version__ = "0.1.0"
