"""Experiments from Run to verdict: each experiment at its default budget, as the page ran it before and now.

    python -m bench.experiments [--budget 1] [--rounds 1] [--only NAME ...]

"before" is `exp.run(budget)` in the calling thread, one run after another (the page until
2026-12-05). "after" is what the page does now on a warm server: the same runs on the
server's warm process pool (`exp.run(..., workers=pool.workers, pool=pool)`), and a Run
answered from the server's cache of finished experiments (`vizcore.ui.experiment_cache`).
Both are timed side by side in this process, alternating, and their measured numbers are
compared (they must be identical). "first run" is when the first finished run reached the
page's progress callback (the partial chart draws it). CPU seconds (this process, plus the
pool's workers for "after") say what the runs cost apart from what else loads the machine:
on an idle 2-core machine "after" takes at least half its CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from . import Row, format_table, single_thread

AIM = "<= 5 s to the verdict"
QUICK = ["depth", "small-batches", "santurkar"]  # --quick: one of each kind (plain runs, extras, a job)
SAME = {True: "same numbers", False: "NUMBERS DIFFER", None: "timings (never equal twice)"}


def _cpu(pool: Any = None) -> float:
    """Return the CPU seconds used so far by this process and, if given, `pool`'s worker processes."""
    import psutil

    total = time.process_time()
    if pool is not None:
        for p in psutil.Process().children(recursive=True):
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
    return total


def _timed(fn: Any, pool: Any = None) -> tuple[float, float, float | None, Any]:
    """Return (seconds, CPU seconds, seconds to the first finished run or None, result) of `fn(progress)`."""
    c0 = _cpu(pool)
    t0 = time.perf_counter()
    first: list[float] = []

    def progress(done: int, total: int, what: str, run: dict | None = None) -> None:
        if run is not None and not first:
            first.append(time.perf_counter() - t0)

    result = fn(progress)
    return time.perf_counter() - t0, _cpu(pool) - c0, (first[0] if first else None), result


def _same(a: Any, b: Any) -> bool | None:
    """Return True if two Results measured the same numbers and gave the same verdict; None for timings."""
    if a.name == "cost":  # a timing experiment: its numbers are times, never equal twice
        return None
    dump = lambda r: json.dumps([r.measured, r.verdict.numbers, r.verdict.label], sort_keys=True, default=str)  # noqa: E731
    return dump(a) == dump(b)


def run(budget: float = 1.0, rounds: int = 1, only: "list[str] | None" = None) -> list[Row]:
    """Time every experiment before and after, `rounds` times alternating; return one Row per experiment."""
    from vizcore.experiments import all_experiments
    from vizcore.ui import experiment_cache
    from vizcore.workers.sweep import SweepPool, pool_workers

    rows = []
    with SweepPool(pool_workers()) as pool:
        pool.warm()
        exps = [e for e in all_experiments() if not only or e.name in only]
        if exps:  # this process's one-off costs (imports, data, torch's lazy set-up) are nobody's "before"
            exps[0].run(budget=0.02)
        for exp in exps:
            before: list[float] = []
            after: list[float] = []
            firsts: list[float] = []
            hits: list[float] = []
            cpu: dict[str, list[float]] = {"before": [], "after": []}
            same: bool | None = True
            for r in range(rounds):
                order = ("before", "after") if r % 2 == 0 else ("after", "before")
                got = {}
                for mode in order:
                    if mode == "before":
                        s, c, _, got[mode] = _timed(lambda p, e=exp: e.run(budget=budget, progress=p))
                        before.append(s)
                        cpu[mode].append(c)
                    else:
                        s, c, f, got[mode] = _timed(
                            lambda p, e=exp: e.run(budget=budget, progress=p, workers=pool.workers, pool=pool), pool
                        )
                        after.append(s)
                        cpu[mode].append(c)
                        if f is not None:
                            firsts.append(f)
                        # a Run answered from the server's cache: the page's lookup of the same configs
                        experiment_cache.put(exp, got[mode], s)
                        t0 = time.perf_counter()
                        assert experiment_cache.get(exp, budget) is not None
                        hits.append(time.perf_counter() - t0)
                        experiment_cache.clear()
                same = None if (s := _same(got["before"], got["after"])) is None else bool(same) and s
                print(
                    f"  {exp.number} {exp.name}: before {before[-1]:.1f} s ({cpu['before'][-1]:.1f} CPU s), "
                    f"after {after[-1]:.1f} s ({cpu['after'][-1]:.1f} CPU s), load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
            b, a = min(before), min(after)
            rng = lambda v: f"{min(v):.1f}" if len(v) == 1 else f"{min(v):.1f}-{max(v):.1f}"  # noqa: E731
            first = f", first run shown at {rng(firsts)} s" if firsts else ""
            rows.append(
                Row(
                    f"experiment {exp.number} {exp.name}",
                    f"before {rng(before)} s ({rng(cpu['before'])} CPU s), after {rng(after)} s "
                    f"({rng(cpu['after'])} CPU s){first}; cached {1000 * max(hits):.0f} ms",
                    ratio=b / a if a > 0 else None,
                    aim=AIM,
                    note=f"{SAME[same]}; budget {budget:g}, {pool.workers} workers",
                    data={
                        "before_s": before,
                        "after_s": after,
                        "first_s": firsts,
                        "cached_s": hits,
                        "cpu_s": cpu,
                        "same": same,
                        "budget": budget,
                    },
                )
            )
    return rows


def main(argv: "list[str] | None" = None) -> int:
    """Print the table (and the load average); return 0."""
    p = argparse.ArgumentParser(prog="python -m bench.experiments", description=__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=1.0)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--only", nargs="*", help="experiment names (default: all)")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    single_thread()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    rows = run(args.budget, args.rounds, args.only)
    print(format_table(rows))
    print(f"load average at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
