"""Plotly and a module still being imported by another thread: treat it as not imported yet.

Plotly looks optional modules up with `sys.modules.get` (`get_module(name, should_load=False)`),
which also returns a module another thread is still executing. A server's page scripts run in
many threads: while one imports pandas (Streamlit's tables, the warm-up), a figure built in
another found `pandas` without `Series` and failed with AttributeError. A proper `import`
waits for the other thread; plotly's lookup does not. `guard()` makes that lookup skip a
module whose import is in progress, so no page has to import pandas (about a second on a
fresh server) before it draws.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

_guarded = False


def loaded(name: str) -> ModuleType | None:
    """Return the module `name` if its import has finished, else None (also while another thread imports it)."""
    module = sys.modules.get(name)
    if module is None or getattr(getattr(module, "__spec__", None), "_initializing", False):
        return None
    return module


def guard() -> None:
    """Make plotly's optional-module lookups see only finished imports (once per process; cheap)."""
    global _guarded
    if _guarded:
        return
    from _plotly_utils import optional_imports

    original = optional_imports.get_module

    def get_module(name: str, should_load: bool = True) -> Any:
        return original(name, should_load) if should_load else loaded(name)

    # Every plotly module that imported the function by name holds its own reference to it.
    for mod in list(sys.modules.values()):
        if getattr(mod, "get_module", None) is original and mod.__name__.startswith(("plotly", "_plotly_utils")):
            mod.get_module = get_module  # type: ignore[attr-defined]
    _guarded = True
