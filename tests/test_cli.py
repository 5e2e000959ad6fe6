"""The command line: run files on stdout or disk, one-line errors with exit 2."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "vizcore", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_run_to_stdout_is_a_strict_run_file():
    p = cli("run", "--dataset", "moons", "--steps", "60", "--norm", "layer", "--batch-size", "16", "--no-standardize")
    assert p.returncode == 0, p.stderr
    run = json.loads(p.stdout, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert run["format"] == "vizcore.run/3" and run["status"] == "completed" and run["steps_done"] == 60
    assert run["config"]["norm"] == "layer" and run["config"]["batch_size"] == 16
    assert run["config"]["standardize"] is False


def test_run_to_file(tmp_path):
    out = tmp_path / "r.json"
    p = cli("run", "--dataset", "xor", "--steps", "30", "--out", str(out))
    assert p.returncode == 0 and out.exists() and "written to" in p.stderr


def test_diverged_run_exits_zero():
    p = cli("run", "--dataset", "moons", "--lr", "1e6", "--norm", "none", "--steps", "300")
    assert p.returncode == 0 and json.loads(p.stdout)["status"] == "diverged"


def test_invalid_config_is_one_line_exit_2():
    for args, start in [
        (("--norm", "batch", "--batch-size", "1"), "error: batch_size: batch norm needs at least 2"),
        (("--norm", "group", "--groups", "5"), "error: groups: 5 groups do not divide width 64"),
        (("--lr", "abc"), "error: lr: expected a number"),
        (("--norm", "instance"), "error: norm: instance norm"),
        (("--bogus", "1"), "error: unrecognized arguments"),
    ]:
        p = cli("run", *args)
        assert p.returncode == 2, args
        assert p.stderr.startswith(start), p.stderr
        assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
        assert p.stdout == ""


def test_out_of_range_is_refused_even_where_the_norm_ignores_it():
    # `--groups 0` used to train (batch norm ignores groups) while `--norm group --groups 0` was refused.
    for args in (("--groups", "0"), ("--norm", "group", "--groups", "0"), ("--norm", "layer", "--momentum", "2")):
        p = cli("run", *args)
        name = args[-2].removeprefix("--")
        assert p.returncode == 2, (args, p.stderr)
        assert p.stderr.startswith(f"error: {name}: must be between"), p.stderr
        assert p.stderr.count("\n") == 1 and p.stdout == ""


def test_engine_imports_without_streamlit():
    # Every module outside vizcore/ui, the only Streamlit code: not even through another module.
    paths = [p for p in (ROOT / "vizcore").rglob("*.py") if "ui" not in p.relative_to(ROOT).parts]
    modules = [".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__") for p in paths]
    modules = [m for m in modules if m != "vizcore.__main__"]
    code = f"import sys, {', '.join(modules)}; assert 'streamlit' not in sys.modules, 'vizcore imported streamlit'"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
