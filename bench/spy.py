"""py-spy on a live server: where its GIL time goes, by activity.

`record(pid, seconds, path)` starts `py-spy record --gil --nonblocking` (only samples where
a thread holds the GIL, without pausing the process) writing collapsed stacks to `path`;
`gil_split(text)` sorts those samples into the server's activities. `python -m bench.classroom
--profile FILE` uses both. py-spy is a development dependency (requirements-dev.txt); without
it the profile is skipped with a message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter

# (activity, substrings of a stack: the first rule with any match wins)
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("training (job threads)", ("Job._loop (", "SweepJob._loop (", "ShiftLab._loop (", "Task._loop (")),
    ("warm-up", ("_work (vizcore/ui/warmup.py",)),
    ("live lab: progress + curves fragment", ("progress_and_curves (",)),
    ("live lab: distributions fragment", ("distributions (live.py", "distributions (pages/live.py")),
    ("page scripts (full runs, other pages)", ("ScriptRunner._run_script",)),
    ("server: websocket, messages, sessions", ("tornado", "asyncio", "runtime.py", "app_session.py")),
)


def py_spy() -> str | None:
    """Return the py-spy executable beside this Python (or on PATH), or None."""
    here = os.path.join(os.path.dirname(sys.executable), "py-spy")
    return here if os.path.exists(here) else shutil.which("py-spy")


def record(pid: int, seconds: float, path: str, rate: int = 100) -> "subprocess.Popen | None":
    """Start recording `pid` for `seconds` into `path` (collapsed stacks); return the process, or None."""
    exe = py_spy()
    if exe is None:
        return None
    return subprocess.Popen(
        [
            exe,
            "record",
            "--gil",
            "--nonblocking",
            "-p",
            str(pid),
            "-d",
            str(max(1, round(seconds))),
            "-r",
            str(rate),
            "-f",
            "raw",
            "-o",
            path,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def gil_split(text: str) -> list[tuple[str, int, float]]:
    """Return [(activity, samples, share)] of collapsed stacks (`frame;frame;... count` lines), largest first."""
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, n = line.rstrip().rpartition(" ")
        if not stack or not n.isdigit():
            continue
        activity = next((name for name, keys in RULES if any(k in stack for k in keys)), "other")
        counts[activity] += int(n)
    total = sum(counts.values())
    return [(name, n, n / total) for name, n in counts.most_common()] if total else []


def format_split(split: list[tuple[str, int, float]]) -> str:
    """Return the split as aligned text lines."""
    total = sum(n for _, n, _ in split)
    lines = [f"GIL-holding samples: {total}"]
    lines += [f"  {share:6.1%}  {name}" for name, _, share in split]
    return "\n".join(lines)
