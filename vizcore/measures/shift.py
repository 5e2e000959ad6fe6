"""Covariate shift measured on a live Trainer (torch): gradient shift, smoothness, shifted test inputs.

- `gradient_shift(trainer, steps)`: Santurkar et al. (2018)'s measure of internal covariate
  shift: how much a layer's gradient changes when only the layers before it take their update.
- `smoothness(trainer, steps=...)`: Santurkar et al.'s Figure 4: how much the loss and its
  gradient change as the weights move along the gradient.
- `unit_stats` and `input_shift`: how far each layer's input distribution moves in one step,
  in units of its own spread (Ioffe & Szegedy's internal covariate shift, measured live).
- `shifted_accuracy(trainer, shifts)`: external covariate shift: test accuracy when the test
  inputs are shifted/scaled, with batch norm's running statistics as trained and recomputed
  on the shifted inputs ("precise BN", `measures.batch.recompute_bn_stats`).

The drift between a recorded run's snapshots, which needs no trainer, is `measures.drift`.

These measures never disturb the trainer: they work on deep copies of the model and optimizer
and read the next training batch with `Trainer.peek_batch`, which does not consume it.
`gradient_shift(t, n)` and `smoothness(t, steps=n)` leave the trainer exactly where `t.step(n)`
would have (same weights, optimizer state, batch order, noise stream and recorded history). Do
not step the trainer from another thread while they run.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vizcore.engine.norms import NoisyNorm
from vizcore.engine.training import Trainer
from vizcore.measures.batch import accuracy, has_batch_norm, recompute_bn_stats
from vizcore.measures.drift import finite_or_none

__all__ = ["gradient_shift", "input_shift", "shifted_accuracy", "smoothness", "unit_stats"]


# ----------------------------------------------------------------------------------------
# Helpers for measuring a live trainer without disturbing it
# ----------------------------------------------------------------------------------------


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

    def grads(self, loss: torch.Tensor, params: "Sequence[torch.Tensor] | None" = None) -> list[torch.Tensor]:
        wrt: Sequence[torch.Tensor] = self.params if params is None else params
        gs = torch.autograd.grad(loss, wrt, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g for p, g in zip(wrt, gs)]

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
# 1. Santurkar et al.'s internal covariate shift: ||G - G'||
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


Shift = tuple["float | None", "float | None", "float | None"]  # (l2, cos, ||G||) of one block


def _gradient_shift_at(trainer: Trainer) -> list[Shift]:
    """Return [(l2, cos, ||G||)] per block for the trainer's next step (no side effects)."""
    depth = len(trainer.net.blocks)
    x, y = trainer.peek_batch()
    probe = _Probe(trainer, with_optimizer=True)
    net, params, opt = probe.net, probe.params, probe.opt
    assert opt is not None  # asked for with_optimizer
    owner = {id(p): i for i, b in enumerate(net.blocks) for p in b.parameters()}  # head: absent
    weights = [b.linear.weight for b in net.blocks]
    index = {id(p): j for j, p in enumerate(params)}
    nothing: list[Shift] = [(None, None, None)] * depth
    with torch.enable_grad():
        loss = probe.loss(x, y)
        if not math.isfinite(loss.item()):
            return nothing
        grads = probe.grads(loss)
        old = [p.detach().clone() for p in params]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        opt.step()
        new = [p.detach().clone() for p in params]
        out: list[Shift] = []
        for i in range(depth):
            g = grads[index[id(weights[i])]].double()
            gn = finite_or_none(g.norm())
            if gn is None:
                out.append((None, None, None))
                continue
            if i == 0:
                out.append((0.0, 1.0 if gn > 0 else None, gn))
                continue
            probe.load([new[j] if owner.get(id(p), depth) < i else old[j] for j, p in enumerate(params)])
            loss_i = probe.loss(x, y)
            g2 = probe.grads(loss_i, [weights[i]])[0].double()
            l2 = finite_or_none((g - g2).norm())
            n2 = float(g2.norm())
            cos = finite_or_none(torch.dot(g.flatten(), g2.flatten()) / (gn * n2)) if gn > 0 and n2 > 0 else None
            out.append((l2, None if cos is None else max(-1.0, min(1.0, cos)), gn))
    return out


# ----------------------------------------------------------------------------------------
# 2. Santurkar et al.'s Figure 4: loss and gradient along the gradient direction
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
        out["loss_range"].append(finite_or_none(max(ok_l) - min(ok_l)) if full_l else None)
        out["grad_change_max"].append(max(ok_c) if full_c else None)
        out["beta"].append(beta)

    _drive(trainer, steps, every, measure)
    return out


