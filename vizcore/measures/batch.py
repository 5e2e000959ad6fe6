"""Batch statistics: why small batches hurt batch norm, measured on a trainer's network.

Batch norm normalizes with the mean and variance of the current mini-batch, which are
noisy estimates of the population statistics it meets at test time (its running
averages). For B independent values, the batch mean misses the population mean by
about sigma / sqrt(B), and the biased batch variance BN uses is on average
(B - 1) / B of the population variance: at B = 2, half of it.

Every function here works on a deep copy of `trainer.net`, so the trainer's weights,
running statistics, noise generators and train/eval mode are never touched (and a
thread training the trainer is not disturbed). Layers are counted from 0, like
`run["layers"]`.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from vizcore.engine.models import Block, Net, eval_mode
from vizcore.engine.training import Trainer

CHUNK = 512  # examples per forward pass when a whole set is pushed through
CONSTANT_VAR = 1e-12  # units whose population variance is below this are left out (e.g. dead relu outputs)


class _Stop(Exception):
    """Raised by a hook once it has what it needs: the rest of the forward pass is skipped."""


def _net_copy(trainer: Trainer) -> Net:
    return copy.deepcopy(trainer.net)


def _capture(net: nn.Module, module: nn.Module, x: torch.Tensor, pre: bool = False, chunk: int = CHUNK) -> torch.Tensor:
    """Return `module`'s output (its input if `pre`) for all of `x`, the net in eval mode, no grad."""
    outs: list[torch.Tensor] = []

    def hook(mod: nn.Module, inp: Any, out: Any = None) -> None:
        outs.append((inp[0] if pre else out).detach())
        raise _Stop

    handle = module.register_forward_pre_hook(hook) if pre else module.register_forward_hook(hook)
    try:
        with eval_mode(net), torch.no_grad():
            for xb in x.split(chunk):
                try:
                    net(xb)
                except _Stop:
                    pass
    finally:
        handle.remove()
    return torch.cat(outs)


def norm_input(trainer: Trainer, layer: int, x: torch.Tensor | None = None) -> torch.Tensor:
    """Return what block `layer`'s norm layer sees for inputs `x` (default: the training set).

    That is the Linear/Conv output with placement "before" and the activation output with
    "after" (the same position when the norm is "none"). Computed with the network in eval
    mode, so earlier batch-norm layers use their running statistics: each example's
    features do not depend on which batch it is in. Shape (N, C) for an mlp, (N, C, H, W)
    for a cnn.
    """
    net = _net_copy(trainer)
    block = _block(net, layer)
    x = trainer.data.x_train if x is None else x
    return _capture(net, block.linear if block.placement == "before" else block.act, x)


def _block(net: Net, layer: int) -> Block:
    n = len(net.blocks)
    if not -n <= layer < n:
        raise ValueError(f"layer {layer} does not exist: the network has {n} blocks (0 to {n - 1})")
    return net.blocks[layer]


def _chi2_ppf(q: float, df: int) -> float | None:
    if df <= 0:
        return 0.0
    try:
        from scipy.stats import chi2  # installed with scikit-learn
    except ImportError:  # pragma: no cover
        return None
    return float(chi2.ppf(q, df))


