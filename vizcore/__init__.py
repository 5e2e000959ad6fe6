"""vizcore: train small networks on the CPU and record what every layer sees.

    >>> from vizcore import RunConfig, Trainer
    >>> t = Trainer(RunConfig(dataset="moons", norm="batch", steps=200))
    >>> run = t.run()          # or t.step(50) repeatedly, from any thread
    >>> run["curves"]["test_acc"][-1] > 0.8
    True

The layers are folders (docs/architecture.md): engine, measures, runs, workers,
labs, figures, experiments, ui. The names below are loaded on first use, so that
importing a light layer (figures, say) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "ConfigError": "vizcore.engine.config",
    "RunConfig": "vizcore.engine.config",
    "RunFileError": "vizcore.engine.runfile",
    "dumps": "vizcore.engine.runfile",
    "loads": "vizcore.engine.runfile",
    "Trainer": "vizcore.engine.training",
    "train": "vizcore.engine.training",
}
__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str) -> Any:
    """Return one of the public engine names, importing its module on first use."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vizcore' has no attribute {name!r}")
