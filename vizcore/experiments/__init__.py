"""Experiments: the popular claims about batch norm, each put to a small live test.

Each module here defines `EXPERIMENT`, an `Experiment` instance with a `number`
(the order on the page); they are found automatically, so a new experiment is one
new module.

    >>> from vizcore.experiments import get
    >>> result = get("ioffe-fig1").run(budget=0.2)
    >>> result.verdict.label in ("supported", "not supported", "it depends")
    True
"""

from __future__ import annotations

import importlib
import pkgutil

from vizcore.experiments.base import Cancelled, Experiment, Paper, Result, Verdict

__all__ = ["Cancelled", "Experiment", "Paper", "Result", "Verdict", "all_experiments", "get"]
_INTERNAL = {"base"}


def all_experiments() -> list[Experiment]:
    """Return every experiment, in page order."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name in _INTERNAL or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        exp = getattr(module, "EXPERIMENT", None)
        if isinstance(exp, Experiment):
            found.append(exp)
    return sorted(found, key=lambda e: (e.number, e.name))


def get(name: str) -> Experiment:
    """Return the experiment called `name`; raise KeyError listing the valid names."""
    for exp in all_experiments():
        if exp.name == name:
            return exp
    raise KeyError(f"unknown experiment {name!r}; valid: {', '.join(e.name for e in all_experiments())}")
