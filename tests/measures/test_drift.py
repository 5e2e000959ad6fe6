"""Distribution drift on a recorded run: W1 against independent references, alignment, missing frames."""

import copy

import numpy as np
import pytest

from vizcore import RunConfig, Trainer
from vizcore.measures.drift import drift_lag, has_probe, hist_support, hist_w1, probe_drift

SMALL = dict(dataset="digits", depth=3, width=16, batch_size=32, steps=300, every=10, eval_every=20)


# ----- Wasserstein-1 between histograms -----


def w1_reference_bins(p: np.ndarray, q: np.ndarray, width: float) -> float:
    """W1 of two histograms with no under/over mass: |CDF difference| x bin width, summed."""
    return float(np.sum(np.abs(np.cumsum(p / p.sum()) - np.cumsum(q / q.sum()))) * width)


def w1_reference_quantiles(xs: np.ndarray, p: np.ndarray, q: np.ndarray) -> float:
    """W1 = integral over u in (0, 1) of |F^-1(u) - G^-1(u)|, on the merged cumulative breakpoints."""
    cp, cq = np.cumsum(p / p.sum()), np.cumsum(q / q.sum())
    us = np.unique(np.concatenate([[0.0], cp, cq, [1.0]]).clip(0, 1))
    total = 0.0
    for lo, hi in zip(us[:-1], us[1:]):
        mid = (lo + hi) / 2
        a = xs[min(np.searchsorted(cp, mid), len(xs) - 1)]
        b = xs[min(np.searchsorted(cq, mid), len(xs) - 1)]
        total += abs(a - b) * (hi - lo)
    return total


def test_support_is_edges_then_centres():
    np.testing.assert_allclose(hist_support([0.0, 1.0, 2.0, 4.0]), [0.0, 0.5, 1.5, 3.0, 4.0])


@pytest.mark.parametrize("k", [0, 1, 3, 7])
def test_histogram_shifted_by_k_bins_moves_k_widths(k):
    edges = np.linspace(-2.0, 2.0, 21)  # width 0.2
    p = np.zeros(20)
    p[2:7] = [1, 4, 6, 4, 1]
    q = np.roll(p, k)
    assert hist_w1(p, q, edges) == pytest.approx(k * 0.2)
    assert hist_w1(q, p, edges) == pytest.approx(k * 0.2)  # symmetric
    assert hist_w1(p, 10 * q, edges) == pytest.approx(k * 0.2)  # counts are normalized


def test_under_and_over_sit_on_the_outer_edges():
    edges = np.linspace(0.0, 1.0, 5)  # width 0.25, centres 0.125 ... 0.875
    under, first, last, over = ([1, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 1])
    assert hist_w1(under, over, edges) == pytest.approx(1.0)
    assert hist_w1(under, first, edges) == pytest.approx(0.125)
    assert hist_w1(last, over, edges) == pytest.approx(0.125)
    assert hist_w1(first, last, edges) == pytest.approx(0.75)
    assert hist_w1(first[1:-1], last[1:-1], edges) == pytest.approx(0.75)  # bins only


@pytest.mark.parametrize("seed", range(6))
def test_w1_matches_independent_numpy(seed):
    rng = np.random.default_rng(seed)
    bins = int(rng.integers(4, 40))
    edges = np.sort(rng.uniform(-3, 3, 2))
    edges = np.linspace(edges[0], edges[1] + 0.1, bins + 1)
    p = rng.integers(0, 50, bins).astype(float)
    q = rng.integers(0, 50, bins).astype(float)
    p[0] += 1
    q[-1] += 1
    assert hist_w1(p, q, edges) == pytest.approx(w1_reference_bins(p, q, edges[1] - edges[0]), rel=1e-10)
    full_p = np.concatenate([[rng.integers(0, 20)], p, [rng.integers(0, 20)]])
    full_q = np.concatenate([[rng.integers(0, 20)], q, [rng.integers(0, 20)]])
    xs = hist_support(edges)
    assert hist_w1(full_p, full_q, edges) == pytest.approx(w1_reference_quantiles(xs, full_p, full_q), rel=1e-9)
    scipy_stats = pytest.importorskip("scipy.stats")  # optional third reference
    assert hist_w1(full_p, full_q, edges) == pytest.approx(
        scipy_stats.wasserstein_distance(xs, xs, full_p, full_q), rel=1e-9
    )


def test_w1_of_an_empty_histogram_is_none():
    edges = np.linspace(0, 1, 5)
    assert hist_w1([0, 0, 0, 0], [1, 0, 0, 0], edges) is None
    with pytest.raises(ValueError):
        hist_w1([1, 0, 0], [1, 0, 0], edges)


# ----- drift on the probe set of a recorded run -----


@pytest.fixture(scope="module")
def bn_run() -> dict:
    return Trainer(RunConfig(**{**SMALL, "steps": 101, "every": 20})).run()


