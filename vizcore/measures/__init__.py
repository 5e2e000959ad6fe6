"""Measures: quantities computed from a run dict (numpy) or from a live Trainer (torch).

`drift` reads recorded runs only; `batch` (batch statistics, precise BN) and `shift` (gradient
shift, smoothness, shifted test inputs) work on deep copies of a live Trainer's network.
"""
