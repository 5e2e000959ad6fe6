"""Smoke test of the benchmarks: `python -m bench --quick` runs and prints every row (no timing claims)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROWS = (
    "bare loop",
    "trainer default",
    "trainer every step",
    "trainer every=1 cap 256",
    "tensorboard every step",
    "memory 20000 vs 2000 steps",
    "memory growth",
)


def test_bench_quick_runs_and_prints_every_row(tmp_path):
    out = tmp_path / "bench.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    p = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr
    for name in ROWS:
        assert name in p.stdout, f"row {name!r} missing from:\n{p.stdout}"
    assert [r["name"] for r in json.loads(out.read_text())["rows"]] == list(ROWS)
