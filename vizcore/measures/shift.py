"""Covariate shift, internal and external: four measures on a recorded run or a live trainer.

- `distribution_drift(run, tap)`: how far each layer's recorded distribution moved between
  consecutive snapshots (Wasserstein-1 between histograms, change of mean and std). This is
  "internal covariate shift" as Ioffe & Szegedy describe it: the inputs of a layer keep moving
  because the layers before it keep learning.
- `gradient_shift(trainer, steps)`: Santurkar et al. (2018)'s measure of internal covariate
  shift: how much a layer's gradient changes when only the layers before it take their update.
- `smoothness(trainer, steps=...)`: Santurkar et al.'s Figure 4: how much the loss and its
  gradient change as the weights move along the gradient.
- `shifted_accuracy(trainer, shifts)`: external covariate shift: test accuracy when the test
  inputs are shifted/scaled, with batch norm's running statistics as trained and recomputed
  on the shifted inputs ("precise BN", AdaBN).

The measures on a live trainer never disturb it: they work on deep copies of the model and
optimizer and peek at the next training batch without consuming it. `gradient_shift(t, n)`
and `smoothness(t, steps=n)` leave the trainer exactly where `t.step(n)` would have (same
weights, optimizer state, batch order, noise stream and recorded history). Do not step the
trainer from another thread while they run.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from vizcore.engine.norms import NoisyNorm
from vizcore.engine.training import Trainer

__all__ = [
    "distribution_drift",
    "gradient_shift",
    "hist_support",
    "hist_w1",
    "shifted_accuracy",
    "smoothness",
]


def _num(v: float) -> "float | None":
    """Return `v` as a float, or None if it is not finite (strict JSON, like run files)."""
    v = float(v)
    return v if math.isfinite(v) else None


# ----------------------------------------------------------------------------------------
# 1. Distribution drift between recorded snapshots
# ----------------------------------------------------------------------------------------


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
    return _num(float(np.sum(cdf_gap * np.diff(s))))


def _diff(values: list, i: int) -> "float | None":
    a, b = values[i - 1], values[i]
    if a is None or b is None:
        return None
    return _num(b - a)


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
        w1, dmean, dstd = [], [], []
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


# ----------------------------------------------------------------------------------------
# Helpers for measuring a live trainer without disturbing it
# ----------------------------------------------------------------------------------------


def _peek_batch(trainer: Trainer) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the batch `trainer` will train on next, leaving its batch stream untouched."""
    perm, cursor, state = trainer._perm, trainer._cursor, trainer._order_gen.get_state()
    try:
        return trainer._next_batch()
    finally:
        trainer._perm, trainer._cursor = perm, cursor
        trainer._order_gen.set_state(state)


class _Probe:
    """A deep copy of a trainer's model (and optionally optimizer) to measure on.

    Every forward pass replays the same draw of "noisy BN" noise (the draw the real step
    will use), so differences between passes come from the weights alone. The model is in
    train mode: batch norm normalizes with the batch's own statistics, as in training.
    """

    def __init__(self, trainer: Trainer, with_optimizer: bool = False):
        self.net = copy.deepcopy(trainer.net)
        self.net.train()
        self.params = list(self.net.parameters())
        self.opt: torch.optim.Optimizer | None = None
        if with_optimizer:
            opt = trainer.opt
            self.opt = type(opt)(self.params, **opt.defaults)
            # load_state_dict keeps the very tensors it is given (momentum, Adam moments):
            # copy them, or this optimizer's step would update the trainer's in place.
            self.opt.load_state_dict(copy.deepcopy(opt.state_dict()))
        gens = {id(m.generator): m.generator for m in self.net.modules() if isinstance(m, NoisyNorm)}
        self._noise = [(g, g.get_state()) for g in gens.values()]

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        for g, state in self._noise:
            g.set_state(state)
        return F.cross_entropy(self.net(x), y)

    def grads(self, loss: torch.Tensor, params: "list[nn.Parameter] | None" = None) -> list[torch.Tensor]:
        params = self.params if params is None else params
        gs = torch.autograd.grad(loss, params, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g for p, g in zip(params, gs)]

    def load(self, tensors: list[torch.Tensor]) -> None:
        with torch.no_grad():
            for p, t in zip(self.params, tensors):
                p.copy_(t)