@pytest.mark.parametrize("tap", ["linear", "norm", "act"])
def test_drift_is_w1_between_probe_frames_a_lag_apart_in_spreads(bn_run, tap):
    steps = bn_run["layers"][0]["steps"]
    assert steps == [0, 20, 40, 60, 80, 100]
    blocks = probe_drift(bn_run, tap)
    assert [d.name for d in blocks] == ["block1", "block2", "block3"]
    for layer, d in zip(bn_run["layers"], blocks, strict=True):
        assert d.lag == 20 and d.steps == steps[1:] and d.noise_steps == steps
        probe, batch = layer["probe"][tap], layer["taps"][tap]
        h, b = probe["hist"], batch["hist"]
        support = hist_support(h["edges"])

        def row(hist, i):
            return np.array([hist["under"][i], *hist["counts"][i], hist["over"][i]], float)

        for i in range(1, len(steps)):  # frames i-1 -> i, divided by the probe's std at i-1
            want = w1_reference_quantiles(support, row(h, i - 1), row(h, i)) / probe["std"][i - 1]
            assert d.w1[i - 1] == pytest.approx(want, rel=1e-9)
        for i in range(len(steps)):
            want = w1_reference_quantiles(support, row(b, i), row(h, i)) / probe["std"][i]
            assert d.noise[i] == pytest.approx(want, rel=1e-9)
        assert d.window == (60, 100)  # the second half: from the middle snapshot (3 of 0..5) to the last
        for q in ("p15", "p50", "p85"):
            assert d.net[q] == pytest.approx((probe[q][5] - probe[q][3]) / probe["std"][3], rel=1e-12)
        assert d.typical == pytest.approx(float(np.median(d.w1[3:])))  # comparisons that start in the half


def test_drift_has_nulls_where_a_frame_is_missing(bn_run):
    run = copy.deepcopy(bn_run)
    t = run["layers"][1]["probe"]["act"]
    bins = len(t["hist"]["counts"][2])
    t["hist"]["counts"][2] = [0] * bins  # a frame whose values were all non-finite
    t["hist"]["under"][2] = t["hist"]["over"][2] = 0
    t["std"][2] = None
    d = probe_drift(run, "act")[1]
    assert d.w1[1] is None and d.w1[2] is None  # the comparisons (1, 2) and (2, 3)
    assert d.w1[0] is not None and d.w1[3] is not None and d.noise[2] is None


def test_drift_rejects_a_tap_the_run_did_not_record():
    run = Trainer(RunConfig(**{**SMALL, "norm": "none", "steps": 20})).run()
    with pytest.raises(ValueError, match="norm"):
        probe_drift(run, "norm")
    assert len(probe_drift(run, "act")[0].noise) == 2


# --- on the fixed probe set ---------------------------------------------------------------------

SIGMOID_NET = RunConfig(activation="sigmoid", depth=3, width=100, batch_size=60, steps=1200, every=20, eval_every=100)


def last_sigmoid_input(norm: str) -> str:
    """Return the tap that feeds the last sigmoid: the Linear's output, or the norm's when it comes first."""
    return "linear" if norm == "none" else "norm"


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_a_frozen_network_shows_no_drift_but_its_batches_still_scatter(norm):
    run = Trainer(SIGMOID_NET.replace(norm=norm, lr=1e-9, steps=300)).run()
    for d in probe_drift(run, last_sigmoid_input(norm)):
        assert d.w1 and all(v == 0.0 for v in d.w1)  # same inputs, same weights: the same histogram
        assert d.typical == 0.0 and all(abs(v) < 1e-6 for v in d.net.values())
        assert d.noise_median > 0.001  # sampling a mini-batch is not shift, and it is not zero either


def test_without_batch_norm_the_last_sigmoid_input_drifts_far_more():
    runs = {n: Trainer(SIGMOID_NET.replace(norm=n, lr=0.5)).run() for n in ("none", "batch")}
    drift = {n: probe_drift(r, last_sigmoid_input(n))[-1] for n, r in runs.items()}
    assert drift["none"].typical > 3 * drift["batch"].typical
    assert abs(drift["none"].net["p50"]) > 10 * abs(drift["batch"].net["p50"])
    # with batch norm what the next layer sees moves about as much as one batch differs from another
    assert drift["batch"].typical < 2 * drift["batch"].noise_median


def test_recording_more_often_does_not_add_drift():
    runs = [Trainer(SIGMOID_NET.replace(lr=0.5, every=e)).run() for e in (5, 20)]
    fine, coarse = (probe_drift(r, "linear")[-1] for r in runs)
    assert fine.lag == coarse.lag == 120
    assert fine.typical == pytest.approx(coarse.typical, rel=0.25)


def test_batch_noise_grows_as_the_batch_shrinks():
    frozen = SIGMOID_NET.replace(norm="none", lr=1e-9, steps=200)
    noise = {b: probe_drift(Trainer(frozen.replace(batch_size=b)).run(), "act")[-1].noise_median for b in (4, 64)}
    assert noise[4] > 2 * noise[64]


def test_drift_needs_a_probe_and_says_so():
    run = Trainer(RunConfig(dataset="moons", steps=20, every=5, probe_size=0)).run()
    assert not has_probe(run)
    with pytest.raises(ValueError, match="no probe set"):
        probe_drift(run, "act")
    assert drift_lag([0, 20, 40, 60, 80, 100, 120, 140, 160, 180, 200]) == 20
    assert drift_lag([0, 40, 80, 120, 160, 200, 240, 280, 320, 360, 400, 440, 480]) == 40
