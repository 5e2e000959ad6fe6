"""The batch-size lab: grid -> sweep -> aggregated table with bands -> verdict (no Streamlit here).

    >>> from vizcore.labs.batch import default_base, make_grid, summarize, aggregate, verdict
    >>> configs, skipped = make_grid(default_base(), [2, 8, 64], ["batch", "group"], n_seeds=2)
    >>> runs = run_many(configs, extras="train_eval_gap", light=True)
    >>> table = aggregate(summarize(configs, runs))   # one row per (norm, batch size), with bands
    >>> verdict(table)["text"]                          # computed from these runs, never pre-written

`run_many` is `vizcore.workers.sweep`'s; `vizcore.workers.batch_sweep.SweepJob` runs the
sweep in a background thread for one app session.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from vizcore.engine.config import NORM_LABELS, NORMS, ConfigError, RunConfig
from vizcore.labs.grid import batch_size_grid, summarize_sweep

# Wu & He 2018, "Group Normalization" (ECCV), Figure 1 (the values: Table 2): ImageNet, ResNet-50,
# top-1 validation error (%) against the batch size per GPU (8 GPUs).
PAPER_CITATION = "Wu & He 2018, Group Normalization (ECCV), Figure 1 (values from their Table 2)"
PAPER_BATCHES = (32, 16, 8, 4, 2)
PAPER_ERROR = {"batch": (23.6, 23.7, 24.8, 27.3, 34.7), "group": (24.1, 24.2, 24.0, 24.2, 24.1)}
PAPER_AT_32 = {"layer": 25.3, "instance": 28.4}  # error at batch 32 only
PAPER_DIFFERS = (
    "Theirs: ImageNet, ResNet-50 (a CNN), 8 GPUs, 100 epochs, learning rate 0.1 x B/32. "
    "Ours: 8x8 digits, a small network, one CPU core per run, a few epochs."
)

BATCH_OPTIONS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
DEFAULT_BATCHES = (2, 4, 8, 16, 32, 64, 128)
DEFAULT_NORMS = ("none", "batch", "layer", "group")
BATCH_FREE = ("layer", "group", "instance", "rms")  # norms whose output never depends on the batch
BUDGETS = {
    "samples": "Equal samples: every run sees as many training examples (the base steps x base batch), "
    "so a batch of 4 takes 16 times the steps of a batch of 64 — what Wu & He did (100 epochs each).",
    "steps": "Equal steps: every run takes the base number of updates, so small batches see far fewer examples "
    "and are also undertrained.",
}
LR_SCALING = (
    "Scale the learning rate with the batch (lr x B / base batch), as Wu & He did (0.1 x B/32), "
    "so every batch size moves the weights about as far per epoch."
)
MIN_MARGIN = 0.02  # accuracy differences below 2 points are not called a difference
EXTRAS = ("train_eval_gap",)

Band = Literal["minmax", "std"]


def default_base() -> RunConfig:
    """Return the page's default base config: digits, mlp 3 x 32, 150 steps at batch 64 (samples budget ~6.7 epochs)."""
    return RunConfig(
        dataset="digits",
        model="mlp",
        depth=3,
        width=32,
        norm="batch",
        groups=8,
        batch_size=64,
        steps=150,
        every=15,
        eval_every=15,
        lr=0.1,
    )


def norm_options(base: RunConfig) -> list[str]:
    """Return the norms that make sense for `base.model` (instance norm only for a cnn)."""
    return [n for n in NORMS if n != "instance" or base.model == "cnn"]


def make_grid(
    base: RunConfig,
    batch_sizes: Iterable[int],
    norms: Iterable[str],
    n_seeds: int = 1,
    budget: Literal["steps", "samples"] = "samples",
    scale_lr: bool = True,
) -> tuple[list[RunConfig], list[tuple[dict[str, Any], str]]]:
    """Return (configs, skipped) of the norm x batch size x seed grid around `base`.

    Seeds are base.seed, base.seed + 1, ... (`n_seeds` of them). The budget is
    `batch_size_grid`'s; snapshot and test cadences scale with the steps, so every run has
    as many points. With `scale_lr`, lr = base.lr x batch / base.batch_size. `skipped`
    holds the (changes, reason) pairs RunConfig rejects (e.g. batch norm at batch 1).
    """
    skipped: list[tuple[dict[str, Any], str]] = []
    seeds = [base.seed + k for k in range(max(1, n_seeds))]
    grid = batch_size_grid(
        base, sorted(set(batch_sizes)), list(dict.fromkeys(norms)), seeds, budget, skipped, scale_cadence=True
    )
    if not scale_lr:
        return grid, skipped
    out = []
    for cfg in grid:
        try:
            out.append(cfg.replace(lr=base.lr * cfg.batch_size / base.batch_size))
        except ConfigError as e:
            skipped.append(({"norm": cfg.norm, "batch_size": cfg.batch_size, "seed": cfg.seed}, str(e)))
    return out, skipped


