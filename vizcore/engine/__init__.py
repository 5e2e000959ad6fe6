"""The engine: config, URL params, data, norms, models, recording, training, the run file.

Imports numpy, torch and scikit-learn only; never another vizcore layer.
"""
