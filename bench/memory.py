"""Memory of long runs: peak RSS of a long run against a short one of the same config.

The recorder preallocates `max_snapshots` frames and thins 2:1 when full, and the
curves hold at most 4 x max_snapshots points, so a 100,000-step run should cost
what a 5,000-step run does. Each run trains in its own subprocess (so the two
never share a peak), recording at every step to exercise the thinning hardest,
and ends with `export()` and the JSON run file, as the app and the CLI do.

A child reports its RSS after building the Trainer (the baseline: interpreter,
torch, data, model, preallocated history), then its peak RSS over training and
export. On Linux the peak is reset to the baseline first (`/proc/self/clear_refs`),
so `growth` = peak - baseline is what training itself added; elsewhere the peak
is `ru_maxrss`, which also covers setup.

Run one child by hand: `python -m bench.memory --child 5000`.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from typing import Any

from . import ROOT, Row

AIM = "<= 1.2x"


def config(steps: int) -> Any:
    """Return the tiny, fast config the memory runs use, `steps` long."""
    from vizcore import RunConfig

    return RunConfig(dataset="moons", depth=2, width=8, batch_size=16, every=1, eval_every=50, steps=steps)


def _status_kb(key: str) -> "int | None":
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the kernel's RSS high-water mark to the current RSS; return True if it worked."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_kb() -> int:
    hwm = _status_kb("VmHWM")
    if hwm is not None:
        return hwm
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB elsewhere


def _rss_kb() -> int:
    rss = _status_kb("VmRSS")
    return rss if rss is not None else _peak_kb()


def child(steps: int) -> dict[str, Any]:
    """Train one memory run of `steps` steps in this process; return its memory numbers (KiB, seconds)."""
    from . import single_thread

    single_thread()
    from vizcore import Trainer, dumps

    t = Trainer(config(steps))
    arrays = [
        a
        for layer in t.recorder.layers
        for a in (layer.steps, layer.weights, *(x for th in layer.taps.values() for x in (th.stats, th.counts)))
    ]
    owners = {id(o): o for o in (a if a.base is None else a.base for a in arrays)}  # views of a few shared arrays
    history = sum(a.nbytes for a in owners.values())
    history += sum(a.nbytes for a in (t.curves.step, t.curves.sums, t.curves.test))
    gc.collect()
    base = _rss_kb()
    reset = _reset_peak()
    t0 = time.perf_counter()
    t.step(steps)
    text = dumps(t.export())
    seconds = time.perf_counter() - t0
    return {
        "steps": steps,
        "steps_done": t.steps_done,
        "status": t.status,
        "frames_held": t.recorder.count,
        "stride": t.recorder.stride,
        "baseline_kb": base,
        "peak_kb": _peak_kb(),
        "peak_reset": reset,
        "history_bytes": history,
        "runfile_bytes": len(text),
        "seconds": seconds,
    }


def measure(steps: list[int]) -> list[dict[str, Any]]:
    """Return `child(n)` for each n in `steps`, each run in its own subprocess, started together."""
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.memory", "--child", str(n)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in steps
    ]
    out = []
    for n, p in zip(steps, procs, strict=True):
        stdout, stderr = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"memory child ({n} steps) failed with exit {p.returncode}:\n{stderr}")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def run(long: int = 100_000, short: int = 5_000) -> list[Row]:
    """Return two Rows: peak RSS and peak growth of a `long`-step run as ratios to a `short`-step run."""
    s, ln = measure([short, long])
    mb = 1 / 1024
    peak_ratio = ln["peak_kb"] / s["peak_kb"]
    growth_s, growth_l = (max(r["peak_kb"] - r["baseline_kb"], 0) for r in (s, ln))
    common = (
        f"moons, depth 2, width 8, batch 16, every=1; held {s['frames_held']} vs {ln['frames_held']} frames, "
        f"run file {s['runfile_bytes'] / 1e3:.0f} vs {ln['runfile_bytes'] / 1e3:.0f} kB, "
        f"{s['seconds']:.1f} vs {ln['seconds']:.1f} s"
    )
    how = "peak reset after setup" if s["peak_reset"] and ln["peak_reset"] else "ru_maxrss, includes setup"
    return [
        Row(
            f"memory {long} vs {short} steps",
            f"peak RSS {ln['peak_kb'] * mb:.1f} vs {s['peak_kb'] * mb:.1f} MB",
            peak_ratio,
            AIM,
            common,
            {"short": s, "long": ln},
        ),
        Row(
            "memory growth",
            f"{growth_l * mb:.1f} vs {growth_s * mb:.1f} MB over the post-setup baseline",
            growth_l / growth_s if growth_s else None,
            "",
            f"{how}; history arrays {s['history_bytes'] / 1e6:.2f} MB, preallocated",
        ),
    ]


def main(argv: "list[str] | None" = None) -> int:
    """Run `--child N` (print its JSON) or both memory runs (print a table); return the exit code."""
    p = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.splitlines()[0])
    p.add_argument("--child", type=int, metavar="STEPS", help="train one run in this process and print JSON")
    p.add_argument("--long", type=int, default=100_000)
    p.add_argument("--short", type=int, default=5_000)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child)))
        return 0
    from . import format_table

    print(format_table(run(args.long, args.short)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
