"""The batch-size grid: the configs of a norm x batch size x seed sweep, and one summary row per run.

    >>> from vizcore.labs.grid import batch_size_grid, summarize_sweep
    >>> configs = batch_size_grid(RunConfig(steps=500), [2, 8, 64], ["batch", "layer"], [0, 1], "samples")
    >>> rows = summarize_sweep(configs, runs)   # runs from workers.sweep.run_many, in the same order

Plans only: the training is `vizcore.workers.sweep.run_many`'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

from vizcore.engine.config import MAX_STEPS, ConfigError, RunConfig
from vizcore.runs.queries import last_finite


def batch_size_grid(
    base: RunConfig,
    batch_sizes: Iterable[int],
    norms: Iterable[str],
    seeds: Iterable[int],
    budget: Literal["steps", "samples"] = "samples",
    skipped: list[tuple[dict[str, Any], str]] | None = None,
    *,
    scale_cadence: bool = False,
) -> list[RunConfig]:
    """Return the valid configs of the norm x batch size x seed grid (in that nesting order).

    budget "steps": every run gets `base.steps` updates. "samples": every run sees as many
    training examples as `base` does, steps = base.steps * base.batch_size // batch_size
    (at least 1, at most MAX_STEPS). Other fields come from `base` (group norm uses
    `base.groups`). Combinations RunConfig rejects (batch norm at batch size 1, group norm
    whose groups do not divide the width, a batch larger than the training set, ...) are
    left out; pass a list as `skipped` to receive them as (changes, reason) pairs. With
    norm "none", `norm_noise` is set to 0 (the noise sits after a norm layer).
    `scale_cadence=True` also scales `every` and `eval_every` with the steps, so every run
    gets as many snapshots and test points.
    """
    if budget not in ("steps", "samples"):
        raise ValueError(f"budget must be 'steps' or 'samples', got {budget!r}")
    batch_sizes, norms, seeds = list(batch_sizes), list(norms), list(seeds)
    out: list[RunConfig] = []
    for norm in norms:
        for b in batch_sizes:
            for seed in seeds:
                changes: dict[str, Any] = {"norm": norm, "batch_size": b, "seed": seed}
                if budget == "samples" and isinstance(b, int) and b > 0:
                    steps = min(MAX_STEPS, max(1, base.steps * base.batch_size // b))
                    changes["steps"] = steps
                    if scale_cadence:
                        ratio = steps / base.steps
                        changes["every"] = min(MAX_STEPS, max(1, round(base.every * ratio)))
                        changes["eval_every"] = min(MAX_STEPS, max(1, round(base.eval_every * ratio)))
                if norm == "none":
                    changes["norm_noise"] = 0.0  # noise sits after a norm layer; none has no place for it
                try:
                    out.append(base.replace(**changes))
                except ConfigError as e:
                    if skipped is not None:
                        skipped.append((changes, str(e)))
    return out


def summarize_sweep(configs: Sequence[RunConfig], runs: Sequence[dict | None]) -> list[dict[str, Any]]:
    """Return one row per run: norm, batch_size, seed, steps, final_test_acc, final_train_acc, status.

    Accuracies are the last finite curve points (None if there is none); a missing run
    (cancelled) has status "cancelled".
    """
    if len(configs) != len(runs):
        raise ValueError(f"{len(configs)} configs but {len(runs)} runs")
    rows = []
    for cfg, run in zip(configs, runs, strict=True):
        curves = run["curves"] if run is not None else {}
        rows.append(
            {
                "norm": cfg.norm,
                "batch_size": cfg.batch_size,
                "seed": cfg.seed,
                "steps": cfg.steps,
                "final_test_acc": last_finite(curves.get("test_acc")),
                "final_train_acc": last_finite(curves.get("train_acc")),
                "status": run["status"] if run is not None else "cancelled",
            }
        )
    return rows
