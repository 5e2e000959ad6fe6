"""vizcore.ui.plotly_guard: plotly treats a module another thread is still importing as not imported."""

import subprocess
import sys

from tests.helpers import ROOT

# A `pandas` whose import is still running in another thread, as plotly finds it in sys.modules.
HALF_IMPORTED = """
import importlib.machinery, sys, types
import numpy as np
import plotly.graph_objects as go
{guard}
half = types.ModuleType("pandas")
half.__spec__ = importlib.machinery.ModuleSpec("pandas", None)
half.__spec__._initializing = True
sys.modules["pandas"] = half
fig = go.Figure(go.Heatmap(z=np.arange(6.0).reshape(2, 3)))
print(fig.to_json())
"""


def figure_with_half_imported_pandas(guard: bool) -> subprocess.CompletedProcess:
    """Build and serialize a figure while `pandas` is half-imported, in a fresh interpreter."""
    code = HALF_IMPORTED.format(guard="from vizcore.ui.plotly_guard import guard; guard()" if guard else "")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_plotly_fails_on_a_half_imported_pandas_without_the_guard():
    out = figure_with_half_imported_pandas(guard=False)
    assert out.returncode != 0 and "partially initialized module 'pandas'" in out.stderr  # the failure guarded


def test_with_the_guard_the_figure_is_the_same_as_without_pandas():
    import json

    import numpy as np
    import plotly.graph_objects as go

    out = figure_with_half_imported_pandas(guard=True)
    assert out.returncode == 0, out.stderr[-2000:]
    ref = go.Figure(go.Heatmap(z=np.arange(6.0).reshape(2, 3)))
    assert json.loads(out.stdout)["data"] == json.loads(ref.to_json())["data"]


def test_finished_and_missing_modules_are_seen_as_before():
    from vizcore.ui.plotly_guard import loaded

    assert loaded("json") is sys.modules["json"]
    assert loaded("no_such_module_here") is None
