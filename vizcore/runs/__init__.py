"""Runs: the run store and queries on run dicts."""
