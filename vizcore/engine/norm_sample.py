"""Inside one norm layer: a few examples of the first block's norm input, and the statistics the layer used.

At each snapshot a forward pre-hook on the first block's norm layer keeps a reference to its input
(the whole training batch), copies of its running averages as they were before this batch, and its
gamma and beta as they were in that forward pass. Only the latest snapshot is kept; `export()` reduces
it to a bounded sample (at most SHOW examples x SHOW units): the values, and for each shown value the
mean and variance the layer normalized it with, computed over everything the layer averages over
(the whole batch for batch norm, every unit of the example for layer and RMS norm), not only the shown
values. Nothing here changes the run: the hook reads, and only clones.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from vizcore.engine.config import RunConfig
from vizcore.engine.models import Net
from vizcore.engine.norms import NoisyNorm

SHOW = 8  # examples and units (channels) in the sample
BLOCK = 0  # the block sampled: the first, whose input is the data itself
# What one statistic is computed over, per norm: the axis the panel highlights.
AXES = {
    "batch": "unit",  # one unit (channel) across the batch (and its positions)
    "layer": "example",  # every unit of one example
    "group": "group",  # the units of one group of one example
    "instance": "channel",  # one channel of one example, over its positions
    "rms": "example",  # every unit of one example, mean of squares (no mean subtracted)
}


def inner_norm(net: Net, block: int = BLOCK) -> "nn.Module | None":
    """Return block `block`'s norm module (inside a noisy norm's wrapper), or None if it has none."""
    norm = net.blocks[block].norm
    return norm.inner if isinstance(norm, NoisyNorm) else norm


def shown_units(width: int, norm: str, groups: int) -> list[int]:
    """Return the units (channels) the sample shows: the first SHOW, or for group norm a few of each of 2+ groups."""
    if norm != "group" or groups == 1:
        return list(range(min(SHOW, width)))
    size = width // groups
    n_groups = min(groups, max(2, SHOW // size))
    per = min(size, SHOW // n_groups)
    return [g * size + j for g in range(n_groups) for j in range(per)]


def _floats(t: torch.Tensor) -> list:
    """Return a tensor as nested lists of Python floats, non-finite values as None."""
    if t.dim() == 0:
        v = float(t)
        return [v] if math.isfinite(v) else [None]
    if t.dim() == 1:
        return [float(v) if math.isfinite(v) else None for v in t.tolist()]
    return [_floats(row) for row in t]


class NormSampler:
    """Holds the first block's norm input at the latest snapshot and exports the bounded sample."""

    def __init__(self, net: Net, cfg: RunConfig):
        self.cfg = cfg
        self.module = inner_norm(net) if cfg.norm != "none" else None
        self.units = shown_units(cfg.width, cfg.norm, cfg.groups)
        self._pending: "dict[str, Any] | None" = None
        self._held: "dict[str, Any] | None" = None

    def hook(self) -> "torch.utils.hooks.RemovableHandle | None":
        """Return the handle of a forward pre-hook that keeps this pass's norm input, or None with no norm layer."""
        if self.module is None:
            return None
        return self.module.register_forward_pre_hook(self._pre)

    def _pre(self, module: nn.Module, inputs: tuple) -> None:
        running_mean = getattr(module, "running_mean", None)
        running_var = getattr(module, "running_var", None)
        weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
        with torch.no_grad():
            self._pending = {
                "x": inputs[0].detach(),  # not copied: nothing writes into a layer's input afterwards
                "running": None
                if running_mean is None or running_var is None
                else (running_mean.clone(), running_var.clone()),
                "gamma": None if weight is None else weight.detach().clone(),  # the optimizer updates it in place
                "beta": None if bias is None else bias.detach().clone(),
                "training": module.training,
            }

    def keep(self, step: int) -> None:
        """Make the pass captured since the last `keep` the sample at `step` (nothing if none was captured)."""
        if self._pending is not None:
            self._held, self._pending = {**self._pending, "step": step}, None

    def export(self) -> "dict | None":
        """Return the latest sample in the run-file format (`norm_sample`), or None before the first snapshot."""
        if self._held is None or self.module is None:
            return None
        h, cfg = self._held, self.cfg
        x = h["x"].double()
        n, width = x.shape[0], x.shape[1]
        units = [u for u in self.units if u < width]
        spatial = x.dim() == 4
        pos = (x.shape[2] // 2, x.shape[3] // 2) if spatial else None
        mean, var = _stats(x, cfg.norm, cfg.groups)  # each broadcast to x's shape (mean None for rms)
        ex = slice(0, min(SHOW, n))

        def cells(t: torch.Tensor) -> torch.Tensor:  # the shown values: examples x units (at the centre position)
            t = t[ex][:, units]
            return t[:, :, pos[0], pos[1]] if pos is not None else t

        def affine(p: "torch.Tensor | None") -> "list | None":
            if p is None:
                return None
            p = p.double()
            if p.dim() == 3:  # RMS norm of a cnn: one gamma per value of the map
                return _floats(p[units][:, pos[0], pos[1]]) if pos is not None else None
            return _floats(p[units])

        running = h["running"]
        out: dict[str, Any] = {
            "block": BLOCK,
            "step": h["step"],
            "norm": cfg.norm,
            "axis": AXES[cfg.norm],
            "placement": cfg.placement,
            "batch_size": n,
            "width": width,
            "positions": int(x.shape[2] * x.shape[3]) if spatial else 1,
            "position": list(pos) if pos is not None else None,
            "units": units,
            "groups": cfg.groups if cfg.norm == "group" else None,
            "eps": cfg.eps,
            "momentum": cfg.momentum if cfg.norm == "batch" else None,
            "training": h["training"],
            "x": _floats(cells(x)),
            "mean": None if mean is None else _floats(cells(mean)),
            "var": _floats(cells(var)),
            "gamma": affine(h["gamma"]),
            "beta": affine(h["beta"]),
            "running_mean": None if running is None else _floats(running[0].double()[units]),
            "running_var": None if running is None else _floats(running[1].double()[units]),
        }
        return out


def _stats(x: torch.Tensor, norm: str, groups: int) -> "tuple[torch.Tensor | None, torch.Tensor]":
    """Return (mean, variance) that `norm` normalizes each value of `x` with, broadcast to x's shape.

    Variance is the population one (ddof 0), as every norm layer uses; for RMS norm the "variance" is the
    mean of squares and the mean is None (nothing is subtracted).
    """
    n = x.shape[0]
    if norm == "batch":
        dims = [0] + list(range(2, x.dim()))
    elif norm in ("layer", "rms"):
        dims = list(range(1, x.dim()))
    elif norm == "instance":
        dims = list(range(2, x.dim()))
    else:  # group: the units of each group of each example, with their positions
        g = x.reshape(n, groups, -1)
        m = g.mean(2, keepdim=True)
        v = ((g - m) ** 2).mean(2, keepdim=True)
        return m.expand_as(g).reshape(x.shape), v.expand_as(g).reshape(x.shape)
    if norm == "rms":
        return None, (x * x).mean(dims, keepdim=True).expand_as(x)
    m = x.mean(dims, keepdim=True)
    return m.expand_as(x), ((x - m) ** 2).mean(dims, keepdim=True).expand_as(x)
