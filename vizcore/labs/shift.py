"""Covariate-shift lab: the plans, readings and verdict behind the Covariate shift page (no Streamlit, no threads).

Part 1, internal covariate shift: the same base configuration trained without normalization,
with the chosen norm, and (optionally) with Santurkar et al.'s "noisy" norm. Each run is
driven by `shift.gradient_shift` (Santurkar's measure: how much a layer's gradient changes when
only the earlier layers update), and its snapshots of the run's fixed probe examples give
`measures.drift.probe_drift` (how far each layer's output, the next layer's input, moved on the
same inputs, beside how far one training batch differs from the probe: the sampling noise a
drift must exceed). `summarize` reduces
the numbers to a few medians and `verdict` turns those into plain sentences, never pre-written.

Part 2, external covariate shift: four models (none, batch, layer, group norm) trained once,
then `shift.shifted_accuracy` on test inputs x * scale + shift.

The training itself (`measure`, `run_internal`, `train_external`) and `ShiftLab`, which runs
both parts in a background thread per browser session, are `vizcore.workers.shift_lab`'s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from vizcore.engine.config import NORM_LABELS, RunConfig, fitting_groups
from vizcore.engine.training import Trainer
from vizcore.measures.shift import shifted_accuracy

# The page's defaults: digits, 600 steps, Santurkar's measure every 30 steps, noisy run at 0.3.
DEFAULT_BASE = RunConfig(steps=600, every=20, eval_every=30, norm_noise=0.3)
MEASUREMENTS = 20  # gradient-shift measurements per run (every = steps // MEASUREMENTS)
NOISY_TOLERANCE = 2.0  # percentage points: "trains about as well" means within this of the plain norm
SAME_BAND = 0.1  # ratios within 1 +- 10% count as "about the same"
# Every comparison of part 1 is one seed a network: whichever way it comes out, it carries the same caveat.
ONE_SEED = " (one seed: this can be chance, either way; run it again with another seed to see)"
SHIFTS = tuple(float(v) for v in np.round(np.linspace(-3.0, 3.0, 25), 4))  # test-time shift grid


def next_input_tap(cfg: RunConfig) -> str:
    """Return the tap that is the next layer's input: `act` (Linear -> norm -> act, or no norm), else `norm`."""
    return "norm" if cfg.norm != "none" and cfg.placement == "after" else "act"


def _clean(cfg: RunConfig, **changes: Any) -> RunConfig:
    """Return `cfg` with `changes`, no noise and no test-time shift (the sliders do that)."""
    return cfg.replace(**{"norm_noise": 0.0, "shift": 0.0, "scale": 1.0, **changes})


def internal_configs(base: RunConfig) -> list[tuple[str, str, RunConfig]]:
    """Return [(key, label, config)] for part 1: none, the chosen norm, and noisy if `base.norm_noise` > 0.

    Raises ValueError if `base.norm` is none (there is nothing to compare), ConfigError if a variant is invalid.
    """
    if base.norm == "none":
        raise ValueError("choose a normalization in the sidebar: this page compares it with no normalization")
    name = NORM_LABELS.get(base.norm, base.norm)
    out = [("none", NORM_LABELS["none"], _clean(base, norm="none")), ("norm", name, _clean(base))]
    if base.norm_noise > 0:
        out.append(("noisy", f"noisy {name} ({base.norm_noise:g})", _clean(base, norm_noise=base.norm_noise)))
    return out


def external_configs(base: RunConfig) -> list[tuple[str, str, RunConfig]]:
    """Return [(key, label, config)] for part 2: none, batch, layer and group norm on `base`.

    Group norm uses `base.groups` if it divides the width, else their greatest common divisor;
    never one unit per group on an mlp (that normalizes every unit to 0).
    """
    groups = fitting_groups(base.width, base.groups, base.model)
    return [
        ("none", NORM_LABELS["none"], _clean(base, norm="none")),
        ("batch", NORM_LABELS["batch"], _clean(base, norm="batch")),
        ("layer", NORM_LABELS["layer"], _clean(base, norm="layer")),
        ("group", f"{NORM_LABELS['group']} ({groups} groups)", _clean(base, norm="group", groups=groups)),
    ]


