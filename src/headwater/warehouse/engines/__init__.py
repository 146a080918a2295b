"""Warehouse engines behind one interface (see `base.Engine`); `open_engine` picks one from the settings."""
