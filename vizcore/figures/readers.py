"""Reading run dicts (the run-file format) for the figures, whatever they hold.

Nothing here raises on a run dict: null or non-finite numbers become nan (and are left
out of what is drawn), missing parts become empty arrays or lists, and a tap that a
run does not have comes back with the reason why.

Payload matters (the app re-sends a figure at every update), so arrays go out as short
Python lists: plotly would write numpy arrays as base64 typed arrays, which for float32
costs ~5.3 bytes a cell, about twice the rounded lists.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

TAP_LABELS = {
    "linear": "linear-layer output (pre-activation)",
    "norm": "normalization-layer output",
    "act": "activation output",
}


def num(v: Any) -> float:
    """Return `v` as a finite float, or nan for None, non-numbers and non-finite values."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        return math.nan
    f = float(v)
    return f if math.isfinite(f) else math.nan


def arr(values: Any) -> np.ndarray:
    """Return a 1-D float array of `values` with nan for anything missing or non-finite."""
    if not isinstance(values, (list, tuple, np.ndarray)):
        return np.zeros(0)
    try:
        a = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        a = np.array([num(v) for v in values], dtype=float)
    if a.ndim != 1:
        a = np.array([num(v) for v in values], dtype=float)
    a = a.copy()
    a[~np.isfinite(a)] = np.nan
    return a


def ints_or_floats(x: np.ndarray) -> list:
    """Return steps as ints when they are whole numbers (shorter JSON), else floats."""
    if x.size and np.all(x == np.round(x)) and np.all(np.abs(x) < 2**53):
        return [int(v) for v in x]
    return x.tolist()


def pairs(x: np.ndarray, y: np.ndarray, positive: bool = False) -> tuple[list, list]:
    """Return (xs, ys) lists of the aligned points where both are finite (and y > 0 if `positive`)."""
    n = min(len(x), len(y))
    x, y = x[:n], y[:n]
    keep = np.isfinite(x) & np.isfinite(y)
    if positive:
        keep &= y > 0
    return ints_or_floats(x[keep]), y[keep].tolist()


def frame_count(per_frame: Any) -> int:
    """Return how many frames a per-frame list holds (0 if it is not a list)."""
    return len(per_frame) if isinstance(per_frame, (list, tuple)) else 0


def run_layers(run: Any) -> list[Mapping]:
    """Return the run's layer dicts (none if it has no list of them)."""
    if not isinstance(run, Mapping) or not isinstance(run.get("layers"), list):
        return []
    return [la for la in run["layers"] if isinstance(la, Mapping)]


def run_text(value: Any) -> str:
    """Return text read from a run file as plotly shows it as typed: its HTML subset (`<a href>`, `<b>`...) escaped.

    A stored run file is outside input (anyone on the server can put one in the store), and
    plotly renders tags in titles, legends and hover labels; it decodes `&lt;` back to `<`.
    """
    return html.escape(str(value), quote=False)


def block_name(layer: Mapping, i: int) -> str:
    """Return the name of block number `i` (0-based): its own (as plain text), or "block<i+1>"."""
    name = layer.get("name")
    return run_text(name) if name else f"block{i + 1}"


def layer_steps(run: Any) -> list[np.ndarray]:
    """Return each layer's snapshot steps as a float array."""
    return [arr(la.get("steps")) for la in run_layers(run)]


def tap_label(tap: str) -> str:
    """Return what `tap` records, in words."""
    return TAP_LABELS.get(tap, f"'{tap}' output")


def tap_layers(run: Any, tap: str) -> tuple[list[tuple[str, Mapping]], str | None]:
    """Return ([(block name, tap dict)] for blocks with `tap`, None) or ([], why there are none)."""
    layers = run_layers(run)
    found = [
        (block_name(la, i), la["taps"][tap])
        for i, la in enumerate(layers)
        if isinstance(la.get("taps"), Mapping) and isinstance(la["taps"].get(tap), Mapping)
    ]
    if found:
        return found, None
    if not isinstance(run, Mapping):
        return [], "no run to show"
    cfg = run.get("config") if isinstance(run.get("config"), Mapping) else {}
    if tap == "norm" and (cfg.get("norm") == "none" or layers):
        return [], "this run has no norm layer"
    if not layers:
        return [], "no layers recorded in this run"
    return [], f"this run has no '{tap}' tap (taps: linear, norm, act)"


def tap_hist(tapd: Mapping) -> Mapping:
    """Return the tap's histogram dict (empty if it has none)."""
    return tapd["hist"] if isinstance(tapd.get("hist"), Mapping) else {}


def hist_edges(tapd: Mapping) -> np.ndarray:
    """Return the tap's histogram bin edges, or an empty array unless they are finite and increasing."""
    e = arr(tap_hist(tapd).get("edges"))
    if len(e) < 2 or not np.all(np.isfinite(e)) or not np.all(np.diff(e) > 0):
        return np.zeros(0)
    return e


def hist_counts(hist: Mapping, frames: int, bins: int) -> np.ndarray:
    """Return (frames, bins) histogram counts as floats, nan where a count is missing."""
    rows = hist.get("counts") if isinstance(hist, Mapping) else None
    out = np.full((frames, bins), np.nan)
    if not isinstance(rows, (list, tuple)):
        return out
    for i, row in enumerate(rows[:frames]):
        r = arr(row)[:bins]
        out[i, : len(r)] = r
    return out


def as_runs(run_or_runs: Any) -> list[Mapping]:
    """Return one run dict or a sequence of them as a list of run dicts (anything else left out)."""
    if isinstance(run_or_runs, Mapping):
        return [run_or_runs]
    if isinstance(run_or_runs, (list, tuple)):
        return [r for r in run_or_runs if isinstance(r, Mapping)]
    return []


def _auto_labels(runs: Sequence[Mapping]) -> list[str]:
    """Return one label per run naming the config fields in which the runs differ."""
    cfgs = [r.get("config") if isinstance(r, Mapping) and isinstance(r.get("config"), Mapping) else {} for r in runs]
    keys = list(dict.fromkeys(k for c in cfgs for k in c))  # config field order
    differ = [k for k in keys if len({repr(c.get(k)) for c in cfgs}) > 1]
    if len(runs) < 2 or not differ:
        return [f"run {i + 1}" for i in range(len(runs))]
    return [", ".join(f"{k}={c.get(k)}" for k in differ[:3]) for c in cfgs]


def run_labels(runs: Sequence[Mapping], labels: Sequence[str] | None) -> list[str]:
    """Return one label per run: the given one, else the config fields in which the runs differ."""
    auto = _auto_labels(runs)
    given = list(labels or [])
    return [str(given[i]) if i < len(given) and given[i] is not None else auto[i] for i in range(len(runs))]


def probe_view(run: Mapping) -> Mapping | None:
    """Return `run` with each block's taps on the fixed probe set in place of the training batch's, or None.

    Every distribution figure then draws the probe: the same examples at every snapshot, so what
    moves is the network, not the sample. None for runs without a probe (format /1, probe_size 0).
    """
    layers = run_layers(run)
    if not layers or not all(isinstance(la.get("probe"), Mapping) for la in layers):
        return None
    return {**run, "layers": [{**la, "taps": la["probe"]} for la in layers]}