def batch_stat_deviation(
    trainer: Trainer, layer: int, batch_size: int, n_batches: int = 200, seed: int = 0
) -> dict[str, Any]:
    """Return how far mini-batch statistics stray from population statistics at block `layer`'s norm input.

    The features are `norm_input(trainer, layer)` on the whole training set (eval mode,
    running statistics unchanged). Per unit (per channel for a cnn, pooled over N, H, W as
    BatchNorm2d does) the population mean and biased variance are taken over the whole
    set; then `n_batches` batches of `batch_size` distinct examples are drawn with
    `torch.Generator().manual_seed(seed)`. The dict holds:

    - `mean_z` (n_batches, C): (batch mean - population mean) / population std
    - `log_var_ratio` (n_batches, C): log(biased batch variance / population variance)
      (-inf where a batch's values were all equal)
    - `summary` and `theory`, with the same keys: `z_mean`, `z_std`, `mean_abs_z`,
      `var_ratio_mean`, `var_ratio_median`, `var_ratio_p10`, `var_ratio_p90`,
      `log_var_ratio_median`. Theory is for m = B x H x W independent Gaussian values:
      z_std = 1/sqrt(m), mean |z| = sqrt(2/pi)/sqrt(m), m x ratio ~ chi-squared(m - 1), so
      E[ratio] = (m - 1)/m. `theory["z_std_finite"]` adds the finite-population correction
      sqrt((M - m)/(M - 1)) (M values in all), exact for an mlp's batches drawn without
      replacement. In a cnn the H x W values of one example are correlated, so the measured
      spread is larger than this theory.
    - `pop_mean`, `pop_var` (C,), `valid` (C,) bool: units with a population variance
      above 1e-12 (the others, e.g. dead relu outputs, are NaN and left out of the summary),
      and `layer`, `tap` ("linear" or "act"), `batch_size`, `n_batches`, `n_examples`,
      `values_per_unit` (m), `shape` (of one example's features).
    """
    feats = norm_input(trainer, layer).double()
    n = feats.shape[0]
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be between 1 and the training-set size {n}, got {batch_size}")
    if n_batches < 1:
        raise ValueError(f"n_batches must be at least 1, got {n_batches}")
    c = feats.shape[1]
    flat = feats.reshape(n, c, -1)  # (N, C, P): P = H*W for a cnn, 1 for an mlp
    p = flat.shape[2]
    pop_mean = flat.mean(dim=(0, 2))
    pop_var = flat.var(dim=(0, 2), unbiased=False)
    valid = pop_var > CONSTANT_VAR
    pop_std = pop_var.sqrt()

    gen = torch.Generator().manual_seed(seed)
    mean_z = torch.empty(n_batches, c, dtype=torch.float64)
    ratio = torch.empty(n_batches, c, dtype=torch.float64)
    for k in range(n_batches):
        fb = flat[torch.randperm(n, generator=gen)[:batch_size]]
        var, mean = torch.var_mean(fb, dim=(0, 2), unbiased=False)
        mean_z[k] = (mean - pop_mean) / pop_std
        ratio[k] = var / pop_var
    mean_z[:, ~valid] = math.nan
    ratio[:, ~valid] = math.nan
    z = mean_z[:, valid].numpy().ravel()
    r = ratio[:, valid].numpy().ravel()

    def stats(z: np.ndarray, r: np.ndarray) -> dict[str, float]:
        if z.size == 0:
            return dict.fromkeys(_SUMMARY_KEYS, math.nan)
        p10, p50, p90 = np.percentile(r, [10, 50, 90])
        return {
            "z_mean": float(z.mean()),
            "z_std": float(z.std()),
            "mean_abs_z": float(np.abs(z).mean()),
            "var_ratio_mean": float(r.mean()),
            "var_ratio_median": float(p50),
            "var_ratio_p10": float(p10),
            "var_ratio_p90": float(p90),
            "log_var_ratio_median": float(np.log(p50)) if p50 > 0 else -math.inf,
        }

    m, big_m = batch_size * p, n * p
    q = {name: _chi2_ppf(level, m - 1) for name, level in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9))}
    median = q["p50"] / m if q["p50"] is not None else None
    theory = {
        "z_mean": 0.0,
        "z_std": 1 / math.sqrt(m),
        "z_std_finite": math.sqrt((big_m - m) / (m * (big_m - 1))) if big_m > 1 else 0.0,
        "mean_abs_z": math.sqrt(2 / math.pi) / math.sqrt(m),
        "var_ratio_mean": (m - 1) / m,
        "var_ratio_median": median,
        "var_ratio_p10": q["p10"] / m if q["p10"] is not None else None,
        "var_ratio_p90": q["p90"] / m if q["p90"] is not None else None,
        "log_var_ratio_median": (math.log(median) if median > 0 else -math.inf) if median is not None else None,
    }
    block = trainer.net.blocks[layer]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log(ratio.numpy())
    return {
        "layer": layer,
        "tap": "linear" if block.placement == "before" else "act",
        "batch_size": batch_size,
        "n_batches": n_batches,
        "n_examples": n,
        "values_per_unit": m,
        "shape": tuple(feats.shape[1:]),
        "pop_mean": pop_mean.numpy(),
        "pop_var": pop_var.numpy(),
        "valid": valid.numpy(),
        "mean_z": mean_z.numpy(),
        "log_var_ratio": log_ratio,
        "summary": stats(z, r),
        "theory": theory,
    }


_SUMMARY_KEYS = (
    "z_mean",
    "z_std",
    "mean_abs_z",
    "var_ratio_mean",
    "var_ratio_median",
    "var_ratio_p10",
    "var_ratio_p90",
    "log_var_ratio_median",
)