def _median(values: list) -> "float | None":
    ok = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.median(ok)) if ok else None


def _ratio(a: "float | None", b: "float | None") -> "float | None":
    return a / b if a is not None and b else None


def summarize(runs: Sequence[dict]) -> dict[str, Any]:
    """Return the numbers the verdict rests on, from part 1's records (`workers.shift_lab.measure` + "key", "label").

    Per run key: "gshift" = median of l2/||G|| over blocks 2..n and every measured step (block 1
    has no earlier layers); "drift" = median over blocks of the typical drift on the fixed probe
    examples over the second half (W1 in spreads over `lag` steps: `measures.drift.probe_drift`);
    "noise" = median over blocks of how far a training batch's distribution sits from the
    probe's at the same snapshot (the same units: what sampling alone does); "acc" = final test
    accuracy. Then "gshift_ratio" and "drift_ratio" (norm / none), "noisy_drift_ratio" (noisy /
    norm), "noise_ratio" (the norm's drift / its batch noise), "lag" and "noisy_gap" (noisy minus
    plain norm accuracy, in percentage points), each None where undefined.
    """
    by = {r["key"]: r for r in runs}
    out: dict[str, Any] = {
        "labels": {k: r["label"] for k, r in by.items()},
        "gshift": {},
        "drift": {},
        "noise": {},
        "acc": {},
    }
    for k, r in by.items():
        out["gshift"][k] = _median([v for la in r["gshift"]["layers"][1:] for v in la["rel"]])
        out["drift"][k] = _median([la["typical"] for la in r["drift"]["layers"]])
        out["noise"][k] = _median([la["noise_median"] for la in r["drift"]["layers"]])
        out["acc"][k] = r["final_test_acc"]
    out["lag"] = next((r["drift"]["lag"] for r in by.values()), None)
    out["gshift_ratio"] = _ratio(out["gshift"].get("norm"), out["gshift"].get("none"))
    out["drift_ratio"] = _ratio(out["drift"].get("norm"), out["drift"].get("none"))
    out["noise_ratio"] = _ratio(out["drift"].get("norm"), out["noise"].get("norm"))
    out["noisy_drift_ratio"] = _ratio(out["drift"].get("noisy"), out["drift"].get("norm"))
    noisy, plain = out["acc"].get("noisy"), out["acc"].get("norm")
    out["noisy_gap"] = 100 * (noisy - plain) if noisy is not None and plain is not None else None
    return out


def _compare(ratio: float) -> str:
    if ratio > 1 + SAME_BAND:
        return "higher"
    if ratio < 1 - SAME_BAND:
        return "lower"
    return "same"


