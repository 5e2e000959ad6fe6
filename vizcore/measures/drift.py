"""Distribution drift on a recorded run (numpy only): how far each layer's distribution moved.

`probe_drift(run, tap)` is "internal covariate shift" as Ioffe & Szegedy describe it: the inputs
of a layer keep moving because the layers before it keep learning. It reads the run's fixed probe
set (run format /2), so sampling a different batch at every snapshot is not counted as shift, and
reports that batch-to-batch noise beside it. It reads the fixed-edge histograms, percentiles and
std a run dict holds (`Trainer.export()` or a loaded run file).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "ProbeDrift",
    "finite_or_none",
    "has_probe",
    "hist_support",
    "hist_w1",
    "drift_lag",
    "probe_drift",
]


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


# --- on the fixed probe set (run format /2) -------------------------------------------------------

PERCENTILES = ("p15", "p50", "p85")


@dataclass(frozen=True)
class ProbeDrift:
    """How one block's distribution at one tap moved on the run's fixed probe set, and how noisy batches are.

    Distances are Wasserstein-1 between recorded histograms, in *spreads*: divided by the
    probe's std at the earlier frame, so blocks and runs of different scale compare.
    """

    name: str  # the block
    lag: int  # steps between the two frames each w1 compares
    steps: list[int]  # the later step of each comparison
    w1: list[float | None]  # how far the probe's distribution moved over the `lag` steps up to each step
    typical: float | None  # median w1 over the second half of the run (where a learning net settles)
    net: dict[str, float | None]  # p15/p50/p85: net movement over the second half, in spreads (signed)
    window: tuple[int, int]  # (first, last) step of the net movement
    noise_steps: list[int]  # every snapshot's step
    noise: list[float | None]  # per snapshot: training batch vs probe at the same weights, in spreads
    noise_median: float | None


def has_probe(run: dict) -> bool:
    """Return True if `run` recorded its taps on a fixed probe set (run format /2 with probe_size > 0)."""
    layers = run.get("layers") or []
    return bool(layers) and all("probe" in layer for layer in layers)


def _rows(hist: dict) -> list[list[float]]:
    return [[u, *c, o] for u, c, o in zip(hist["under"], hist["counts"], hist["over"], strict=True)]


def _spread(std: float | None) -> float | None:
    return std if std is not None and math.isfinite(std) and std > 0 else None


def _in_spreads(p: list[float], q: list[float], edges: list[float], spread: float | None) -> float | None:
    d = hist_w1(p, q, edges) if len(edges) > 1 else None
    return None if d is None or spread is None else d / spread


def _median(values: Sequence[float | None]) -> float | None:
    finite = [v for v in values if v is not None]
    return float(np.median(finite)) if finite else None


def drift_lag(steps: Sequence[int]) -> int:
    """Return the lag drift is measured over: the multiple of the frames' spacing nearest a tenth of the run.

    A fixed lag, not consecutive frames, so that recording more often does not add up more
    step-to-step jitter: the same run recorded every 5 or every 80 steps reads about the same.
    """
    if len(steps) < 2:
        return 0
    stride = min(b - a for a, b in zip(steps, steps[1:], strict=False))  # thinning keeps multiples of it
    return stride * max(1, round((steps[-1] - steps[0]) / 10 / stride))


def probe_drift(run: dict, tap: str) -> list[ProbeDrift]:
    """Return each block's drift on the probe set at `tap`, and its batch noise beside it.

    A network whose weights do not change gives w1 = typical = net = 0 exactly (the same inputs
    through the same weights give the same histogram); batch noise is then what sampling a
    mini-batch alone does. The summaries read the second half of the run (from its middle
    snapshot to its last), where Ioffe & Szegedy's Figure 1 shows inputs settling or not.
    Without histograms (a light run) only `net` is known; the rest is None.
    Raises ValueError if the run has no probe or did not record `tap`.
    """
    if not has_probe(run):
        raise ValueError("this run has no probe set (run format /1, or probe_size 0): drift needs one")
    out = []
    for layer in run["layers"]:
        if tap not in layer["probe"]:
            raise ValueError(f"tap {tap!r} was not recorded in this run; recorded taps: {', '.join(layer['probe'])}")
        probe, train, steps = layer["probe"][tap], layer["taps"][tap], list(layer["steps"])
        spreads = [_spread(s) for s in probe["std"]]
        lag, at = drift_lag(steps), {s: i for i, s in enumerate(steps)}
        pairs = [(at[s - lag], i) for i, s in enumerate(steps) if lag and s - lag in at]
        if "hist" in probe and "hist" in train:
            edges, rows, batch_rows = probe["hist"]["edges"], _rows(probe["hist"]), _rows(train["hist"])
            w1 = [_in_spreads(rows[j], rows[i], edges, spreads[j]) for j, i in pairs]
            noise = [_in_spreads(batch_rows[i], rows[i], edges, spreads[i]) for i in range(len(steps))]
        else:  # a light run (histograms stripped, as sweeps keep them): the percentiles only
            w1, noise = [None] * len(pairs), [None] * len(steps)
        first, last = len(steps) // 2, len(steps) - 1
        net: dict[str, float | None] = {}
        for q in PERCENTILES:
            a, b, s = (probe[q][first], probe[q][last], spreads[first]) if steps else (None, None, None)
            net[q] = None if a is None or b is None or s is None else finite_or_none((b - a) / s)
        half = [v for (j, _), v in zip(pairs, w1, strict=True) if j >= first]
        window = (steps[first], steps[last]) if steps else (0, 0)
        drift = ProbeDrift(
            layer["name"],
            lag,
            [steps[i] for _, i in pairs],
            w1,
            _median(half),
            net,
            window,
            steps,
            noise,
            _median(noise),
        )
        out.append(drift)
    return out
