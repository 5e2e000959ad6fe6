"""Experiments from Run to verdict: each experiment at its default budget, as the page ran it before and now.

    python -m bench.experiments [--budget 1] [--rounds 1] [--only NAME ...]

"before" is `exp.run(budget)` in the calling thread, one run after another (the page until
2026-12-05). "after" is what the page does now on a warm server: the same runs on the
server's warm process pool (`exp.run(..., workers=pool.workers, pool=pool)`), and a Run
answered from the server's cache of finished experiments (`vizcore.ui.experiment_cache`).
Both are timed side by side in this process, alternating, and their measured numbers are
compared (they must be identical). "first run" is when the first finished run reached the
page's progress callback (the partial chart draws it).
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
SAME = {True: "same numbers", False: "NUMBERS DIFFER", None: "timings (never equal twice)"}


def _timed(fn: Any) -> tuple[float, float | None, Any]:
    """Return (seconds, seconds to the first finished run or None, result) of `fn(progress)`."""
    t0 = time.perf_counter()
    first: list[float] = []

    def progress(done: int, total: int, what: str, run: dict | None = None) -> None:
        if run is not None and not first:
            first.append(time.perf_counter() - t0)

    result = fn(progress)
    return time.perf_counter() - t0, (first[0] if first else None), result


def _same(a: Any, b: Any) -> bool | None:
    """Return True if two Results measured the same numbers and gave the same verdict; None for timings."""
    if a.name == "cost":  # a timing experiment: its numbers are times, never equal twice
        return None
    dump = lambda r: json.dumps([r.measured, r.verdict.numbers, r.verdict.label], sort_keys=True, default=str)  # noqa: E731
    return dump(a) == dump(b)


def run(budget: float = 1.0, rounds: int = 1, only: "list[str] | None" = None) -> list[Row]:
    """Time every experiment before and after, `rounds` times alternating; return one Row per experiment."""
    from vizcore.experiments import all_experiments
    from vizcore.workers.sweep import SweepPool, pool_workers

    rows = []
    with SweepPool(pool_workers()) as pool:
        pool.warm()
        for exp in all_experiments():
            if only and exp.name not in only:
                continue
            before: list[float] = []
            after: list[float] = []
            firsts: list[float] = []
            same: bool | None = True
            for r in range(rounds):
                order = ("before", "after") if r % 2 == 0 else ("after", "before")
                got = {}
                for mode in order:
                    if mode == "before":
                        s, _, got[mode] = _timed(lambda p, e=exp: e.run(budget=budget, progress=p))
                        before.append(s)
                    else:
                        s, f, got[mode] = _timed(
                            lambda p, e=exp: e.run(budget=budget, progress=p, workers=pool.workers, pool=pool)
                        )
                        after.append(s)
                        if f is not None:
                            firsts.append(f)
                same = None if (s := _same(got["before"], got["after"])) is None else bool(same) and s
                print(f"  {exp.number} {exp.name}: before {before[-1]:.1f} s, after {after[-1]:.1f} s", flush=True)
            b, a = min(before), min(after)
            rng = lambda v: f"{min(v):.1f}" if len(v) == 1 else f"{min(v):.1f}-{max(v):.1f}"  # noqa: E731
            first = f", first run shown at {rng(firsts)} s" if firsts else ""
            rows.append(
                Row(
                    f"experiment {exp.number} {exp.name}",
                    f"before {rng(before)} s, after {rng(after)} s{first}",
                    ratio=b / a if a > 0 else None,
                    aim=AIM,
                    note=f"{SAME[same]}; budget {budget:g}, {pool.workers} workers",
                    data={"before_s": before, "after_s": after, "first_s": firsts, "same": same, "budget": budget},
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
