"""Where an every-step run spends its time: a wall-clock split, then cProfile.

`python -m bench.hotspots [--steps N] [--top K]` trains the "trainer every step"
config of bench.overhead (default model, every=1, no thinning, one test pass) and
prints:

1. a wall-clock split measured without a profiler (timing wrappers on
   `Recorder.commit` and `Trainer._eval_point`), against a bare loop of the same
   steps, so the profiler's own distortion does not enter the shares;
2. cProfile's view: the functions with the most own time, and the cumulative time
   of the recording functions, as shares of the profiled `Trainer.step`.

`--ablate` prints instead the cost of each part in place: the every-step trainer with
its parts switched off one at a time, trained in alternating chunks in one process.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from vizcore import RunConfig, Trainer

from . import single_thread
from .overhead import bare_steps, default_config, every_step_config


def _timing(fn: Callable[..., Any], box: list[float]) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            box[0] += time.perf_counter() - t0

    return wrapped


def wall_split(steps: int) -> dict[str, float]:
    """Return seconds for `steps` every-step trainer steps: total, commit, eval, rest, and the bare loop's."""
    bare = Trainer(default_config(steps))
    t0 = time.perf_counter()
    bare_steps(bare, steps)
    bare_s = time.perf_counter() - t0
    t = Trainer(every_step_config(steps))
    commit, evals = [0.0], [0.0]
    t.recorder.commit = _timing(t.recorder.commit, commit)  # type: ignore[method-assign]
    t._eval_point = _timing(t._eval_point, evals)  # type: ignore[method-assign]
    t0 = time.perf_counter()
    t.step(steps)
    total = time.perf_counter() - t0
    return {"total": total, "commit": commit[0], "eval": evals[0], "rest": total - commit[0] - evals[0], "bare": bare_s}


def profile(steps: int) -> pstats.Stats:
    """Return cProfile statistics of `steps` every-step trainer steps (after a short warm-up)."""
    t = Trainer(every_step_config(steps + 20))
    t.step(20)
    pr = cProfile.Profile()
    pr.enable()
    t.step(steps)
    pr.disable()
    return pstats.Stats(pr)


WATCH = (  # (file suffix, function) -> label; cumulative times, shares of Trainer.step
    ("training.py", "_one_step", "Trainer._one_step (everything)"),
    ("optimizer.py", "wrapper", "optimizer.step"),
    ("__init__.py", "backward", "loss.backward"),
    ("models.py", "forward", "Net/Block forward (incl. hooks)"),
    ("recording.py", "commit", "Recorder.commit"),
    ("~", "<method 'sort' of 'numpy.ndarray' objects>", "  np.sort (in commit)"),
    ("recording.py", "sorted_stats", "  sorted_stats"),
    ("recording.py", "counts_rows", "    counts_rows (histograms)"),
    ("recording.py", "quantiles", "    quantiles"),
    ("recording.py", "saturation", "  saturation"),
    ("recording.py", "capture", "Recorder.capture (hook setup/teardown)"),
    ("recording.py", "hook", "  hook bodies"),
    ("~", "<built-in method torch._foreach_norm>", "weight stats: _foreach_norm"),
    ("training.py", "_eval_point", "Trainer._eval_point"),
)


def report(steps: int = 1000, top: int = 20) -> str:
    """Return the wall-clock split and the cProfile summary as text."""
    single_thread()
    out = io.StringIO()
    w = wall_split(steps)
    out.write(f"every-step trainer, {steps} steps, no profiler:\n")
    for key in ("total", "commit", "eval", "rest"):
        out.write(f"  {key:<7} {w[key]:7.3f} s  {w[key] / w['total']:6.1%}  {w[key] / steps * 1e6:8.0f} us/step\n")
    out.write(
        f"  bare loop, same steps: {w['bare']:.3f} s ({w['bare'] / steps * 1e6:.0f} us/step); "
        f"'rest' minus bare = hooks, weight stats, curves: {(w['rest'] - w['bare']) / steps * 1e6:.0f} us/step\n"
    )
    st = profile(steps)
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = st.stats  # type: ignore[attr-defined]
    step_total = sum(v[3] for k, v in raw.items() if k[0].endswith("training.py") and k[2] == "step")
    out.write(f"\ncProfile, {steps} steps, Trainer.step {step_total:.3f} s (cumulative, share of Trainer.step):\n")
    for suffix, func, label in WATCH:
        # max, not sum: nested entries of one name (Net.forward around Block.forward) would count twice
        ct = max((v[3] for k, v in raw.items() if k[0].endswith(suffix) and k[2] == func), default=0.0)
        if ct:
            out.write(f"  {label:<40} {ct:7.3f} s  {ct / step_total:6.1%}\n")
    out.write(f"\ncProfile, top {top} by own time:\n")
    buf = io.StringIO()
    st.stream = buf  # type: ignore[attr-defined]
    st.sort_stats("tottime").print_stats(top)
    lines = buf.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().startswith("ncalls")), 0)
    out.write("\n".join(lines[start:]).replace(sys.prefix, "<venv>") + "\n")
    return out.getvalue()


