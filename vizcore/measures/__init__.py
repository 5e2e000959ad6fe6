"""Measures: quantities computed from a run dict (numpy) or from a live Trainer (torch)."""
