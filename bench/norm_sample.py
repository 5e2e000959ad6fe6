"""`python -m bench.norm_sample [--steps N] [--rounds R]`: what the norm sample costs, side by side.

The same run (same weights, batches and numbers) trained with and without the recorder's norm sampler
(`vizcore.engine.norm_sample`), interleaved in alternating order for several rounds: the ratio of median
wall and CPU (process) times of `Trainer.step`, at the default cadence (every=20) and at a snapshot every
step, and of `Trainer.export()`, which a live job calls for every snapshot it publishes. Nothing asserts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from vizcore import RunConfig, Trainer
from vizcore.engine.runfile import dumps


def timed(fn) -> tuple[float, float]:
    """Return (wall, cpu) seconds of one call of `fn`."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def trainer(cfg: RunConfig, sample: bool) -> Trainer:
    t = Trainer(cfg)
    if not sample:
        t.recorder.sampler = None
    return t


def compare(cfg: RunConfig, rounds: int, what: str) -> tuple[float, float]:
    """Return the (wall, cpu) ratios with / without the sample of `what` ("step" or "export"), medians over rounds."""
    times: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for r in range(rounds):
        for sample in (True, False) if r % 2 == 0 else (False, True):
            t = trainer(cfg, sample)
            if what == "step":
                times[sample].append(timed(lambda t=t: t.step(cfg.steps)))
            else:
                t.step(cfg.steps)
                times[sample].append(timed(lambda t=t: [t.export() for _ in range(50)]))
    med = {s: [statistics.median(v[i] for v in times[s]) for i in (0, 1)] for s in times}
    return med[True][0] / med[False][0], med[True][1] / med[False][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"load average {os.getloadavg()[0]:.1f}; {args.rounds} rounds; ratio = with sample / without")
    default = RunConfig(steps=args.steps)
    every = RunConfig(steps=args.steps, every=1, eval_every=args.steps)
    for name, cfg, what in (
        ("Trainer.step, every=20", default, "step"),
        ("Trainer.step, every step", every, "step"),
        ("Trainer.export (x50)", default, "export"),
    ):
        wall, cpu = compare(cfg, args.rounds, what)
        print(f"{name:28s} wall {wall:.3f}x  cpu {cpu:.3f}x")
    run = Trainer(RunConfig(steps=21)).run()
    print(f"norm_sample in the run file: {len(dumps(run['norm_sample']))} bytes of {len(dumps(run))}")


if __name__ == "__main__":
    main()
