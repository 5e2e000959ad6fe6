"""Which values a distribution figure shows: a range fixed per family of runs, ReLU's exact zeros apart, and the
share of values outside what is shown.

A run's histogram edges are fixed when it starts, from what its first batch held: two runs of one family
(activation, norm, tap) could get [0, 10] and [0, 2], and could not be compared by eye. `family_range` chooses
the shown range from what the activation and the tap can produce instead, so that two such runs get the same one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from vizcore.figures.kit import axis_ref
from vizcore.figures.readers import arr, frame_count, hist_counts, num, tap_hist
from vizcore.figures.theme import DIVERGED_COLOUR, UNRECORDED

# The activations whose output has an exact range (vizcore.engine.models.ACTIVATIONS' bounds).
BOUNDED = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}
# The activations whose output has a mass at exactly 0: for them the act tap's `saturated` statistic is the
# fraction of outputs exactly 0 (relu: output 0). leaky_relu and gelu are 0 only where their input is exactly 0.
ZERO_MASS = frozenset({"relu"})
# A norm's output shown in its own units: 4 either side holds all but 0.006% of a normal distribution.
NORM_UNITS = 4.0
# The most a ReLU-like activation of a normalized input gives, in the norm's units; below it leaky_relu
# (0.01 x input, > -0.04) and gelu (> -0.17) have their small negative tail.
UNIT_RANGES = {"relu": (0.0, NORM_UNITS), "leaky_relu": (-0.5, NORM_UNITS), "gelu": (-0.5, NORM_UNITS)}


def run_config(run: Mapping) -> Mapping:
    """Return the run's config dict (empty if it has none)."""
    cfg = run.get("config") if isinstance(run, Mapping) else None
    return cfg if isinstance(cfg, Mapping) else {}


def decade_ceil(x: float) -> float:
    """Return the smallest power of 10 that is >= x (x > 0)."""
    return float(10 ** math.ceil(math.log10(x) - 1e-12))


def family_range(run: Mapping, tap: str, edges: np.ndarray) -> tuple[float, float, str]:
    """Return (lo, hi, why in words) of the values to show for `tap`, the same for every run of its family.

    - a norm's output: [-4, 4], in the norm's own units;
    - a bounded activation's output (sigmoid, tanh): its exact range;
    - an activation of a normalized input (a norm placed before it): relu [0, 4], leaky_relu and gelu
      [-0.5, 4], linear [-4, 4];
    - anything else (the Linear output; an activation of it): the run's recorded edges as [-R, R]
      ([0, R] for an activation's output that starts at 0), R rounded up to a power of 10. The edges
      are twice the largest value of the first batch on a 1-2-5 grid, which a larger batch (a larger
      extreme) or another seed moves by a step; a power of 10 is the same for the usual spread of a family.
    """
    cfg = run_config(run)
    act, norm = cfg.get("activation"), cfg.get("norm", "none")
    normed = norm not in ("none", None) and cfg.get("placement", "before") == "before"
    if tap == "norm":
        return -NORM_UNITS, NORM_UNITS, "a norm's output, in its own units"
    if tap == "act" and act in BOUNDED:
        lo, hi = BOUNDED[act]
        return lo, hi, f"{act}'s output range"
    if tap == "act" and normed and act in UNIT_RANGES:
        lo, hi = UNIT_RANGES[act]
        return lo, hi, f"{act} of a normalized input"
    if tap == "act" and normed and act == "linear":
        return -NORM_UNITS, NORM_UNITS, "a normalized input"
    if not len(edges):
        return -1.0, 1.0, "no recorded range"
    mag = max(abs(float(edges[0])), abs(float(edges[-1])))
    r = decade_ceil(mag) if mag > 0 else 1.0
    lo = 0.0 if edges[0] >= 0 and tap != "linear" else -r
    return lo, r, "this run's recorded range, rounded up to a power of 10"


def chosen_range(
    run: Mapping, tap: str, edges: np.ndarray, value_range: tuple[float, float] | None
) -> tuple[float, float, str]:
    """Return `value_range` if it is a finite (lo, hi) with lo < hi ("as chosen"), else the family range."""
    if isinstance(value_range, (tuple, list)) and len(value_range) == 2:
        lo, hi = num(value_range[0]), num(value_range[1])
        if math.isfinite(lo) and math.isfinite(hi) and lo < hi:
            return lo, hi, "as chosen"
    return family_range(run, tap, edges)


