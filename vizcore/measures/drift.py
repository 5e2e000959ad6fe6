"""Distribution drift on a recorded run (numpy only): how far each layer's recorded distribution moved.

`distribution_drift(run, tap)` is "internal covariate shift" as Ioffe & Szegedy describe it: the
inputs of a layer keep moving because the layers before it keep learning. It reads the fixed-edge
histograms and the mean and std a run dict holds (`Trainer.export()` or a loaded run file).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["distribution_drift", "finite_or_none", "hist_support", "hist_w1"]


def finite_or_none(v: Any) -> "float | None":
    """Return `v` as a float, or None if it is not finite (strict JSON, like run files)."""
    f = float(v)
    return f if math.isfinite(f) else None


def hist_support(edges: Sequence[float]) -> np.ndarray:
    """Return the points a recorded histogram's mass sits on: [first edge, bin centres..., last edge].

    The `under` count is placed at the first edge and the `over` count at the last edge (the
    closest points of the fixed axis to where those values really were), each in-range bin at
    its centre. The result has `bins + 2` points, matching `[under, counts..., over]`.
    """
    e = np.asarray(edges, dtype=np.float64)
    return np.concatenate([e[:1], (e[:-1] + e[1:]) / 2, e[-1:]])


def hist_w1(p: Sequence[float], q: Sequence[float], edges: Sequence[float]) -> "float | None":
    """Return the Wasserstein-1 distance between two histograms on the same `edges`, or None.

    `p` and `q` are counts, either `bins` long (in-range bins only) or `bins + 2` long
    (`[under, bins..., over]`). Counts are normalized to probabilities; mass sits on
    `hist_support(edges)`. W1 = sum_k |P_k - Q_k| (s_{k+1} - s_k), with P, Q the cumulative
    probabilities and s the support: shifting a histogram by k bins moves it by k bin widths.
    Returns None if either histogram is empty (a frame with no finite values) or not finite.
    """
    s = hist_support(edges)
    a, b = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    n_bins = len(s) - 2
    for name, arr in (("p", a), ("q", b)):
        if arr.shape not in ((n_bins,), (n_bins + 2,)):
            raise ValueError(
                f"{name}: expected {n_bins} or {n_bins + 2} counts for {n_bins + 1} edges, got shape {arr.shape}"
            )
    a = np.pad(a, 1) if a.size == n_bins else a
    b = np.pad(b, 1) if b.size == n_bins else b
    ta, tb = a.sum(), b.sum()
    if not (np.isfinite(ta) and np.isfinite(tb)) or ta <= 0 or tb <= 0:
        return None
    cdf_gap = np.abs(np.cumsum(a / ta) - np.cumsum(b / tb))[:-1]
    return finite_or_none(float(np.sum(cdf_gap * np.diff(s))))


def _diff(values: list, i: int) -> "float | None":
    a, b = values[i - 1], values[i]
    if a is None or b is None:
        return None
    return finite_or_none(b - a)


def distribution_drift(run: dict, tap: str) -> dict[str, Any]:
    """Return how far each layer's `tap` distribution moved between consecutive snapshots of `run`.

    `run` is a run dict (`Trainer.export()` or a loaded run file); `tap` is `linear`, `norm`
    or `act`. For each pair of consecutive frames, per layer:

    - `w1`: Wasserstein-1 distance between the two histograms (`hist_w1`: fixed edges, bin
      centres, under/over counts at the outer edges, counts normalized), in the tap's units;
    - `dmean`, `dstd`: the signed change of the tap's mean and std (later minus earlier).

    Returns `{"steps": [...], "layers": [{"name", "w1", "dmean", "dstd"}]}`; every list has one
    value per entry of `steps`, the step of the *later* snapshot of each pair (so one fewer
    than the run's frames). A value is None where either frame is empty or non-finite. After
    the history was thinned the frames are farther apart, so the values are per snapshot
    interval, not per training step. Raises ValueError if the run did not record `tap`.
    """
    layers = run.get("layers") or []
    out_layers = []
    steps: list[int] = []
    for k, layer in enumerate(layers):
        taps = layer.get("taps", {})
        if tap not in taps:
            raise ValueError(f"tap {tap!r} was not recorded in this run; recorded taps: {', '.join(taps)}")
        t = taps[tap]
        hist = t["hist"]
        layer_steps = list(layer["steps"])
        if k == 0:
            steps = layer_steps[1:]
        n = len(layer_steps)
        w1: list[float | None] = []
        dmean: list[float | None] = []
        dstd: list[float | None] = []
        for i in range(1, n):
            if len(hist["edges"]) < 2:
                w1.append(None)
            else:
                p = [hist["under"][i - 1], *hist["counts"][i - 1], hist["over"][i - 1]]
                q = [hist["under"][i], *hist["counts"][i], hist["over"][i]]
                w1.append(hist_w1(p, q, hist["edges"]))
            dmean.append(_diff(t["mean"], i))
            dstd.append(_diff(t["std"], i))
        out_layers.append({"name": layer["name"], "w1": w1, "dmean": dmean, "dstd": dstd})
    return {"steps": steps, "layers": out_layers}