def _smoothness_at(trainer: Trainer, sizes: list[float]) -> tuple:
    """Return (loss at W, [loss per eta], [gradient change per eta], beta) for the next step."""
    x, y = trainer.peek_batch()
    probe = _Probe(trainer)
    none = [None] * len(sizes)
    with torch.enable_grad():
        loss = probe.loss(x, y)
        loss0 = finite_or_none(loss.item())
        if loss0 is None:
            return None, none, none, None
        g = [t.detach() for t in probe.grads(loss)]
        gnorm = _flat_norm(g)
        if not math.isfinite(gnorm):
            return loss0, none, none, None
        w = [p.detach().clone() for p in probe.params]
        losses: list[float | None] = []
        changes: list[float | None] = []
        ratios: list[float | None] = []
        for eta in sizes:
            probe.load([wi - eta * gi for wi, gi in zip(w, g)])
            le = probe.loss(x, y)
            losses.append(finite_or_none(le.item()))
            if losses[-1] is None:
                changes.append(None)
                ratios.append(None)
                continue
            ge = probe.grads(le)
            change = finite_or_none(_flat_norm([a.detach() - b for a, b in zip(ge, g)]))
            changes.append(change)
            ratios.append(change / (eta * gnorm) if change is not None and gnorm > 0 else None)
    ok = [r for r in ratios if r is not None]
    beta = max(ok) if ok and len(ok) == len(ratios) else None
    return loss0, losses, changes, beta


# ----------------------------------------------------------------------------------------
# 3. Ioffe & Szegedy's internal covariate shift, live: per-unit input statistics one step apart
# ----------------------------------------------------------------------------------------


def unit_stats(trainer: Trainer, x: torch.Tensor) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return, per block, the per-unit (mean, std) over batch `x` of the activation's input.

    That is what the non-linearity sees: the norm output (noise included) with placement
    "before", the Linear/Conv output without a norm. Computed on a deep copy in train mode
    (batch statistics, and the noise draw the trainer's next step will use), so the trainer
    is not disturbed. Convolution channels pool over positions, as batch norm does.
    """
    net = copy.deepcopy(trainer.net)
    net.train()
    seen: list[torch.Tensor] = []
    hooks = [b.act.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].detach().clone())) for b in net.blocks]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in hooks:
            h.remove()
    out = []
    for t in seen:
        flat = t.double().transpose(0, 1).reshape(t.shape[1], -1)  # (C, N * positions)
        out.append((flat.mean(1).numpy(), flat.std(1, unbiased=False).numpy()))
    return out


def input_shift(
    before: list[tuple[np.ndarray, np.ndarray]], after: list[tuple[np.ndarray, np.ndarray]]
) -> list[float | None]:
    """Return, per block, the mean over units of |change of the unit's mean| / its std before.

    Both arguments come from `unit_stats` on the same batch, one training step apart: the
    result is how far each layer's input distribution moved in one step, in units of its
    own spread (Ioffe & Szegedy's internal covariate shift, noise included). Units with
    (near) zero spread are left out; None if no unit is left or a value is not finite.
    """
    out: list[float | None] = []
    for (m0, s0), (m1, _) in zip(before, after):
        ok = s0 > 1e-8
        v = float(np.mean(np.abs(m1[ok] - m0[ok]) / s0[ok])) if ok.any() else math.nan
        out.append(v if math.isfinite(v) else None)
    return out


# ----------------------------------------------------------------------------------------
# 4. External covariate shift: shifted test inputs, running vs recomputed BN statistics
# ----------------------------------------------------------------------------------------


def shifted_accuracy(
    trainer: Trainer, shifts: Sequence[float], scales: "Sequence[float] | None" = None
) -> dict[str, Any]:
    """Return test accuracy under external covariate shift: test inputs x become x * scale + shift.

    Every shift is combined with every scale (`scales` None means scale 1 only); `x` is the
    trainer's test inputs as it holds them (already standardized, and including the run's
    own `config.shift`/`config.scale`). For each pair:

    - `running`: the model as it is, in eval mode (batch norm uses its running statistics),
      exactly `trainer.evaluate`;
    - `recomputed`: for models with batch norm, the accuracy of a copy whose statistics are
      recomputed on the shifted test inputs ("precise BN"/AdaBN: `recompute_bn_stats`, each
      layer's exact mean and variance over all of them). None for models without batch norm:
      layer/group/instance/RMS norm normalize each example by itself.

    Returns `{"shift": [...], "scale": [...], "running": [...], "recomputed": [...] or None}`,
    flat lists with one entry per (shift, scale) pair, shift-major. The trainer (weights,
    batch-norm buffers, mode) is left unchanged.
    """
    scales = [1.0] if scales is None else [float(s) for s in scales]
    x, y = trainer.data.x_test, trainer.data.y_test
    recomputed: list[float] | None = [] if has_batch_norm(trainer.net) else None
    out: dict[str, Any] = {"shift": [], "scale": [], "running": [], "recomputed": recomputed}
    for shift in shifts:
        for scale in scales:
            xs = x * scale + float(shift)
            out["shift"].append(float(shift))
            out["scale"].append(scale)
            out["running"].append(trainer.evaluate(xs, y)[1])
            if recomputed is not None:
                recomputed.append(accuracy(recompute_bn_stats(trainer, xs), xs, y))
    return out
