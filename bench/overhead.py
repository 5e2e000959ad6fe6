"""Recording overhead: the cost of `Trainer.step` against a bare PyTorch loop.

Every variant trains the same network (default config: digits, mlp depth 4, width
64, batch norm, batch 64, SGD) from the same initial weights on the same batches
in the same order for the same number of steps; only the recording differs:

- bare loop: forward, cross_entropy, zero_grad, backward, step, nothing else. A
  Trainer is built only to get the identical net, optimizer and batches.
- trainer default: `Trainer.step` with the default cadence (every=20, eval_every=50).
- trainer every step: every=1, max_snapshots=steps (so no thinning: every step
  really records) and eval_every=steps (one test pass, so evaluation does not
  dominate).
- trainer every=1, cap 256: every=1 with the default max_snapshots, as a user
  would set it: the history thins 2:1 when full, so later steps record less often.
- tensorboard every step: the bare loop plus forward hooks that call
  `SummaryWriter.add_histogram` on every block's three taps at every step, writing
  to a temporary directory (skipped when tensorboard is not installed).

Variants run interleaved, in alternating order, for several rounds; each row
reports its median wall time and its ratio to the bare loop's median; the note
adds the spread of the per-round ratios and the ratio of median CPU times (process
time, all threads), which a busy machine disturbs far less. Nothing asserts.
"""

from __future__ import annotations

import gc
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vizcore import RunConfig, Trainer
from vizcore.engine.recording import TAPS

from . import Row, single_thread

TB_SKIPPED = "skipped (pip install tensorboard)"


@dataclass(frozen=True)
class Variant:
    """A way of training `steps` steps; `prepare(steps)` builds it and returns (timed run, cleanup)."""

    name: str
    note: str
    aim: str
    prepare: Callable[[int], tuple[Callable[[], Trainer], Callable[[], None]]]


def default_config(steps: int) -> RunConfig:
    """Return the default run config, `steps` long."""
    return RunConfig(steps=steps)


def every_step_config(steps: int) -> RunConfig:
    """Return the default config recording every step with no thinning and one test pass at the end."""
    return RunConfig(steps=steps, every=1, eval_every=steps, max_snapshots=min(max(steps, 8), 4096))


def thinned_config(steps: int) -> RunConfig:
    """Return the default config with every=1 and the default history cap (it thins), one test pass."""
    return RunConfig(steps=steps, every=1, eval_every=steps)


def frames_recorded(steps: int, every: int, cap: int) -> int:
    """Return how many snapshots a run of `steps` takes under the recorder's thinning rule."""
    held: list[int] = []
    stride, taken = every, 0
    for s in range(steps):
        if s % stride == 0:
            if len(held) == cap:
                held = [h for h in held if h % (2 * stride) == 0]
                stride *= 2
            held.append(s)
            taken += 1
    return taken


def bare_steps(t: Trainer, steps: int) -> None:
    """Train `t.net` for `steps` steps on `t`'s batches with nothing but the optimizer loop."""
    net, opt = t.net, t.opt
    net.train()
    for _ in range(steps):
        x, y = t._next_batch()
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def _bare(steps: int) -> tuple[Callable[[], Trainer], Callable[[], None]]:
    t = Trainer(default_config(steps))

    def run() -> Trainer:
        bare_steps(t, steps)
        return t

    return run, lambda: None


def _trainer(make_cfg: Callable[[int], RunConfig]) -> Callable[[int], tuple[Callable[[], Trainer], Callable[[], None]]]:
    def prepare(steps: int) -> tuple[Callable[[], Trainer], Callable[[], None]]:
        t = Trainer(make_cfg(steps))

        def run() -> Trainer:
            done = t.step(steps)
            if done != steps:
                raise RuntimeError(f"trainer stopped after {done} of {steps} steps ({t.status})")
            return t

        return run, lambda: None

    return prepare


def tensorboard_available() -> bool:
    """Return True if `torch.utils.tensorboard` imports (tensorboard is installed)."""
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


