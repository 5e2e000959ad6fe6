"""`python -m bench [--quick] [--json PATH]`: run every benchmark and print one table."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time

from . import (
    ROOT,
    Row,
    browser,
    classroom,
    coldstart,
    experiments,
    format_table,
    memory,
    overhead,
    single_thread,
    sweeps,
)

FULL = {
    "steps": 2000,
    "rounds": 5,
    "warmup": 100,
    "long": 100_000,
    "short": 5_000,
    "sweep_steps": 400,
    "sweep_rounds": 3,
    "browser_window": 10.0,
    "browser_sessions": 3,
    "browser_cpu_rounds": 2,
    "classroom_sessions": 30,
    "classroom_steps": 1500,
    "classroom_pace": "25",
    "coldstart_rounds": 3,
    "experiments_budget": 1.0,
    "experiments_only": None,
}
QUICK = {
    "steps": 200,
    "rounds": 2,
    "warmup": 20,
    "long": 20_000,
    "short": 2_000,
    "sweep_steps": 50,
    "sweep_rounds": 1,
    "browser_window": 3.0,
    "browser_sessions": 1,
    "browser_cpu_rounds": 1,
    "classroom_sessions": 4,
    "classroom_steps": 300,
    "classroom_pace": "25",
    "coldstart_rounds": 1,
    "experiments_budget": 0.02,
    "experiments_only": experiments.QUICK,
}


def main(argv: "list[str] | None" = None) -> int:
    """Run the overhead, memory, sweep and browser benchmarks, print the table; return the exit code (0)."""
    p = argparse.ArgumentParser(prog="python -m bench", description="NormLab benchmarks (see docs/performance.md)")
    p.add_argument("--quick", action="store_true", help="reduced budget for a CI smoke test (no timing claims)")
    p.add_argument(
        "--json",
        metavar="PATH",
        help="also write the rows and raw numbers as JSON (default: "
        "bench/results/latest.json, or latest-quick.json with --quick)",
    )
    p.add_argument("--skip-memory", action="store_true", help="skip the memory benchmark")
    p.add_argument("--skip-sweeps", action="store_true", help="skip the sweep speed-up benchmark")
    p.add_argument("--skip-experiments", action="store_true", help="skip the experiments' Run-to-verdict rows")
    p.add_argument("--skip-browser", action="store_true", help="skip the browser latency benchmark (Chromium)")
    p.add_argument(
        "--skip-classroom", action="store_true", help="skip the classroom and cold-start benchmarks (Streamlit servers)"
    )
    args = p.parse_args(argv)
    budget = QUICK if args.quick else FULL
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    single_thread()
    import torch

    t0 = time.perf_counter()
    print(
        f"NormLab bench{' (quick)' if args.quick else ''}: torch {torch.__version__}, {os.cpu_count()} cpus, "
        f"1 torch thread, overhead {budget['steps']} steps x {budget['rounds']} rounds, "
        f"memory {budget['long']} vs {budget['short']} steps, sweep base {budget['sweep_steps']} steps x "
        f"{budget['sweep_rounds']} rounds, browser {budget['browser_window']:g} s window, classroom "
        f"{budget['classroom_sessions']} sessions x {budget['classroom_steps']} steps at "
        f"{budget['classroom_pace']} steps/s",
        flush=True,
    )
    rows: list[Row] = overhead.run(budget["steps"], budget["rounds"], budget["warmup"])
    if not args.skip_memory:
        rows += memory.run(budget["long"], budget["short"])
    if not args.skip_sweeps:
        rows += sweeps.run(budget["sweep_steps"], budget["sweep_rounds"])
    if not args.skip_experiments:
        rows += experiments.run(budget["experiments_budget"], only=budget["experiments_only"])
    if not args.skip_browser:
        rows += browser.run(budget["browser_window"], budget["browser_sessions"], rounds=budget["browser_cpu_rounds"])
    if not args.skip_classroom:
        rows += classroom.run(budget["classroom_sessions"], budget["classroom_steps"], pace=budget["classroom_pace"])
        rows += coldstart.run(budget["coldstart_rounds"])
    total = time.perf_counter() - t0
    print(format_table(rows))
    print(f"total {total:.1f} s")
    path = args.json or os.path.join(ROOT, "bench", "results", "latest-quick.json" if args.quick else "latest.json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(
            {
                "date": datetime.date.today().isoformat(),
                "quick": args.quick,
                "budget": budget,
                "torch": torch.__version__,
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "seconds": total,
                "rows": [r.to_dict() for r in rows],
            },
            f,
            indent=1,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
