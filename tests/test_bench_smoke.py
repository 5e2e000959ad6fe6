"""Smoke test of the benchmarks: `python -m bench --quick` runs and prints every row (no timing claims).

The browser rows need Chromium and Streamlit servers (a few minutes on a busy 2-core
box: the CPU row also serves the page before the rebuild from a temporary git worktree),
so the main smoke test passes --skip-browser and --skip-classroom; `test_browser_bench_rows`
(marked browser) and the classroom test run those two alone on small budgets.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROWS = (
    "bare loop",
    "trainer default",
    "trainer every step",
    "trainer every=1 cap 256",
    "tensorboard every step",
    "memory 20000 vs 2000 steps",
    "memory growth",
    "sweep workers=1",
    "sweep workers=2 (pool)",
    "sweep pool spawn",
    "experiment 4 depth",
    "experiment 5 small-batches",
    "experiment 8 santurkar",
)


def test_bench_quick_runs_and_prints_every_row(tmp_path):
    out = tmp_path / "bench.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    p = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--skip-browser", "--skip-classroom", "--json", str(out)],
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


@pytest.mark.browser
def test_browser_bench_rows():
    from bench import browser

    rows = browser.run(window=2.0, sessions=1, rounds=1)
    assert [r.name for r in rows] == list(browser.NAMES)
    assert all(not r.result.startswith("failed") for r in rows), [r.result for r in rows]


def test_classroom_bench_all_sessions_finish_and_each_config_trains_once():
    """Four protocol-level tabs on a real server (two on one preset): behaviour, not timing."""
    from bench import classroom

    rows = classroom.run(sessions=4, steps=300, classes=2)
    assert [r.name for r in rows] == list(classroom.NAMES)
    d = rows[0].data
    assert d, rows[0].result  # "failed: ..." rows carry no data
    assert d["errors"] == [] and d["finished"] == 4, rows[0].note
    # each Start trains the configuration and, beside it, the same network without normalization
    assert d["distinct"] == 3 and d["trained"] == 3 and len(d["run_files"]) == 2 * 3, rows[0].note
    assert d["shared"] + d["cached"] == 1  # the second tab on the preset watched the first one's run
    # the same class again, for the memory row: it trains as the first did, and is reported
    (again,) = d["memory"]["again"]
    assert again["finished"] == 4 and again["errors"] == [], rows[2].result
    assert again["peak_mb"] > 0 and again["after_mb"] > 0 and "class 2:" in rows[2].result


def test_classroom_bench_refuses_fewer_than_one_class(capsys):
    from bench import classroom

    with pytest.raises(SystemExit) as e:
        classroom.main(["--classes", "0"])
    assert e.value.code == 2 and "--classes must be 1 or more, got 0" in capsys.readouterr().err


def test_browser_payload_splits_updates_at_script_finished_and_names_the_charts():
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    from bench.livepage import decode, element_key, payload_summary, updates

    def chart(key: str, size: int) -> bytes:
        m = ForwardMsg()
        m.delta.new_element.bidi_component.id = f"$$ID-0123abcd-{key}"
        m.delta.new_element.bidi_component.json = "x" * size
        return m.SerializeToString()

    done = ForwardMsg()
    done.script_finished = ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
    end = done.SerializeToString()
    frames = [(0.0, chart("curves", 100)), (0.0, chart("pair", 300)), (0.0, end), (0.2, chart("heatmap", 50))]
    ref = ForwardMsg(ref_hash="abc").SerializeToString()  # a cached message: sent as a reference
    frames += [(0.2, end), (0.4, chart("pair", 300)), (0.4, chart("pair", 10)), (0.4, ref)]  # cut by the window's end
    msgs = decode(frames)
    assert [m.key for m in msgs] == ["curves", "pair", "", "heatmap", "", "pair", "pair", ""]
    assert [m.same for m in msgs] == [False] * 5 + [True, False, False]  # the pair resent unchanged, then new
    ups = updates(msgs)
    assert [(u["part"], u["keys"]) for u in ups] == [("lecture", ["curves", "pair"]), ("tabs", ["heatmap"])]
    assert ups[0]["bytes"] == sum(len(p) for _, p in frames[:3])
    summary = payload_summary(msgs, 2.0)
    assert summary["updates"] == 2 and summary["chart_messages"]["pair"] == {
        "n": 3,
        "median": len(frames[1][1]),
        "same": 1,
    }
    assert summary["same_bytes"] == len(frames[5][1]) and summary["refs"] == 1
    assert summary["bytes"] == sum(len(p) for _, p in frames)
    assert element_key("$$ID-ffc1-my-key") == "my-key" and element_key("no id") == ""


def test_browser_chart_rates_count_only_new_data_as_distinct():
    from bench.livepage import chart_rates

    sampled = {
        "ms": 2000.0,
        "sig0": {"curves": "a"},
        "ev": [
            [1.0, "curves", "frames", None],
            [2.0, "curves", "drawn", "a"],  # the same data drawn again
            [3.0, "curves", "frames", None],
            [4.0, "curves", "drawn", "b"],
            [5.0, "pair", "drawn", "p"],
        ],
    }
    rates = chart_rates(sampled)
    assert rates["curves"]["frames"] == 2 and rates["curves"]["drawn"] == 2 and rates["curves"]["distinct"] == 1
    assert rates["curves"]["distinct_per_s"] == 0.5 and rates["pair"]["distinct"] == 1


def test_gil_split_sorts_stacks_into_the_servers_activities():
    from bench.spy import format_split, gil_split

    raw = "\n".join(
        [
            "Thread.run (threading.py:982);Job._loop (vizcore/workers/jobs.py:275);"
            "Trainer.step (vizcore/engine/training.py:171) 60",
            "ScriptRunner._run_script (streamlit/runtime/scriptrunner/script_runner.py:961);<module> (live.py:15) 25",
            "ScriptRunner._run_script (script_runner.py:961);wrap (fragment.py:836);"
            "progress_and_curves (live.py:112) 10",
            "Thread.run (threading.py:982);_work (vizcore/ui/warmup.py:30) 4",
            "IOLoop.start (tornado/platform/asyncio.py:211) 1",
            "not a stack line",
            "",
        ]
    )
    split = gil_split(raw)
    assert [(name, n) for name, n, _ in split] == [
        ("training (job threads)", 60),
        ("page scripts (full runs, other pages)", 25),
        ("live lab: progress + curves fragment", 10),
        ("warm-up", 4),
        ("server: websocket, messages, sessions", 1),
    ]
    assert abs(sum(share for *_, share in split) - 1) < 1e-12
    assert "60.0%  training" in format_split(split)
    assert gil_split("") == []


def test_hotspots_ablation_lists_every_part_in_order():
    from bench import hotspots

    text = hotspots.ablation_report(chunk=5, rounds=1)
    names = [line.split("  ")[1].strip() for line in text.splitlines()[1:]]
    assert names == [name for name, _ in hotspots.VARIANTS]


def test_hotspots_histograms_only_stand_in_counts_as_numpy():
    """The ablation's floor is only a floor if its minimal recorder does the work: check it against numpy."""
    import numpy as np

    from bench import hotspots
    from bench.overhead import every_step_config
    from vizcore import Trainer

    t = Trainer(every_step_config(10))
    rec, captured = t.recorder, {}
    minimal = hotspots.histograms_only(rec, bins=16, lo=-2.0, hi=2.0)

    def commit(step, stats=None):
        captured.update({k: v.clone() for k, v in rec._pending.items()})
        minimal(step, stats)

    rec.commit = commit
    t.step(1)
    counts, summary = rec.last_minimal
    edges = np.linspace(-2.0, 2.0, 17)
    assert len(captured) == 12
    for r, x in enumerate(captured.values()):
        x = x.numpy().ravel().astype(np.float64)
        c = counts[r * 18 : (r + 1) * 18]
        inside = x[(x >= -2.0) & (x < 2.0)]
        assert (c[1:-1] == np.histogram(inside, edges)[0]).all()
        assert (c[0], c[-1]) == ((x < -2.0).sum(), (x >= 2.0).sum())
        np.testing.assert_allclose(summary[r], [x.min(), x.max(), x.sum(), x @ x], rtol=1e-4, atol=1e-3)