VARIANTS = (  # name, what it adds over the line above
    ("bare loop", "forward, cross_entropy, zero_grad, backward, step"),
    ("no snapshots", "+ the trainer's per-step work: loss and accuracy reads, curves"),
    ("no hooks, no commit", "+ the weight statistics of a snapshot step"),
    ("hooks, no commit", "+ the 12 forward hooks (registered and removed each step)"),
    ("histograms only", "+ a minimal exact histogram of every tap: TensorBoard's numbers, no percentiles"),
    ("every step", "+ the rest of Recorder.commit (percentiles, mean/std, saturation): the full trainer"),
)


def histograms_only(rec: Any, bins: int = 64, lo: float = -4.0, hi: float = 4.0) -> Callable[..., None]:
    """Return a stand-in for `rec.commit` that keeps what TensorBoard's add_histogram keeps, nothing more.

    Per tap: counts on fixed edges (under, bins, over), min, max, sum and sum of squares, for
    every tap in one batched numpy pass and no sort. Each value's bin comes from its scaled
    position alone, without numpy.histogram's check of values that round onto an edge: the
    cheapest exact-enough binning measured here (49,152 values: 176 us, against 1.8 ms for
    a binary search of unsorted values, np.searchsorted and torch.bucketize alike; numpy's
    sort of the same values is 125 us). Its ablation row is a floor for any every-step
    histogram recorder on these hooks.
    """
    scale = np.float32(bins / (hi - lo))
    offsets: dict[tuple[int, ...], np.ndarray] = {}

    def commit(step: int, stats: Any = None) -> None:
        taps = list(rec._pending.values())
        sizes = tuple(t.numel() for t in taps)
        if sizes not in offsets:  # each value's row, as an offset into one flat bincount
            offsets[sizes] = np.repeat(np.arange(len(taps)) * (bins + 2), sizes)
        x = torch.cat([t.reshape(-1) for t in taps]).numpy()
        index = np.floor((x - np.float32(lo)) * scale).astype(np.int64) + 1  # 0 = under, bins + 1 = over
        np.clip(index, 0, bins + 1, out=index)
        index += offsets[sizes]
        counts = np.bincount(index, minlength=len(taps) * (bins + 2))
        rows = np.split(x, np.cumsum(sizes)[:-1])
        summary = [(r.min(), r.max(), r.sum(dtype=np.float64), np.dot(r, r)) for r in rows]
        rec.last_minimal = (counts, summary)  # kept until the next step, as a recorder would keep it
        rec._pending.clear()

    return commit


def _variant(name: str, total: int, chunk: int) -> Callable[[], Any]:
    if name == "bare loop":
        t = Trainer(default_config(total))
        return lambda: bare_steps(t, chunk)
    if name == "no snapshots":
        t = Trainer(RunConfig(steps=total, every=total, eval_every=total))
        return lambda: t.step(chunk)
    t = Trainer(every_step_config(total))
    rec = t.recorder
    if name == "histograms only":
        rec.commit = histograms_only(rec)  # type: ignore[method-assign]
    elif name != "every step":
        rec.commit = lambda step, stats=None: rec._pending.clear()  # type: ignore[method-assign]
    if name == "no hooks, no commit":
        rec.capture = lambda probe=False: contextlib.nullcontext()  # type: ignore[method-assign]
    return lambda: t.step(chunk)


def ablation(chunk: int = 200, rounds: int = 8) -> dict[str, float]:
    """Return the median CPU us per step of each of VARIANTS, trained in alternating chunks in this process."""
    single_thread()
    runs = {name: _variant(name, chunk * (rounds + 2), chunk) for name, _ in VARIANTS}
    for run in runs.values():
        run()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            t0 = time.process_time()
            run()
            times[name].append((time.process_time() - t0) / chunk * 1e6)
    return {name: statistics.median(v) for name, v in times.items()}


def ablation_report(chunk: int = 200, rounds: int = 8) -> str:
    """Return `ablation`'s table: us per step, ratio to the bare loop and the step added by each part."""
    us = ablation(chunk, rounds)
    bare, prev = us["bare loop"], 0.0
    lines = [f"every-step parts in place, {rounds} rounds of {chunk} steps (CPU us/step, medians):"]
    for name, what in VARIANTS:
        lines.append(f"  {name:<20} {us[name]:6.0f} us  {us[name] / bare:5.2f}x  {us[name] - prev:+6.0f} us  {what}")
        prev = us[name]
    return "\n".join(lines) + "\n"


def main(argv: "list[str] | None" = None) -> int:
    """Print the hotspot report; return the exit code (0)."""
    p = argparse.ArgumentParser(prog="python -m bench.hotspots", description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--ablate", action="store_true", help="the cost of each part in place, not cProfile")
    args = p.parse_args(argv)
    print(ablation_report() if args.ablate else report(args.steps, args.top), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