def has_batch_norm(net: nn.Module) -> bool:
    """Return True if `net` contains a batch-norm layer."""
    return any(isinstance(m, _BatchNorm) for m in net.modules())


def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Return the accuracy of `net` in eval mode on (x, y) in one forward pass (its mode is restored)."""
    with eval_mode(net), torch.no_grad():
        return float((net(x).argmax(1) == y).float().mean())


def _train_mode_accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int) -> float:
    """Accuracy with batch statistics: every example predicted once, inside a batch of exactly `batch_size`.

    Examples are shuffled with `seed` and cut into batches; the short last batch is filled
    up with examples from the first batch, whose predictions are not counted twice.
    """
    n = x.shape[0]
    b = min(batch_size, n)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    hits = []
    net.train()
    with torch.no_grad():
        for start in range(0, n, b):
            idx = perm[start : start + b]
            k = idx.numel()
            if k < b:
                idx = torch.cat([idx, perm[: b - k]])
            hits.append(net(x[idx]).argmax(1)[:k] == y[idx[:k]])
    return float(torch.cat(hits).float().mean())  # float32 mean, as in accuracy() and Trainer.evaluate


def train_eval_gap(trainer: Trainer, batch_size: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Return test and training accuracy in eval mode (running statistics) and in train mode (batch statistics).

    Train mode predicts each example inside a mini-batch of `batch_size` (default the
    config's; capped at the set's size) shuffled with `seed`, using that batch's own
    statistics, as during training. Works on a copy of the network: the trainer's running
    statistics do not move. Keys: `test_eval_acc` (equals `trainer.evaluate` on the test
    set), `test_train_mode_acc`, `train_eval_acc`, `train_train_mode_acc`, `test_gap` and
    `train_gap` (eval minus train mode), `batch_size`, `has_batch_norm`. Without batch
    norm the two modes agree (up to "noisy norm" noise, which acts in train mode only).
    """
    b = trainer.cfg.batch_size if batch_size is None else batch_size
    net = _net_copy(trainer)
    bn1d = any(isinstance(m, nn.BatchNorm1d) for m in net.modules())
    if b < 1 or (bn1d and b < 2):
        raise ValueError(f"batch_size must be at least {2 if bn1d else 1} here, got {b}")
    d = trainer.data
    out: dict[str, Any] = {"batch_size": b, "has_batch_norm": has_batch_norm(net)}
    sets = (("test", d.x_test, d.y_test), ("train", d.x_train, d.y_train))
    for name, x, y in sets:  # eval mode first: train-mode passes move the copy's running statistics
        out[f"{name}_eval_acc"] = accuracy(net, x, y)
    for name, x, y in sets:
        out[f"{name}_train_mode_acc"] = _train_mode_accuracy(net, x, y, b, seed)
        out[f"{name}_gap"] = out[f"{name}_eval_acc"] - out[f"{name}_train_mode_acc"]
    return out


def recompute_bn_stats(trainer: Trainer, x: torch.Tensor, batch_size: int = CHUNK) -> Net:
    """Return a copy of the trainer's network (eval mode) whose batch-norm running statistics are exact over `x`.

    "Precise BN" (Wu & Johnson 2021): instead of the exponential moving average collected
    during training, each BN layer gets the population mean and variance (unbiased, as
    BN stores it) of its input over all of `x`. Layers are done in forward order, each with
    the earlier ones already recomputed and in eval mode, so every layer's statistics are
    those of the features it sees when the copy is evaluated on `x`: the copy in eval mode
    normalizes `x` exactly. `x` goes through in chunks of `batch_size` (forward passes
    only: the statistics are over all of `x` at once, in float64). Useful after a covariate shift: pass
    shifted inputs to adapt the statistics without any training. The trainer's network is
    untouched; without batch norm the copy is returned unchanged.
    """
    net = _net_copy(trainer)
    net.eval()
    for bn in (m for m in net.modules() if isinstance(m, _BatchNorm)):
        feats = _capture(net, bn, x, pre=True, chunk=batch_size).double()
        dims = [0, *range(2, feats.dim())]
        count = feats.numel() // feats.shape[1]
        var, mean = torch.var_mean(feats, dim=dims, unbiased=count > 1)
        # every batch norm built here tracks running statistics (PyTorch's default)
        assert bn.running_mean is not None and bn.running_var is not None and bn.num_batches_tracked is not None
        with torch.no_grad():
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            bn.num_batches_tracked.fill_(math.ceil(x.shape[0] / batch_size))
    return net
