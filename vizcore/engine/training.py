"""Trainer: advances a run in chunks, records it, and exports it as a run file.

`step(n)` may be called any number of times: step(7) then step(13) gives exactly
the numbers of step(20). A background thread can drive it while another thread
calls `export()`; the shared history is only touched under the trainer's lock.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F

from vizcore import __version__
from vizcore.engine import data
from vizcore.engine.config import RunConfig
from vizcore.engine.models import build, eval_mode
from vizcore.engine.norms import NoisyNorm
from vizcore.engine.recording import Recorder
from vizcore.engine.runfile import FORMAT

CURVE_CAP_FACTOR = 4  # curves hold up to 4 x max_snapshots points (they are scalars)
BOUNDARY_POINTS = 300  # training points drawn on a decision boundary: the classes' shapes, ~6 KB of JSON


def _optimizer(cfg: RunConfig, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr)
    if cfg.optimizer == "momentum":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9)
    return torch.optim.Adam(params, lr=cfg.lr)


class Curves:
    """Bounded training curves: train metrics summed over windows, test metrics at points."""

    def __init__(self, cap: int, stride: int):
        self.cap, self.stride = cap, stride
        self.step = np.zeros(cap, dtype=np.int64)
        self.sums = np.zeros((cap, 3))  # train loss sum, correct count, examples
        self.test = np.full((cap, 2), np.nan)  # test loss, test accuracy
        self.count = 0
        self.window = np.zeros(3)  # train sums since the last point

    def add_batch(self, loss_sum: float, correct: float, n: int) -> None:
        """Add one training batch to the open window."""
        self.window += (loss_sum, correct, n)

    def due(self, step: int) -> bool:
        """Return True if a point (with a test evaluation) belongs at `step`."""
        return step % self.stride == 0

    def add_point(self, step: int, test_loss: float, test_acc: float) -> None:
        """Close the window at `step` with the test metrics measured there."""
        if self.count == self.cap:
            self._thin()
        self.step[self.count] = step
        self.sums[self.count] = self.window
        self.test[self.count] = (test_loss, test_acc)
        self.window = np.zeros(3)
        self.count += 1

    def _thin(self) -> None:
        # Keep points on the doubled stride; a dropped point's window joins the
        # next kept point (or the open window), so every training batch still counts.
        keep = self.step[: self.count] % (2 * self.stride) == 0
        sums, carry, out = [], np.zeros(3), []
        for i in range(self.count):
            carry = carry + self.sums[i]
            if keep[i]:
                sums.append(carry)
                out.append(i)
                carry = np.zeros(3)
        n = len(out)
        self.step[:n] = self.step[out]
        self.test[:n] = self.test[out]
        self.sums[:n] = sums
        self.window = self.window + carry
        self.count, self.stride = n, self.stride * 2

    def export(self, now: int | None = None) -> dict[str, list]:
        """Return the curves as JSON-ready lists aligned with `step`.

        With `now` (the steps done), batches trained since the last point end the curves as one
        more point at `now`, without test values: a live run's curves grow with every step.
        """
        n = self.count
        sums, steps, test = self.sums[:n], self.step[:n], self.test[:n]
        if now is not None and self.window[2] and (n == 0 or now > self.step[n - 1]):
            sums, steps = np.vstack([sums, self.window]), np.append(steps, now)
            test = np.vstack([test, np.full(2, np.nan)])
        with np.errstate(invalid="ignore", divide="ignore"):
            loss = sums[:, 0] / sums[:, 2]
            acc = sums[:, 1] / sums[:, 2]

        def f(a: np.ndarray) -> list:
            return [float(v) if math.isfinite(v) else None for v in a.tolist()]

        return {
            "step": steps.tolist(),
            "train_loss": f(loss),
            "train_acc": f(acc),
            "test_loss": f(test[:, 0]),
            "test_acc": f(test[:, 1]),
        }


class Trainer:
    """One run: a model, its data, its optimizer and its recorded history."""

    def __init__(self, cfg: RunConfig):
        self.cfg = cfg
        self.data = data.for_config(cfg)
        self._init_gen = torch.Generator().manual_seed(cfg.seed)
        # A separate stream for batch order: runs that differ only in architecture
        # see the same batches in the same order.
        self._order_gen = torch.Generator().manual_seed(cfg.seed + 1_000_003)
        self.net = build(cfg, self.data.input_shape, self.data.n_classes, self._init_gen)
        self.opt = _optimizer(cfg, self.net.parameters())
        self.recorder = Recorder(self.net, cfg)
        self.probe_x = self._draw_probe()
        self.curves = Curves(CURVE_CAP_FACTOR * cfg.max_snapshots, cfg.eval_every)
        self.steps_done = 0
        self.status = "ready"  # ready -> running -> completed | diverged | stopped
        self.diverged_at: int | None = None
        self.elapsed = 0.0  # seconds spent inside step()
        # also a snapshot every `dense` steps (True or 1: every step) for a class stepping or watching a
        # slow pace; 0: the recorder's own cadence alone. Bounded as ever
        self.dense: int = 0
        self._perm = torch.empty(0, dtype=torch.int64)
        self._cursor = 0
        self._lock = threading.Lock()
        self._grid_lock = threading.Lock()  # decision_grid toggles eval()/train(): one caller at a time
        self._points = boundary_points(self.data) if self.data.input_shape == (2,) else None
        self._layers_export: tuple[tuple[int, int], list, Any] | None = None  # (frames, layers, norm_sample)
        self._weights = [b.linear.weight for b in self.net.blocks]
        self._before = [torch.empty_like(w, requires_grad=False) for w in self._weights]  # weights before a step
        self._eval_point()

    def _draw_probe(self) -> "torch.Tensor | None":
        """Return the run's probe set: `probe_size` training examples drawn once from the seed, or None."""
        n_train = self.data.x_train.shape[0]
        n = min(self.cfg.probe_size, n_train)
        if n == 0:
            return None
        # Its own stream: drawing the probe consumes nothing the training draws from.
        gen = torch.Generator().manual_seed(self.cfg.seed + 2_000_003)
        return self.data.x_train[torch.randperm(n_train, generator=gen)[:n]]

    def _measure_probe(self) -> None:
        """Capture every tap on the probe set at the current weights, leaving the run as if it never happened.

        Train mode, so every norm normalizes the probe with the probe's own statistics; running
        averages and noise generators are restored afterwards, so the training batches see exactly
        what they would without a probe. A noisy norm's probe pass draws the same noise as this
        step's training pass.
        """
        assert self.probe_x is not None
        buffers = [b.clone() for b in self.net.buffers()]
        gens = {
            id(m.generator): (m.generator, m.generator.get_state())
            for m in self.net.modules()
            if isinstance(m, NoisyNorm)
        }
        with torch.no_grad(), self.recorder.capture(probe=True):
            self.net(self.probe_x)
        with torch.no_grad():
            for b, saved in zip(self.net.buffers(), buffers, strict=True):
                b.copy_(saved)
        for gen, state in gens.values():
            gen.set_state(state)

    @property
    def done(self) -> bool:
        """Return True once the run has completed, diverged or been stopped."""
        return self.status in ("completed", "diverged", "stopped")

    def _batch_index(self, consume: bool) -> torch.Tensor:
        b, n = self.cfg.batch_size, self.data.x_train.shape[0]
        perm, cursor = self._perm, self._cursor
        if cursor + b > perm.numel():  # new epoch; the short tail is dropped
            gen = self._order_gen
            if not consume:  # draw from a copy of the stream: a peek must not advance it
                gen = torch.Generator()
                gen.set_state(self._order_gen.get_state())
            perm, cursor = torch.randperm(n, generator=gen), 0
        if consume:
            self._perm, self._cursor = perm, cursor + b
        return perm[cursor : cursor + b]

    def _next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self._batch_index(consume=True)
        return self.data.x_train[idx], self.data.y_train[idx]

    def peek_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the batch the next step will train on, without consuming it (the batch order is untouched)."""
        idx = self._batch_index(consume=False)
        return self.data.x_train[idx], self.data.y_train[idx]

    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        """Return (mean loss, accuracy) of the model in eval mode on (x, y)."""
        with eval_mode(self.net), torch.no_grad():
            logits = self.net(x)
            loss = F.cross_entropy(logits, y)
            acc = (logits.argmax(1) == y).float().mean()
        return float(loss), float(acc)

    def _eval_point(self) -> None:
        loss, acc = self.evaluate(self.data.x_test, self.data.y_test)
        with self._lock:
            self.curves.add_point(self.steps_done, loss, acc)

    def step(self, n: int = 1) -> int:
        """Advance up to `n` steps (fewer if the run ends); return the number done."""
        if self.done or n <= 0:
            return 0
        if torch.get_num_threads() != 1:
            torch.set_num_threads(1)  # one core per run: concurrent runs scale, results reproduce
        self.status = "running"
        self.net.train()
        t0, done = time.perf_counter(), 0
        try:
            while done < n and not self.done:
                self._one_step()
                done += 1
        finally:
            self.elapsed += time.perf_counter() - t0
        return done

    def _one_step(self) -> None:
        t = self.steps_done
        x, y = self._next_batch()
        snapshot = self.recorder.due(t) or (self.dense > 0 and t % self.dense == 0)
        if snapshot and self.probe_x is not None:
            self._measure_probe()
        if snapshot:
            with self.recorder.capture():
                logits = self.net(x)
        else:
            logits = self.net(x)
        loss = F.cross_entropy(logits, y)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            # Keep the activations that blew up (no gradients exist for this step).
            with self._lock:
                if snapshot or self.recorder.pending:
                    self.recorder.commit(t, None)
                self.diverged_at = t
            self._finish("diverged")
            return
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if snapshot:
            with torch.no_grad():  # ‖grad‖ and ‖W‖ per block, and W kept in buffers for ‖ΔW‖
                grads = cast("list[torch.Tensor]", [w.grad for w in self._weights])  # backward() gave each one
                norms = torch._foreach_norm(grads + self._weights)
                torch._foreach_copy_(self._before, self._weights)
        self.opt.step()
        correct = (logits.argmax(1) == y).sum().item()
        if snapshot:
            with torch.no_grad():
                torch._foreach_sub_(self._before, self._weights)  # W before - W after = -ΔW
                norms += torch._foreach_norm(self._before)
            g, w, d = torch.stack(norms).double().numpy().reshape(3, -1)
            stats = np.column_stack([g, w, d / w])
            with self._lock:
                self.recorder.commit(t, stats)
        with self._lock:  # an export sees the step and its batch in the curves together
            self.steps_done = t + 1
            self.curves.add_batch(loss_value * y.numel(), correct, y.numel())
        if self.steps_done == self.cfg.steps:
            self._finish("completed")
        elif self.curves.due(self.steps_done):
            self._eval_point()

    def stop(self) -> None:
        """End the run early (status `stopped`); what was recorded is kept."""
        if not self.done:
            self._finish("stopped")

    def _finish(self, status: str) -> None:
        if self.curves.window[2]:  # batches trained since the last point
            self._eval_point()
        self.status = status

    def run(self, chunk: int = 100, callback: "Callable[[Trainer], Any] | None" = None) -> dict:
        """Train to the end in chunks, calling `callback(self)` after each; return the run dict."""
        while not self.done:
            self.step(chunk)
            if callback is not None:
                callback(self)
        return self.export()

    def decision_grid(self, n: int = 60, margin: float = 0.5) -> "dict | None":
        """Return class-1 probabilities on an n x n grid over the 2-D data, or None for image data."""
        if self.data.input_shape != (2,):
            return None
        x = torch.cat([self.data.x_train, self.data.x_test])
        lo, hi = (x.min(0).values - margin).tolist(), (x.max(0).values + margin).tolist()
        gx, gy = torch.linspace(lo[0], hi[0], n), torch.linspace(lo[1], hi[1], n)
        xx, yy = torch.meshgrid(gx, gy, indexing="xy")
        # One thread at a time: a finished job's worker and a page exporting the run may both ask
        # for the grid, and two interleaved eval()/train() toggles once left batch norm in train
        # mode for one of them (a different boundary; found by test_jobs in CI).
        with self._grid_lock, eval_mode(self.net), torch.no_grad():
            p = torch.softmax(self.net(torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)), 1)[:, 1]
        prob = p.view(n, n).numpy()
        return {
            "x": [round(v, 5) for v in gx.tolist()],
            "y": [round(v, 5) for v in gy.tolist()],
            "prob": [[round(float(v), 4) if math.isfinite(v) else None for v in r] for r in prob.tolist()],
            "points": self._points,
        }

    def export(self) -> dict:
        """Return the run as a JSON-ready dict in the run-file format (a copy; safe from any thread).

        Exports between two snapshots share one `layers` list (and `norm_sample`), exported once:
        a live page exports at every poll, and its charts of the layers are built once per snapshot.
        Treat them as read-only.
        """
        with self._lock:
            curves = self.curves.export(now=self.steps_done)
            frames = (self.recorder.count, self.recorder.stride)  # a commit or a thinning changes it
            if self._layers_export is None or self._layers_export[0] != frames:
                sampler = self.recorder.sampler
                self._layers_export = (
                    frames,
                    self.recorder.export(),
                    sampler.export() if sampler is not None else None,
                )
            _, layers, sample = self._layers_export
            status, steps_done = self.status, self.steps_done
        run: dict[str, Any] = {
            "format": FORMAT,
            "config": self.cfg.to_dict(),
            "status": status,
            "steps_done": steps_done,
            "diverged_at": self.diverged_at,
            "elapsed_s": round(self.elapsed, 4),
            "meta": {
                "vizcore": __version__,
                "torch": torch.__version__,
                "n_train": int(self.data.x_train.shape[0]),
                "n_test": int(self.data.x_test.shape[0]),
                "n_params": sum(p.numel() for p in self.net.parameters()),
                "saturation_rule": self.recorder.activation.saturation_rule,
            },
            "curves": curves,
            "layers": layers,
            "norm_sample": sample,
        }
        if self.done:
            run["boundary"] = self.decision_grid()
        return run


def boundary_points(d: data.Dataset, n: int = BOUNDARY_POINTS) -> dict[str, list]:
    """Return the first `n` training points of a 2-D dataset and their labels, rounded: what the boundary separates.

    The first `n` of the split are a random sample of it (the split is shuffled, stratified by class).
    """
    xy = d.x_train[:n].tolist()
    return {"x": [round(p[0], 3) for p in xy], "y": [round(p[1], 3) for p in xy], "label": d.y_train[:n].tolist()}


def train(cfg: RunConfig | None = None, **changes: Any) -> dict:
    """Return the finished run dict for `cfg` (default config) with `changes` applied."""
    cfg = (cfg or RunConfig()).replace(**changes) if changes else (cfg or RunConfig())
    return Trainer(cfg).run()