def shown_bins(edges: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Return a mask of the bins whose centre lies in [lo, hi]."""
    centres = (edges[:-1] + edges[1:]) / 2
    return (centres >= lo) & (centres <= hi)


def zero_bin(edges: np.ndarray) -> int | None:
    """Return the index of the bin that holds 0 (`edges[k] <= 0 < edges[k + 1]`), or None if 0 is outside."""
    if not len(edges) or not edges[0] <= 0 < edges[-1]:
        return None
    return int(np.searchsorted(edges, 0.0, side="right")) - 1


def has_zero_mass(run: Mapping, tap: str) -> bool:
    """Return True if `tap`'s values have a mass at exactly 0 (the output of a ReLU)."""
    return tap == "act" and run_config(run).get("activation") in ZERO_MASS


def zero_shares(tapd: Mapping, frames: int) -> np.ndarray:
    """Return per frame the fraction of the tap's finite values that were exactly 0 (nan where not recorded).

    For a ReLU the act tap's `saturated` statistic is exactly that (docs/run-format.md, "A tap").
    """
    sat = arr(tapd.get("saturated"))[:frames]
    out = np.full(frames, np.nan)
    out[: len(sat)] = np.clip(sat, 0.0, 1.0)
    return out


def frame_totals(hist: Mapping, counts: np.ndarray) -> np.ndarray:
    """Return per frame the number of finite values: the counts in range plus those under and over it."""
    frames = counts.shape[0]
    total = np.nansum(counts, axis=1)
    for key in ("under", "over"):
        v = arr(hist.get(key))[:frames]
        total[: len(v)] += np.nan_to_num(v)
    return total


def without_zeros(counts: np.ndarray, zeros: np.ndarray, k: int | None) -> np.ndarray:
    """Return `counts` (frames, bins) with `zeros` (per frame, nan = unknown) taken out of bin `k`."""
    out = counts.copy()
    if k is None:
        return out
    known = np.isfinite(zeros) & np.isfinite(out[:, k])
    out[known, k] = np.maximum(out[known, k] - zeros[known], 0.0)
    return out


def tap_counts(run: Mapping, tap: str, tapd: Mapping, frames: int, edges: np.ndarray) -> tuple:
    """Return (counts, totals, zero shares) of `tapd`'s first `frames` frames.

    counts is (frames, bins) with a ReLU's exact zeros taken out of the bin at 0; totals counts every finite
    value (exact zeros and those outside the edges included); zero shares is nan unless the tap has a mass at 0.
    """
    h = tap_hist(tapd)
    counts = hist_counts(h, frames, len(edges) - 1)
    totals = frame_totals(h, counts)
    shares = zero_shares(tapd, frames) if has_zero_mass(run, tap) else np.full(frames, np.nan)
    zeros = np.round(shares * totals)
    return without_zeros(counts, zeros, zero_bin(edges)), totals, shares


def outside_counts(hist: Mapping, counts: np.ndarray, mask: np.ndarray, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Return per frame (below, above) the shown bins `mask`: the run's under/over plus the bins left out."""
    idx = np.flatnonzero(mask)
    first, last = (idx[0], idx[-1]) if idx.size else (counts.shape[1], counts.shape[1])
    below = np.nansum(counts[:, :first], axis=1)
    above = np.nansum(counts[:, last + 1 :], axis=1) if idx.size else np.zeros(frames)
    under, over = arr(hist.get("under"))[:frames], arr(hist.get("over"))[:frames]
    below[: len(under)] += np.nan_to_num(under)
    above[: len(over)] += np.nan_to_num(over)
    return below, above


def percent(share: float) -> str:
    """Return a share as a percentage a reader can tell from 0: "<0.1%", "0.4%", "12%"."""
    if share <= 0:
        return "0%"
    if share < 0.001:
        return "<0.1%"
    if share < 0.1:
        return f"{100 * share:.1f}%"
    return f"{100 * share:.0f}%"


def range_note(lo: float, hi: float, why: str, below: float, above: float, total: float) -> str:
    """Return the subtitle sentence on the shown range and the share of values outside it (said only if any)."""
    note = f"range [{lo:.3g}, {hi:.3g}] ({why})"
    if total <= 0:
        return f"{note}; no values recorded"
    if below + above > 0:
        note += (
            f": {percent((below + above) / total)} of all recorded values fell outside it "
            f"({percent(below / total)} below, {percent(above / total)} above)"
        )
    return note


def unrecorded_shapes(n: int, edges: np.ndarray, lo: float, hi: float) -> list[dict]:
    """Return grey rectangles over the part of [lo, hi] beyond the recorded edges, in each of `n` rows."""
    parts = [(lo, float(edges[0]))] if lo < edges[0] else []
    parts += [(float(edges[-1]), hi)] if hi > edges[-1] else []
    shapes = []
    for k in range(1, n + 1):
        xref, yref = axis_ref(k)
        for a, b in parts:
            shapes.append(
                dict(type="rect", xref=f"{xref} domain", x0=0, x1=1, yref=yref, y0=a, y1=b, line=dict(width=0),
                     fillcolor=UNRECORDED, layer="below")
            )  # fmt: skip
    return shapes


def frame_panel(
    run: Mapping, tap: str, tapd: Mapping, fi: int, edges: np.ndarray, lo: float, hi: float, narrow: bool = False
) -> tuple[np.ndarray, float, list[str]]:
    """Return one block's histogram panel at frame `fi`: (counts, finite values, note lines).

    The counts leave a ReLU's exact zeros out of the bin at 0 (`ranges.tap_counts`); the notes say, each
    only when there is some, which share of the values was exactly 0 and which fell outside [lo, hi]
    (in red). `narrow` puts each note's number on a line of its own, for panels too narrow for both.
    """
    h = tap_hist(tapd)
    frames = frame_count(h.get("counts"))
    if fi >= frames:
        return np.full(len(edges) - 1, np.nan), 0.0, []
    cnt, totals, shares = tap_counts(run, tap, tapd, frames, edges)
    below, above = outside_counts(h, cnt, shown_bins(edges, lo, hi), frames)
    total, lines, notes = float(totals[fi]), [], []
    if np.isfinite(shares[fi]) and total > 0:
        notes.append(("{}", percent(float(shares[fi])), "exactly 0"))
    out = float(below[fi] + above[fi])
    if out > 0 and total > 0:
        notes.append((f'<span style="color:{DIVERGED_COLOUR}">{{}}</span>', percent(out / total), "outside"))
    for wrap, number, words in notes:
        lines += [wrap.format(number), wrap.format(words)] if narrow else [wrap.format(f"{number} {words}")]
    return cnt[fi], total, lines


def zero_words(run: Mapping, tap: str) -> str:
    """Return the subtitle clause on a ReLU's exact zeros ("" for a tap without a mass at 0)."""
    if not has_zero_mass(run, tap):
        return ""
    return (
        "; the share exactly 0 is given under each block's name and left out of the bars "
        "(normal for ReLU: every negative input gives 0)"
    )