def summarize(configs: Sequence[RunConfig], runs: Sequence[dict | None]) -> list[dict[str, Any]]:
    """Return one row per run: `summarize_sweep`'s fields plus lr and the train/eval-mode test accuracies.

    `test_eval_acc`, `test_train_mode_acc` and `test_gap` come from the run's
    `extras["train_eval_gap"]` (None when the run has none: cancelled, diverged, or swept without it).
    """
    rows = summarize_sweep(configs, runs)
    for cfg, run, row in zip(configs, runs, rows, strict=True):
        gap = ((run or {}).get("extras") or {}).get("train_eval_gap") or {}
        row["lr"] = cfg.lr
        for key in ("test_eval_acc", "test_train_mode_acc", "test_gap"):
            row[key] = gap.get(key)
    return rows


def aggregate(
    rows: Sequence[Mapping[str, Any]],
    value: str = "final_test_acc",
    band: Band = "minmax",
    norms: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """Return one row per (norm, batch size) that has at least one finite `value`, norms in first-seen order.

    Each row: norm, batch_size, steps, lr, n (values), runs (rows in the cell), diverged,
    values (in seed order), mean, std (sample std, ddof=1; 0 for one value), min, max, and
    the band: lo, hi = min, max (`band="minmax"`) or mean -/+ std (`band="std"`).
    `norms` keeps only those norms.
    """
    if band not in ("minmax", "std"):
        raise ValueError(f"band must be 'minmax' or 'std', got {band!r}")
    keep = set(norms) if norms is not None else None
    cells: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
    for r in rows:
        if keep is None or r["norm"] in keep:
            cells.setdefault((r["norm"], r["batch_size"]), []).append(r)
    order = {n: i for i, n in enumerate(dict.fromkeys(r["norm"] for r in rows))}
    out = []
    for (norm, b), cell in sorted(cells.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
        cell = sorted(cell, key=lambda r: r.get("seed", 0))
        vals = [float(r[value]) for r in cell if r.get(value) is not None and math.isfinite(r[value])]
        if not vals:
            continue
        a = np.array(vals)
        mean, std = float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0
        lo, hi = (float(a.min()), float(a.max())) if band == "minmax" else (mean - std, mean + std)
        out.append(
            {
                "norm": norm,
                "batch_size": b,
                "steps": cell[0].get("steps"),
                "lr": cell[0].get("lr"),
                "n": len(vals),
                "runs": len(cell),
                "diverged": sum(r.get("status") == "diverged" for r in cell),
                "values": vals,
                "mean": mean,
                "std": std,
                "min": float(a.min()),
                "max": float(a.max()),
                "lo": lo,
                "hi": hi,
            }
        )
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _pts(x: float) -> str:
    return f"{abs(100 * x):.1f} point" + ("" if round(abs(100 * x), 1) == 1 else "s")


def verdict(table: Sequence[Mapping[str, Any]], margin: float = MIN_MARGIN) -> dict[str, Any]:
    """Return the verdict on batch norm vs the batch-free norms, from an `aggregate` table of test accuracies.

    For batch norm and each batch-free norm present (layer, group, instance, rms), over the batch
    sizes all of them have results: drop = mean accuracy at the largest batch minus at the
    smallest (positive = worse with small batches); noise = sqrt(std_large^2 + std_small^2).
    Batch norm is called worse ("bn_worse") when its drop exceeds the largest other drop by
    more than max(`margin`, 2 x sqrt(noise_bn^2 + noise_other^2)); "bn_better" for the
    mirror case, else "similar"; "insufficient" without batch norm, a batch-free norm, or
    two common batch sizes. Keys: kind, text (plain words with the numbers), b_small, b_large,
    drops {norm: {"large", "small", "drop", "noise"}}, excess (bn drop minus the largest
    other), threshold, reference (the norm compared with), seeds (fewest values in a cell).
    """
    by = {(r["norm"], r["batch_size"]): r for r in table}
    others = [n for n in BATCH_FREE if any(k[0] == n for k in by)]
    out: dict[str, Any] = {
        "kind": "insufficient",
        "b_small": None,
        "b_large": None,
        "drops": {},
        "excess": None,
        "threshold": None,
        "reference": None,
        "seeds": None,
    }
    if not any(k[0] == "batch" for k in by) or not others:
        out["text"] = (
            "Sweep batch norm and at least one of layer or group norm to compare how they cope with small batches."
        )
        return out
    compared = ["batch", *others]
    common = sorted(set.intersection(*({b for (n, b) in by if n == norm} for norm in compared)))
    if len(common) < 2:
        out["text"] = (
            "Batch norm and the other norms share fewer than two batch sizes with results: nothing to compare yet."
        )
        return out
    small, large = common[0], common[-1]
    drops = {}
    for norm in compared:
        lo_row, hi_row = by[(norm, small)], by[(norm, large)]
        drops[norm] = {
            "large": hi_row["mean"],
            "small": lo_row["mean"],
            "drop": hi_row["mean"] - lo_row["mean"],
            "noise": math.hypot(hi_row["std"], lo_row["std"]),
        }
    ref = max(others, key=lambda n: drops[n]["drop"])
    excess = drops["batch"]["drop"] - drops[ref]["drop"]
    threshold = max(margin, 2 * math.hypot(drops["batch"]["noise"], drops[ref]["noise"]))
    kind = "bn_worse" if excess > threshold else "bn_better" if excess < -threshold else "similar"
    seeds = min(by[(n, b)]["n"] for n in compared for b in (small, large))

    def change(norm: str) -> str:
        d = drops[norm]
        verb = "lost" if d["drop"] > 0 else "gained"
        return f"{NORM_LABELS[norm]} {verb} {_pts(d['drop'])} ({_pct(d['large'])} → {_pct(d['small'])})"

    head = f"From batch {large} to batch {small}, {change('batch')}; " + ", ".join(change(n) for n in others) + "."
    bn, gn = PAPER_ERROR["batch"], PAPER_ERROR["group"]
    paper = (
        f"their batch norm went from {bn[0]}% to {bn[-1]}% ImageNet error between batch {PAPER_BATCHES[0]} "
        f"and {PAPER_BATCHES[-1]} while group norm stayed within {min(gn)}–{max(gn)}%"
    )
    if kind == "bn_worse":
        tail = (
            f"Batch norm suffered {_pts(excess)} more than {NORM_LABELS[ref]}: small batches hurt it, "
            f"as in Wu & He's Figure 1 ({paper})."
        )
    elif kind == "bn_better":
        tail = (
            f"Here batch norm did {_pts(-excess)} better than {NORM_LABELS[ref]} as batches shrank: "
            f"the opposite of Wu & He's result ({paper})."
        )
    else:
        tail = (
            f"Batch norm's change is within {_pts(threshold)} of {NORM_LABELS[ref]}'s: this sweep does not show "
            f"small batches hurting batch norm more, unlike Wu & He's ImageNet result ({paper})."
        )
    diverged = sum(by[(n, b)]["diverged"] for n in compared for b in (small, large))
    if diverged:
        tail += f" {diverged} of these runs diverged (counted at their last test accuracy)."
    if seeds < 2:
        tail += " One seed per point: differences of a few points can be chance; add seeds to see the spread."
    out.update(
        kind=kind,
        text=f"{head} {tail}",
        b_small=small,
        b_large=large,
        drops=drops,
        excess=excess,
        threshold=threshold,
        reference=ref,
        seeds=seeds,
    )
    return out


def deviation_sentence(dev: Mapping[str, Any]) -> str:
    """Return a plain-words reading of `measures.batch.batch_stat_deviation`'s result."""
    s, t, b = dev["summary"], dev["theory"], dev["batch_size"]
    if not math.isfinite(s["z_std"]):
        return f"Block {dev['layer'] + 1} has no unit that varies over the training set: nothing to measure."
    m = dev["values_per_unit"]
    values = (
        f"{m} independent values"
        if m == b
        else (f"{m} values ({b} images x positions), if they were independent; neighbouring positions are not")
    )
    return (
        f"At batch {b}, a typical batch mean is off by {s['z_std']:.2f} standard deviations of the population "
        f"(theory for {values}: 1/√{m} = {t['z_std']:.2f}), and a typical batch variance is "
        f"{s['var_ratio_median']:.2f} times the population's (8 in 10 fall between {s['var_ratio_p10']:.2f} "
        f"and {s['var_ratio_p90']:.2f}). Batch norm divides by the square root of that variance."
    )


def gap_sentence(
    eval_table: Sequence[Mapping[str, Any]], train_table: Sequence[Mapping[str, Any]], margin: float = MIN_MARGIN
) -> str:
    """Return a plain-words reading of batch norm's eval-mode vs train-mode test accuracy at its smallest batch.

    Both tables are `aggregate` tables of one norm (`test_eval_acc`, `test_train_mode_acc`);
    the two count as different when their means differ by more than `margin`. Returns "" when
    they share no batch size.
    """
    ev = {r["batch_size"]: r for r in eval_table}
    tr = {r["batch_size"]: r for r in train_table}
    common = sorted(set(ev) & set(tr))
    if not common:
        return ""
    b = common[0]
    e, t = ev[b]["mean"], tr[b]["mean"]
    head = (
        f"At batch {b}, batch norm's test accuracy is {_pct(e)} with running averages (eval mode) and "
        f"{_pct(t)} with each test batch's own statistics (train mode)."
    )
    if e - t > margin:
        return (
            f"{head} The network is worse still when normalized as in training, so the switch to running "
            f"averages is not what costs the accuracy: the weights learned from noisy statistics are weak."
        )
    if t - e > margin:
        return (
            f"{head} Normalized as in training it does better: part of the loss is the mismatch between the "
            f"statistics the network was trained with and those it is tested with."
        )
    return (
        f"{head} The two agree within {_pts(margin)}: the mismatch between training and test normalization "
        f"is not what costs the accuracy here."
    )


def digest(configs: Sequence[RunConfig], runs: Sequence[dict | None], band: Band = "minmax") -> dict[str, Any]:
    """Return everything the page shows from a sweep's runs (None = not finished), computed in one go.

    Keys: `table` (aggregate of final test accuracy), `eval` and `train` (batch norm's
    eval-mode and train-mode test accuracy, aggregated), `verdict` (`verdict(table)`),
    `gap` (`gap_sentence`), `numbers` (table rows for display, accuracies in %).
    """
    rows = summarize(configs, runs) if configs else []
    table = aggregate(rows, band=band)
    ev = aggregate(rows, "test_eval_acc", band, norms=["batch"])
    tr = aggregate(rows, "test_train_mode_acc", band, norms=["batch"])
    numbers = [
        {
            "norm": r["norm"],
            "batch": r["batch_size"],
            "steps": r["steps"],
            "lr": r["lr"],
            "seeds": r["n"],
            "mean %": round(100 * r["mean"], 2),
            "min %": round(100 * r["min"], 2),
            "max %": round(100 * r["max"], 2),
            "diverged": r["diverged"],
        }
        for r in table
    ]
    return {
        "table": table,
        "eval": ev,
        "train": tr,
        "verdict": verdict(table),
        "gap": gap_sentence(ev, tr),
        "numbers": numbers,
    }


def paper_rows() -> list[dict[str, Any]]:
    """Return Wu & He's Figure 1 numbers as table rows: batch per GPU, BN and GN top-1 error (%)."""
    return [
        {"batch per GPU": b, "BN error %": e1, "GN error %": e2}
        for b, e1, e2 in zip(PAPER_BATCHES, PAPER_ERROR["batch"], PAPER_ERROR["group"], strict=True)
    ]


def chance_level(cfg: RunConfig) -> float:
    """Return the accuracy of guessing for `cfg`'s dataset: 1/10 for digits, 1/2 for the 2-D sets (balanced)."""
    return 0.1 if cfg.dataset == "digits" else 0.5


def probe_config(base: RunConfig) -> RunConfig | None:
    """Return the batch-norm model of `base` whose batch statistics the page measures, or None if invalid."""
    try:
        return base.replace(norm="batch")
    except ConfigError:
        return None
