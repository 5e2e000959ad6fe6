"""Batch-size figures: one legend group per norm with x = the batch sizes, bands from the table, the
paper's numbers as accuracy, and deviation histograms that integrate to one with 1/sqrt(m) marked."""

import json
import math

import numpy as np
import pytest

from vizcore.figures import batch as fb
from vizcore.labs import batch as lab


def cell(norm, b, mean, lo=None, hi=None, n=1, diverged=0):
    lo = mean if lo is None else lo
    hi = mean if hi is None else hi
    return {
        "norm": norm,
        "batch_size": b,
        "mean": mean,
        "lo": lo,
        "hi": hi,
        "min": lo,
        "max": hi,
        "n": n,
        "runs": n,
        "diverged": diverged,
        "steps": 100,
        "lr": 0.1,
        "std": 0.0,
    }


def spec(fig) -> dict:
    return json.loads(fig.to_json())


def lines(fig_json: dict) -> dict[str, dict]:
    return {t["legendgroup"]: t for t in fig_json["data"] if t.get("mode") == "lines+markers"}


def test_accuracy_vs_batch_one_group_per_norm_on_a_log2_axis():
    table = [
        cell("batch", 2, 0.4, 0.3, 0.5, n=2),
        cell("batch", 8, 0.9, 0.88, 0.92, n=2),
        cell("group", 2, 0.93, n=2),
        cell("group", 8, 0.94, n=2, diverged=1),
    ]
    f = spec(fb.accuracy_vs_batch(table, band="std", chance=0.1))
    got = lines(f)
    assert set(got) == {"batch", "group"}
    assert got["batch"]["x"] == [2, 8] and got["batch"]["y"] == pytest.approx([40.0, 90.0])
    assert got["group"]["marker"]["symbol"] == ["circle", "x"]  # a diverged run is marked
    bands = [t for t in f["data"] if t.get("fill") == "toself"]
    assert [b["legendgroup"] for b in bands] == ["batch"]  # group norm has no spread: no band
    assert bands[0]["x"] == [2, 8, 8, 2] and bands[0]["y"] == pytest.approx([30, 88, 92, 50])
    assert f["layout"]["xaxis"]["type"] == "log" and f["layout"]["xaxis"]["tickvals"] == [2, 8]
    assert "mean ± std" in f["layout"]["title"]["subtitle"]["text"].replace("<br>", " ")
    assert any(s.get("y0") == pytest.approx(10.0) for s in f["layout"]["shapes"])  # chance
    one_seed = spec(fb.accuracy_vs_batch([cell("layer", 4, 0.9)]))
    assert "one seed" in one_seed["layout"]["title"]["subtitle"]["text"].replace("<br>", " ")
    empty = spec(fb.accuracy_vs_batch([]))
    assert not empty["data"] and "start a sweep" in empty["layout"]["annotations"][0]["text"]


def test_paper_figure_shows_wu_and_he_as_accuracy():
    f = spec(fb.paper_figure(lab.PAPER_BATCHES, lab.PAPER_ERROR, lab.PAPER_AT_32))
    got = lines(f)
    assert got["batch"]["x"] == list(lab.PAPER_BATCHES)
    assert got["batch"]["y"] == pytest.approx([100 - e for e in lab.PAPER_ERROR["batch"]])
    assert got["group"]["y"] == pytest.approx([75.9, 75.8, 76.0, 75.8, 75.9])
    singles = {t["legendgroup"]: t["y"][0] for t in f["data"] if t.get("mode") == "markers"}
    assert singles == pytest.approx({"layer": 74.7, "instance": 71.6})
    assert "Wu & He" in f["layout"]["title"]["text"]


def test_train_eval_figure_two_groups():
    ev = [cell("batch", 2, 0.45), cell("batch", 16, 0.95)]
    tr = [cell("batch", 16, 0.94), cell("batch", 2, 0.30, 0.25, 0.35, n=2)]
    f = spec(fb.train_eval_figure(ev, tr))
    got = lines(f)
    assert set(got) == {"eval", "train"}
    assert got["train"]["x"] == [2, 16] and got["train"]["y"] == pytest.approx([30.0, 94.0])
    assert got["train"]["line"]["dash"] == "dash"
    assert "Needs finished" in spec(fb.train_eval_figure([], []))["layout"]["annotations"][0]["text"]


def fake_dev(b=4, n_batches=400, units=16, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1 / math.sqrt(b), (n_batches, units))
    ratio = rng.chisquare(b - 1, (n_batches, units)) / b
    valid = np.ones(units, dtype=bool)
    valid[0] = False
    z[:, 0] = np.nan
    return {
        "layer": 1,
        "batch_size": b,
        "values_per_unit": b,
        "n_batches": n_batches,
        "valid": valid,
        "mean_z": z,
        "log_var_ratio": np.log(ratio),
        "summary": {"var_ratio_median": float(np.median(ratio[:, 1:]))},
        "theory": {"var_ratio_median": 0.59, "z_std": 0.5},
    }


def test_deviation_figure_histograms_and_theory_marks():
    f = spec(fb.deviation_figure(fake_dev()))
    bars = [t for t in f["data"] if t["type"] == "bar"]
    assert len(bars) == 2
    for bar in bars:  # densities: area one
        width = bar["x"][1] - bar["x"][0]
        assert sum(bar["y"]) * width == pytest.approx(1.0, rel=1e-3)
    xs = sorted(s["x0"] for s in f["layout"]["shapes"] if s.get("xref") == "x")
    assert xs == pytest.approx([-0.5, 0.5])  # +-1/sqrt(B)
    assert any("1/√4 = 0.50" in a["text"] for a in f["layout"]["annotations"])
    normal = next(t for t in f["data"] if t["type"] == "scatter" and t.get("xaxis", "x") == "x")
    assert max(normal["y"]) == pytest.approx(1 / (0.5 * math.sqrt(2 * math.pi)), rel=1e-3)
    assert "Block 2 at batch 4" in f["layout"]["title"]["text"]
    none_valid = fake_dev()
    none_valid["valid"] = np.zeros(16, dtype=bool)
    assert "No unit" in spec(fb.deviation_figure(none_valid))["layout"]["annotations"][0]["text"]


def test_deviation_figure_from_a_real_network():
    from vizcore import RunConfig, Trainer
    from vizcore.measures.batch import batch_stat_deviation

    t = Trainer(RunConfig(depth=2, width=16, steps=30, every=10, eval_every=10))
    t.run()
    f = spec(fb.deviation_figure(batch_stat_deviation(t, 0, 8, n_batches=50)))
    assert len([d for d in f["data"] if d["type"] == "bar"]) == 2
    assert len(json.dumps(f)) < 40_000  # binned on the server: a small payload
