"""Batch-size sweep speed-up: the same sweep in one process against two pool workers.

The sweep is `batch_size_grid` of a small base config (digits, the default mlp,
batch sizes 16/32/64/128 x batch and layer norm, one seed, "samples" budget: 8
runs, the smaller the batch the more steps), trained with `run_many(..., light=True)`:

- sweep workers=1: `run_many(configs, workers=1)`, every run in the calling thread
  (one torch thread), one after another. The reference.
- sweep workers=2 (pool): `run_many(configs, workers=2, pool=pool)` through a
  `SweepPool(2)` started and warmed up before the timing, as the app keeps one.
- sweep pool spawn: what the warm-up cost (start two spawn workers, each imports
  torch, and train two 1-step runs), i.e. what a sweep without a kept pool pays on top.
  Then both paths train the grid once at 20 steps a run, untimed (imports, data
  loading and first calls in this process and in every worker).

The two timed variants alternate order over `rounds` rounds; each row reports its
median wall time; the speed-up is the ratio of medians. The note adds the CPU
time (user + system, from /proc) the workers used against the serial run's, and
how many cores the workers actually got (their CPU seconds per wall second): on a
busy machine that, not the code, bounds the speed-up. Each round also checks that
both variants return the same final test accuracies (a worker's run must equal the
in-process one). Nothing asserts.
"""

from __future__ import annotations

import os
import statistics
import time

from vizcore import RunConfig
from vizcore.workers.sweep import SweepPool, batch_size_grid, run_many

from . import Row

BATCH_SIZES = (16, 32, 64, 128)
NORMS = ("batch", "layer")


def sweep_configs(steps: int) -> list[RunConfig]:
    """Return the 8-run grid: base = digits, batch 64, `steps` steps; same samples for every batch size."""
    return batch_size_grid(RunConfig(steps=steps), BATCH_SIZES, NORMS, [0], "samples")


def load_average() -> str:
    """Return the 1/5/15-minute load averages as text ('?' where unavailable)."""
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _cpu_s(pids: "list[int]") -> float:
    """Return the CPU seconds (user + system) the processes `pids` have used so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def _finals(runs: list) -> list:
    out = []
    for r in runs:
        acc = (r or {}).get("curves", {}).get("test_acc") if r else None
        out.append(acc[-1] if acc else None)
    return out


def run(steps: int = 400, rounds: int = 2, workers: int = 2) -> list[Row]:
    """Time the sweep serially and through a warm `SweepPool(workers)`; return the three rows."""
    configs = sweep_configs(steps)
    total_steps = sum(c.steps for c in configs)
    load_before = load_average()
    t = time.perf_counter()
    pool = SweepPool(workers)
    try:
        warm = [RunConfig(steps=1, seed=k) for k in range(workers)]
        run_many(warm, workers=workers, pool=pool, light=True)
        spawn = time.perf_counter() - t
        # Untimed warm-up of both paths on the same grid, 20 steps a run (imports, data, first calls).
        small = sweep_configs(20)
        run_many(small, workers=1, light=True)
        run_many(small, workers=workers, pool=pool, light=True)
        serial: list[float] = []
        parallel: list[float] = []
        cpu_serial: list[float] = []
        cpu_pool: list[float] = []
        pids = list(pool._executor._processes)
        same = True
        for k in range(rounds):
            order = ("serial", "pool") if k % 2 == 0 else ("pool", "serial")
            finals = {}
            for which in order:
                t, c = time.perf_counter(), time.process_time()
                if which == "serial":
                    runs = run_many(configs, workers=1, light=True)
                    serial.append(time.perf_counter() - t)
                    cpu_serial.append(time.process_time() - c)
                else:
                    w = _cpu_s(pids)
                    runs = run_many(configs, workers=workers, pool=pool, light=True)
                    parallel.append(time.perf_counter() - t)
                    cpu_pool.append(_cpu_s(pids) - w)
                finals[which] = _finals(runs)
            same = same and finals["serial"] == finals["pool"]
    finally:
        pool.close()
    load_after = load_average()
    s, p = statistics.median(serial), statistics.median(parallel)
    speedup = s / p
    cs, cp = statistics.median(cpu_serial), statistics.median(cpu_pool)
    # CPU the sweep got per wall second: ~1 for workers=1, ~`workers` if the cores were free
    busy = cp / p if p else 0.0
    load = f"load avg {load_before} -> {load_after} on {os.cpu_count()} cpus"
    grid = (
        f"{len(configs)} runs (batch {'/'.join(map(str, BATCH_SIZES))} x {'/'.join(NORMS)}, {total_steps} steps in all)"
    )
    check = "" if same else "; MISMATCH: pool runs differ from in-process runs"
    data = {
        "serial_s": serial,
        "pool_s": parallel,
        "spawn_s": spawn,
        "runs": len(configs),
        "steps": total_steps,
        "workers": workers,
        "cpu_serial_s": cpu_serial,
        "cpu_pool_s": cpu_pool,
        "load_before": load_before,
        "load_after": load_after,
        "same_results": same,
    }
    return [
        Row(
            "sweep workers=1",
            f"{s:.2f} s, {total_steps / s:,.0f} steps/s",
            1.0,
            "",
            f"{grid}, in the calling thread; rounds {', '.join(f'{x:.2f}' for x in serial)} s; {load}",
            data,
        ),
        Row(
            f"sweep workers={workers} (pool)",
            f"{p:.2f} s, {total_steps / p:,.0f} steps/s",
            speedup,
            ">= 1.6x",
            f"speed-up over workers=1 (warm SweepPool({workers})); rounds "
            f"{', '.join(f'{x:.2f}' for x in parallel)} s; cpu {cp:.2f} s in workers vs {cs:.2f} s serial "
            f"({cp / cs:.2f}x); workers got {busy:.2f} cores on average{check}",
        ),
        Row(
            "sweep pool spawn",
            f"{spawn:.2f} s",
            None,
            "",
            f"SweepPool({workers}) start + warm-up ({workers} one-step runs): paid once per pool, not timed above",
        ),
    ]


if __name__ == "__main__":
    from . import format_table, single_thread

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    single_thread()
    print(format_table(run()))
