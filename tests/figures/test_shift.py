"""Covariate-shift figures from real small result dicts: trace counts, values equal the inputs, nulls."""

import copy
import json

import plotly.graph_objects as go
import pytest

from vizcore import RunConfig
from vizcore.figures import shift as fs
from vizcore.labs.shift import external_curves, with_point
from vizcore.workers.shift_lab import run_internal, train_external

TINY = RunConfig(depth=3, width=8, steps=30, every=5, eval_every=10, batch_size=32, norm_noise=0.3)


@pytest.fixture(scope="module")
def internal():
    return run_internal(TINY, every=10)


@pytest.fixture(scope="module")
def curves():
    models = train_external(TINY)
    return with_point(external_curves(models, 1.5, [-1.0, 0.0, 1.0]), models, 0.25)


def titles(fig: go.Figure) -> str:
    """Title and subtitle as one text (subtitles are wrapped with <br> at word boundaries)."""
    return json.dumps(fig.to_plotly_json()["layout"].get("title")).replace("<br>", " ")


def test_drift_traces_equal_the_inputs(internal):
    fig = fs.drift(internal)
    assert len(fig.data) == 3 * 3 * 2  # 3 blocks x 3 runs x (drift on the probe, batch noise)
    assert [a.text for a in fig.layout.annotations] == ["block1 → block2", "block2 → block3", "block3 → head"]
    for c in range(3):
        for r, run in enumerate(internal["runs"]):
            drift, noise = fig.data[(c * 3 + r) * 2], fig.data[(c * 3 + r) * 2 + 1]
            la = run["drift"]["layers"][c]
            assert drift.name == run["label"] and list(drift.x) == la["steps"]
            assert list(drift.y) == pytest.approx(la["w1"])
            assert noise.line.dash == "dot" and list(noise.x) == la["noise_steps"]
            assert list(noise.y) == pytest.approx(la["noise"])
    assert "activation output" in titles(fig) and "same probe examples" in titles(fig)


def test_gradient_shift_traces_equal_the_inputs(internal):
    fig = fs.gradient_shift(internal)
    assert len(fig.data) == 2 * 2 * 3  # rows x blocks 2..3 x runs
    runs = internal["runs"]
    for row, key in ((0, "rel"), (1, "cos")):
        for c, block in enumerate((1, 2)):
            for r, run in enumerate(runs):
                tr = fig.data[row * 6 + c * 3 + r]
                assert list(tr.x) == run["gshift"]["steps"]
                assert list(tr.y) == pytest.approx(run["gshift"]["layers"][block][key])
    assert sum(tr.showlegend is not False for tr in fig.data) == 3


def test_accuracy_names_the_final_value(internal):
    fig = fs.accuracy(internal)
    assert len(fig.data) == 3
    for tr, run in zip(fig.data, internal["runs"]):
        assert list(tr.y) == pytest.approx(run["curves"]["test_acc"])
        assert tr.name.endswith(f"{run['final_test_acc']:.1%}")


def test_shifted_accuracy_lines_and_markers(curves):
    fig = fs.shifted_accuracy(curves)
    n = len(curves["series"])
    assert n == 5 and len(fig.data) == 2 * n
    for tr, s in zip(fig.data[:n], curves["series"]):
        assert list(tr.x) == [-1.0, 0.0, 0.25, 1.0] and list(tr.y) == pytest.approx(s["acc"])
    for tr, s in zip(fig.data[n:], curves["series"]):
        assert list(tr.x) == [0.25] and list(tr.y) == [curves["at"]["acc"][s["key"]]]
    assert fig.data[2].line.dash == "dash"  # recomputed statistics
    assert "1.5" in titles(fig)
    assert fig.layout.shapes[0].x0 == 0.25
    plain = fs.shifted_accuracy({k: v for k, v in curves.items() if k != "at"})
    assert len(plain.data) == n and not plain.layout.shapes


def test_nulls_and_missing_parts_do_not_crash(internal, curves):
    broken = copy.deepcopy(internal)
    for run in broken["runs"]:
        run["drift"]["layers"][0]["w1"][0] = None
        run["gshift"]["layers"][1]["rel"] = [None] * len(run["gshift"]["steps"])
        run["gshift"]["layers"][2]["cos"][1] = float("nan")
        run["curves"]["test_acc"][0] = None
        run["final_test_acc"] = None
    fig = fs.drift(broken)
    assert len(fig.data[0].y) == len(broken["runs"][0]["drift"]["layers"][0]["steps"]) - 1
    g = fs.gradient_shift(broken)
    assert len(g.data[0].y) == 0 and len(g.data[9].y) == len(broken["runs"][0]["gshift"]["steps"]) - 1
    acc = fs.accuracy(broken)
    assert acc.data[0].name == "no normalization"
    bad = copy.deepcopy(curves)
    bad["series"][0]["acc"][1] = None
    bad["at"]["acc"]["none"] = None
    assert len(fs.shifted_accuracy(bad).data) == 2 * 5 - 1
    for f in (fs.drift, fs.gradient_shift, fs.accuracy, fs.shifted_accuracy):
        for empty in (None, {}, {"runs": []}, {"series": None}):
            out = f(empty)
            assert isinstance(out, go.Figure) and not out.data
            json.dumps(out.to_plotly_json(), default=str)
    one_block = {"runs": [{"key": "none", "gshift": {"steps": [0], "layers": [{"rel": [0.0]}]}}]}
    assert "at least two blocks" in json.dumps(fs.gradient_shift(one_block).to_plotly_json()["layout"])


def test_deep_networks_show_a_spread_of_blocks():
    assert fs.pick_panels(4) == [0, 1, 2, 3]
    p = fs.pick_panels(12)
    assert len(p) == 6 and p[0] == 0 and p[-1] == 11