def _drive(trainer: Trainer, steps: int, every: int, measure: Callable[[int], None]) -> None:
    """Train `trainer` for up to `steps` steps via `trainer.step`, calling `measure(t)` before
    every step t with t % every == 0 (t counts the trainer's updates so far)."""
    if every < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    end = trainer.steps_done + max(0, int(steps))
    while trainer.steps_done < end and not trainer.done:
        t = trainer.steps_done
        if t % every == 0:
            measure(t)
            n = 1
        else:
            n = min(end, (t // every + 1) * every) - t
        if trainer.step(n) == 0:
            break


def _flat_norm(ts: list[torch.Tensor]) -> float:
    return math.sqrt(sum(float(t.double().pow(2).sum()) for t in ts))


# ----------------------------------------------------------------------------------------
# 2. Santurkar et al.'s internal covariate shift: ||G - G'||
# ----------------------------------------------------------------------------------------


def gradient_shift(trainer: Trainer, steps: int, every: int = 10) -> dict[str, Any]:
    """Train `trainer` for `steps` more steps, measuring Santurkar et al.'s internal covariate shift.

    Before every step t with t % every == 0 (t = updates done so far), on the batch that
    step trains on, for each block i:

    - G_i: the gradient of the loss w.r.t. block i's Linear/Conv weight at the current weights;
    - G'_i: the same gradient after blocks 1..i-1 (all their parameters, norm affine included)
      have taken the update the optimizer makes at this step, block i onwards and the head
      unchanged (Santurkar et al. 2018, Definition 2.1).

    The update is the real one (the optimizer's step from the full gradient, momentum and Adam
    state included), computed on deep copies, so the run itself is not disturbed: afterwards
    the trainer is exactly where `trainer.step(steps)` would have left it. "Noisy BN" noise is
    the same draw in both passes, and batch norm uses batch statistics (train mode).
    Block 1 has no earlier layers: G' = G by definition (l2 0, cos 1).

    Returns `{"steps": [...], "layers": [{"name", "l2", "cos", "grad_norm"}]}` with, per
    measured step, `l2` = ||G - G'||, `cos` = cosine(G, G') and `grad_norm` = ||G|| (to read
    l2 against). Values are None where the loss or a gradient is not finite (or cos of a zero
    gradient). Fewer steps are trained (and measured) if the run ends first.
    """
    names = [f"block{i + 1}" for i in range(len(trainer.net.blocks))]
    res_steps: list[int] = []
    l2s: list[list] = [[] for _ in names]
    coss: list[list] = [[] for _ in names]
    norms: list[list] = [[] for _ in names]

    def measure(t: int) -> None:
        res_steps.append(t)
        values = _gradient_shift_at(trainer)
        for i, (l2, cos, gn) in enumerate(values):
            l2s[i].append(l2)
            coss[i].append(cos)
            norms[i].append(gn)

    _drive(trainer, steps, every, measure)
    layers = [{"name": name, "l2": l2s[i], "cos": coss[i], "grad_norm": norms[i]} for i, name in enumerate(names)]
    return {"steps": res_steps, "layers": layers}


def _gradient_shift_at(trainer: Trainer) -> list[tuple]:
    """Return [(l2, cos, ||G||)] per block for the trainer's next step (no side effects)."""
    depth = len(trainer.net.blocks)
    x, y = _peek_batch(trainer)
    probe = _Probe(trainer, with_optimizer=True)
    net, params = probe.net, probe.params
    owner = {id(p): i for i, b in enumerate(net.blocks) for p in b.parameters()}  # head: absent
    weights = [b.linear.weight for b in net.blocks]
    index = {id(p): j for j, p in enumerate(params)}
    nothing = [(None, None, None)] * depth
    with torch.enable_grad():
        loss = probe.loss(x, y)
        if not math.isfinite(loss.item()):
            return nothing
        grads = probe.grads(loss)
        old = [p.detach().clone() for p in params]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        probe.opt.step()
        new = [p.detach().clone() for p in params]
        out = []
        for i in range(depth):
            g = grads[index[id(weights[i])]].double()
            gn = _num(g.norm())
            if gn is None:
                out.append((None, None, None))
                continue
            if i == 0:
                out.append((0.0, 1.0 if gn > 0 else None, gn))
                continue
            probe.load([new[j] if owner.get(id(p), depth) < i else old[j] for j, p in enumerate(params)])
            loss_i = probe.loss(x, y)
            g2 = probe.grads(loss_i, [weights[i]])[0].double()
            l2 = _num((g - g2).norm())
            n2 = float(g2.norm())
            cos = _num(torch.dot(g.flatten(), g2.flatten()) / (gn * n2)) if gn > 0 and n2 > 0 else None
            out.append((l2, None if cos is None else max(-1.0, min(1.0, cos)), gn))
    return out


# ----------------------------------------------------------------------------------------
# 3. Santurkar et al.'s Figure 4: loss and gradient along the gradient direction
# ----------------------------------------------------------------------------------------


def smoothness(
    trainer: Trainer,
    step_sizes: Sequence[float] = (0.05, 0.1, 0.2, 0.4),
    every: int = 10,
    *,
    steps: int,
) -> dict[str, Any]:
    """Train `trainer` for `steps` more steps, measuring how smooth the loss is along the gradient.

    Before every step t with t % every == 0, on the batch that step trains on, with W the
    current weights (all parameters) and g the gradient of the loss there, for each step
    size eta in `step_sizes`: the loss at W - eta * g and the gradient change
    ||g(W - eta * g) - g(W)||. Eta is absolute (in weight units along the raw gradient, as
    Santurkar et al.'s range [0.05, 0.4]), not a multiple of the learning rate: with the
    default lr 0.1 the default sizes are 0.5x to 4x a plain SGD step. Batch norm uses batch
    statistics (train mode); "noisy BN" noise is the same draw at every point. Computed on a
    deep copy: afterwards the trainer is exactly where `trainer.step(steps)` would have left it.

    Returns, aligned with `steps` (the measured steps):
    `{"steps", "step_sizes", "loss": loss at W, "loss_at": [[loss per eta]],
    "grad_change": [[||g(W - eta g) - g(W)|| per eta]], "loss_range": max - min of loss_at,
    "grad_change_max": max of grad_change, "beta": max over eta of grad change / (eta ||g||)}`
    (`beta` is the "effective beta-smoothness" of their Figure 4c). None where not finite.
    """
    sizes = [float(s) for s in step_sizes]
    if not sizes or any(not (math.isfinite(s) and s > 0) for s in sizes):
        raise ValueError(f"step sizes must be positive numbers, got {list(step_sizes)!r}")
    out: dict[str, Any] = {
        "steps": [],
        "step_sizes": sizes,
        "loss": [],
        "loss_at": [],
        "grad_change": [],
        "loss_range": [],
        "grad_change_max": [],
        "beta": [],
    }

    def measure(t: int) -> None:
        loss0, losses, changes, beta = _smoothness_at(trainer, sizes)
        ok_l = [v for v in losses if v is not None]
        ok_c = [v for v in changes if v is not None]
        full_l, full_c = len(ok_l) == len(sizes), len(ok_c) == len(sizes)
        out["steps"].append(t)
        out["loss"].append(loss0)
        out["loss_at"].append(losses)
        out["grad_change"].append(changes)
        out["loss_range"].append(_num(max(ok_l) - min(ok_l)) if full_l else None)
        out["grad_change_max"].append(max(ok_c) if full_c else None)
        out["beta"].append(beta)

    _drive(trainer, steps, every, measure)
    return out


def _smoothness_at(trainer: Trainer, sizes: list[float]) -> tuple:
    """Return (loss at W, [loss per eta], [gradient change per eta], beta) for the next step."""
    x, y = _peek_batch(trainer)
    probe = _Probe(trainer)
    none = [None] * len(sizes)
    with torch.enable_grad():
        loss = probe.loss(x, y)
        loss0 = _num(loss.item())
        if loss0 is None:
            return None, none, none, None
        g = [t.detach() for t in probe.grads(loss)]
        gnorm = _flat_norm(g)
        if not math.isfinite(gnorm):
            return loss0, none, none, None
        w = [p.detach().clone() for p in probe.params]
        losses, changes, ratios = [], [], []
        for eta in sizes:
            probe.load([wi - eta * gi for wi, gi in zip(w, g)])
            le = probe.loss(x, y)
            losses.append(_num(le.item()))
            if losses[-1] is None:
                changes.append(None)
                ratios.append(None)
                continue
            ge = probe.grads(le)
            change = _num(_flat_norm([a.detach() - b for a, b in zip(ge, g)]))
            changes.append(change)
            ratios.append(change / (eta * gnorm) if change is not None and gnorm > 0 else None)
    beta = max(ratios) if ratios and all(r is not None for r in ratios) else None
    return loss0, losses, changes, beta


# ----------------------------------------------------------------------------------------
# 4. External covariate shift: shifted test inputs, running vs recomputed BN statistics
# ----------------------------------------------------------------------------------------


def _batch_norms(net: nn.Module) -> list[_BatchNorm]:
    return [m for m in net.modules() if isinstance(m, _BatchNorm)]


def _recomputed_accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Return the accuracy of a copy of `net` whose batch-norm statistics are recomputed on `x`."""
    net = copy.deepcopy(net)
    net.eval()  # noisy-BN noise off; only the batch norms themselves go to train mode
    for bn in _batch_norms(net):
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: one pass over all of x gives x's exact statistics
        bn.train()
    with torch.no_grad():
        net(x)
        net.eval()
        logits = net(x)
    return float((logits.argmax(1) == y).float().mean())


def shifted_accuracy(
    trainer: Trainer, shifts: Sequence[float], scales: "Sequence[float] | None" = None
) -> dict[str, Any]:
    """Return test accuracy under external covariate shift: test inputs x become x * scale + shift.

    Every shift is combined with every scale (`scales` None means scale 1 only); `x` is the
    trainer's test inputs as it holds them (already standardized, and including the run's
    own `config.shift`/`config.scale`). For each pair:

    - `running`: the model as it is, in eval mode (batch norm uses its running statistics),
      exactly `trainer.evaluate`;
    - `recomputed`: for models with batch norm, a copy whose running statistics are
      recomputed on the shifted test inputs ("precise BN"/AdaBN: reset, cumulative average
      over one pass in train mode under no_grad, then eval). None for models without batch
      norm: layer/group/instance/RMS norm normalize each example by itself.

    Returns `{"shift": [...], "scale": [...], "running": [...], "recomputed": [...] or None}`,
    flat lists with one entry per (shift, scale) pair, shift-major. The trainer (weights,
    batch-norm buffers, mode) is left unchanged.
    """
    scales = [1.0] if scales is None else [float(s) for s in scales]
    x, y = trainer.data.x_test, trainer.data.y_test
    has_bn = bool(_batch_norms(trainer.net))
    out: dict[str, Any] = {"shift": [], "scale": [], "running": [], "recomputed": [] if has_bn else None}
    for shift in shifts:
        for scale in scales:
            xs = x * scale + float(shift)
            out["shift"].append(float(shift))
            out["scale"].append(scale)
            out["running"].append(trainer.evaluate(xs, y)[1])
            if has_bn:
                out["recomputed"].append(_recomputed_accuracy(trainer.net, xs, y))
    return out
