"""Queries on run dicts (`Trainer.export()` or a loaded run file): plain Python, no torch.

A curve point may be None (the run file's spelling of a non-finite number) or, in a run
dict that never went through JSON, NaN or infinity: every query here skips both.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "final",
    "finite",
    "finite_values",
    "last_finite",
    "steps_to_reach",
    "steps_to_reach_interpolated",
    "upto",
]


def finite(v: Any) -> float | None:
    """Return `v` as a float if it is a finite number (not a bool), else None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def finite_values(values: Iterable[Any] | None) -> list[float]:
    """Return the finite numbers of `values`, in order, as floats."""
    return [f for f in map(finite, values or ()) if f is not None]


def last_finite(values: Iterable[Any] | None) -> float | None:
    """Return the last finite number in `values`, or None if there is none."""
    vals = finite_values(values)
    return vals[-1] if vals else None


def final(run: Mapping[str, Any] | None, key: str = "test_acc") -> float | None:
    """Return the last finite value of the run's curve `key` (default test accuracy), or None."""
    if run is None:
        return None
    return last_finite((run.get("curves") or {}).get(key))


def steps_to_reach(run: Mapping[str, Any], target: float | None) -> int | None:
    """Return the first recorded step whose test accuracy is at least `target`, or None if it never gets there."""
    if target is None:
        return None
    curves = run.get("curves") or {}
    for step, acc in zip(curves.get("step") or [], curves.get("test_acc") or []):
        a = finite(acc)
        if a is not None and a >= target:
            return int(step)
    return None


def steps_to_reach_interpolated(run: Mapping[str, Any], target: float | None) -> float | None:
    """Return the step at which test accuracy first reaches `target`, interpolated linearly between the last
    evaluation below it and the first at or above it; that first evaluation's step if no finite one came before;
    None if it never gets there.

    `steps_to_reach` can only answer multiples of the evaluation cadence; between two evaluations the accuracy
    is unknown, and a straight line is the least that can be assumed about it.
    """
    if target is None:
        return None
    curves = run.get("curves") or {}
    before: tuple[float, float] | None = None  # (step, accuracy) of the last finite evaluation below target
    for step, acc in zip(curves.get("step") or [], curves.get("test_acc") or []):
        a = finite(acc)
        if a is None:
            continue
        if a >= target:
            if before is None:
                return float(step)
            s0, a0 = before
            return s0 + (target - a0) / (a - a0) * (float(step) - s0)
        before = (float(step), a)
    return None


def upto(run: Mapping[str, Any], step: float) -> dict[str, Any]:
    """Return `run` as it stood after `step` steps: curve points and snapshots up to it, a running status.

    For playing a saved run back at a class's pace; at or beyond the run's last step it is the run itself.
    """
    done = int(run.get("steps_done") or 0)
    if step >= done:
        return dict(run)
    curves = run.get("curves") or {}
    keep = sum(1 for s in curves.get("step") or [] if s <= step)
    out_curves = {k: list(v[:keep]) for k, v in curves.items()}

    def frames(layer: Mapping[str, Any]) -> dict[str, Any]:
        n = sum(1 for s in layer.get("steps") or [] if s < step)  # a frame at t is step t's own forward pass

        def cut(taps: Mapping[str, Any]) -> dict[str, Any]:
            out = {}
            for tap, d in taps.items():
                hist = d.get("hist") or {}
                cut_hist = {**hist, **{k: hist[k][:n] for k in ("counts", "under", "over") if k in hist}}
                out[tap] = {**{k: v[:n] for k, v in d.items() if isinstance(v, list)}, "hist": cut_hist}
            return out

        kept = {k: (v[:n] if isinstance(v, list) else v) for k, v in layer.items()}
        kept.update({part: cut(layer[part]) for part in ("taps", "probe") if part in layer})
        return kept

    layers = [frames(layer) for layer in run.get("layers") or []]
    return {
        **run,
        "curves": out_curves,
        "layers": layers,
        "steps_done": int(step),
        "status": "running",
        "boundary": None,
    }