def _tensorboard(steps: int) -> tuple[Callable[[], Trainer], Callable[[], None]]:
    from torch.utils.tensorboard import SummaryWriter

    t = Trainer(default_config(steps))
    logdir = tempfile.mkdtemp(prefix="normlab-bench-tb-")
    writer = SummaryWriter(log_dir=logdir)
    current = [0]  # the step the hooks label their histograms with
    handles = []
    for i, block in enumerate(t.net.blocks):
        for tap in TAPS:
            module = getattr(block, tap, None)
            if module is None:
                continue

            def hook(module, inputs, output, tag=f"block{i + 1}/{tap}"):
                writer.add_histogram(tag, output.detach(), current[0])

            handles.append(module.register_forward_hook(hook))

    def run() -> Trainer:
        net, opt = t.net, t.opt
        net.train()
        for s in range(steps):
            current[0] = s
            x, y = t._next_batch()
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        writer.close()  # flushing the event file is part of the cost
        return t

    def cleanup() -> None:
        for h in handles:
            h.remove()
        writer.close()
        shutil.rmtree(logdir, ignore_errors=True)

    return run, cleanup


def variants(steps: int) -> list[Variant]:
    """Return the variants to compare for runs of `steps` steps (bare loop first)."""
    every = every_step_config(steps)
    thin = thinned_config(steps)
    thin_frames = frames_recorded(steps, thin.every, thin.max_snapshots)
    return [
        Variant("bare loop", "forward, cross_entropy, zero_grad, backward, step", "", _bare),
        Variant(
            "trainer default",
            f"every=20, eval_every=50 ({steps // 50} test passes)",
            "<= 1.25x",
            _trainer(default_config),
        ),
        Variant(
            "trainer every step",
            f"every=1, max_snapshots={every.max_snapshots} (no thinning), eval_every={steps} (1 test pass)",
            "<= 1.6x",
            _trainer(every_step_config),
        ),
        Variant(
            "trainer every=1 cap 256",
            f"every=1, max_snapshots=256 (thins: {thin_frames} of {steps} steps recorded), eval_every={steps}",
            "",
            _trainer(thinned_config),
        ),
        Variant(
            "tensorboard every step",
            "bare loop + add_histogram of 12 taps (forward hooks) every step, to a temp dir",
            "",
            _tensorboard,
        ),
    ]


def _timed(variant: Variant, steps: int) -> tuple[float, float, list[torch.Tensor]]:
    run, cleanup = variant.prepare(steps)
    gc.collect()
    try:
        c0, t0 = time.process_time(), time.perf_counter()
        t = run()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        cleanup()
    return seconds, cpu, [p.detach().clone() for p in t.net.parameters()]


def run(steps: int = 2000, rounds: int = 5, warmup: int = 100) -> list[Row]:
    """Return one Row per variant: median time over `rounds` interleaved rounds and its ratio to the bare loop."""
    single_thread()
    vs = variants(steps)
    if not tensorboard_available():
        skipped = [v for v in vs if v.prepare is _tensorboard]
        vs = [v for v in vs if v.prepare is not _tensorboard]
    else:
        skipped = []
    for v in vs:  # warm-up: lazy initialization, first-call costs, imports
        _timed(v, warmup)
    times: dict[str, list[float]] = {v.name: [] for v in vs}
    cpus: dict[str, list[float]] = {v.name: [] for v in vs}
    same: dict[str, bool] = {v.name: True for v in vs}
    for r in range(rounds):
        order = vs if r % 2 == 0 else vs[::-1]
        weights: dict[str, list[torch.Tensor]] = {}
        for v in order:
            seconds, cpu, weights[v.name] = _timed(v, steps)
            times[v.name].append(seconds)
            cpus[v.name].append(cpu)
        ref = weights[vs[0].name]
        for v in vs[1:]:
            same[v.name] &= all(torch.equal(a, b) for a, b in zip(ref, weights[v.name], strict=True))
    bare, bare_cpu = statistics.median(times[vs[0].name]), statistics.median(cpus[vs[0].name])
    rows = []
    for v in vs:
        med, cpu = statistics.median(times[v.name]), statistics.median(cpus[v.name])
        per_round = [a / b for a, b in zip(times[v.name], times[vs[0].name], strict=True)]
        note = v.note
        if v is not vs[0]:
            note += f"; rounds {min(per_round):.2f}-{max(per_round):.2f}x; cpu-time ratio {cpu / bare_cpu:.2f}x"
            if not same[v.name]:
                note += "; FINAL WEIGHTS DIFFER FROM THE BARE LOOP"
        rows.append(
            Row(
                v.name,
                f"{med:.3f} s, {steps / med:,.0f} steps/s",
                med / bare,
                v.aim,
                note,
                {
                    "seconds": times[v.name],
                    "cpu_seconds": cpus[v.name],
                    "steps": steps,
                    "same_weights_as_bare": same[v.name],
                },
            )
        )
    for v in skipped:
        rows.append(Row(v.name, TB_SKIPPED, None, v.aim, v.note))
    return rows