def verdict(summary: dict[str, Any], tolerance: float = NOISY_TOLERANCE) -> list[str]:
    """Return plain-language sentences (markdown) on what `summary`'s numbers show; nothing pre-judged.

    Ratios within 1 +- SAME_BAND count as "about the same"; noisy norm "trains about as well"
    if its final test accuracy is within `tolerance` percentage points of the plain norm's.
    """
    labels = summary["labels"]
    name = labels.get("norm", "the norm")
    out = []
    r = summary.get("gshift_ratio")
    if r is None:
        out.append("Santurkar et al.'s measure could not be compared: a run has no finite values (did it diverge?).")
    else:
        head = f"In this run, {name}'s gradient shift (median ‖G − G′‖ / ‖G‖) was **{r:.2g} times** the plain network's"
        tail = {
            "higher": f": {name} did **not** reduce this measure of internal covariate shift, it raised it, "
            "as Santurkar et al. found it can",
            "same": f": about the same, so {name} did **not** reduce this measure, as Santurkar et al. found",
            "lower": f": here {name} **did** reduce this measure, unlike what Santurkar et al. found for batch "
            "norm on their networks",
        }[_compare(r)]
        out.append(head + tail + ONE_SEED + ".")
    d = summary.get("drift_ratio")
    if d is not None:
        word = {"higher": "more", "same": "about as much", "lower": "less"}[_compare(d)]
        line = (
            f"On the same fixed probe examples, the next layer's inputs moved **{word}** with {name}: its typical "
            f"drift over {summary.get('lag')} steps (W1 in spreads, second half of training) was {d:.2g} times "
            "the plain network's."
        )
        nr = summary.get("noise_ratio")
        if nr is not None:
            line += (
                f" For scale: with {name} that drift was {nr:.2g} times how far one training batch's "
                "distribution differs from the probe's (sampling alone)."
            )
        if r is not None and {_compare(r), _compare(d)} == {"higher", "lower"}:
            line += " The two measures disagree here: " + (
                "steadier input distributions did not mean a steadier gradient."
                if _compare(d) == "lower"
                else "the inputs moved more, yet the gradient less."
            )
        out.append(line)
    gap, acc = summary.get("noisy_gap"), summary["acc"]
    if "noisy" in acc:
        noisy = labels["noisy"]
        nd = summary.get("noisy_drift_ratio")
        moved = "" if nd is None else f" (its layers' inputs moved {nd:.2g} times as much as plain {name}'s)"
        if gap is None:
            out.append(f"{noisy} has no final test accuracy to compare (did it diverge?).")
        else:
            where = "above" if gap > 0 else "below"
            head = (
                f"**{noisy}**{moved} reached {100 * acc['noisy']:.1f}% test accuracy vs {100 * acc['norm']:.1f}% "
                f"for plain {name}: "
            )
            if abs(gap) <= tolerance:
                out.append(
                    head + f"within {tolerance:g} points ({abs(gap):.1f} {where}), so it trained about as well "
                    "although noise shifted its layers' inputs at every step, as Santurkar et al. found"
                    + ONE_SEED
                    + "."
                )
            elif gap < 0:
                out.append(
                    head + f"{abs(gap):.1f} points below, more than {tolerance:g}: in this run the injected "
                    "shift did hurt training, so here Santurkar et al.'s finding does not hold" + ONE_SEED + "."
                )
            else:
                out.append(
                    head + f"{gap:.1f} points above, more than {tolerance:g}: in this run the noisy version did "
                    "better" + ONE_SEED + "."
                )
    if acc.get("none") is not None and acc.get("norm") is not None:
        out.append(
            f"Final test accuracy: {100 * acc['none']:.1f}% without normalization, "
            f"{100 * acc['norm']:.1f}% with {name}."
        )
    return out


def external_curves(
    models: Sequence[tuple[str, str, Trainer]], scale: float, shifts: Sequence[float] = SHIFTS
) -> dict[str, Any]:
    """Return test accuracy against shift at `scale` for each model: {"scale", "shifts", "series"}.

    Series, in order: none, batch norm with running statistics, batch norm with statistics
    recomputed on the shifted test data, layer norm, group norm; each {"key", "label", "acc"} with
    one accuracy per shift.
    """
    series = []
    for key, label, t in models:
        res = shifted_accuracy(t, shifts, [scale])
        if res["recomputed"] is None:
            series.append({"key": key, "label": label, "acc": res["running"]})
        else:
            series.append({"key": key, "label": f"{label}, running statistics", "acc": res["running"]})
            series.append(
                {
                    "key": f"{key}_recomputed",
                    "label": f"{label}, statistics recomputed on the test data",
                    "acc": res["recomputed"],
                }
            )
    return {"scale": float(scale), "shifts": [float(s) for s in shifts], "series": series}


def with_point(curves: dict[str, Any], models: Sequence[tuple[str, str, Trainer]], shift: float) -> dict[str, Any]:
    """Return `curves` with `shift` inserted into the grid (so a marker there sits on each line) and
    "at" = {"shift": shift, "acc": {series key: accuracy}}."""
    point = external_curves(models, curves["scale"], [shift])
    at = {s["key"]: s["acc"][0] for s in point["series"]}
    shifts = list(curves["shifts"])
    if shift in shifts:
        return {**curves, "at": {"shift": shift, "acc": at}}
    i = int(np.searchsorted(shifts, shift))
    series = [{**s, "acc": [*s["acc"][:i], at[s["key"]], *s["acc"][i:]]} for s in curves["series"]]
    return {**curves, "shifts": [*shifts[:i], shift, *shifts[i:]], "series": series, "at": {"shift": shift, "acc": at}}
