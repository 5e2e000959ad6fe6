"""Covariate-shift measures: W1 against independent references, undisturbed runs, precise BN."""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vizcore import RunConfig, Trainer
from vizcore.measures.shift import (
    distribution_drift,
    gradient_shift,
    hist_support,
    hist_w1,
    shifted_accuracy,
    smoothness,
)

SMALL = dict(dataset="digits", depth=3, width=16, batch_size=32, steps=300, every=10, eval_every=20)


def without_timing(run: dict) -> dict:
    run = copy.deepcopy(run)
    run.pop("elapsed_s")
    return run


def assert_same_state(a: Trainer, b: Trainer) -> None:
    """The two trainers hold identical runs, weights, buffers, optimizer state and batch stream."""
    assert without_timing(a.export()) == without_timing(b.export())
    sa, sb = a.net.state_dict(), b.net.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    oa, ob = a.opt.state_dict()["state"], b.opt.state_dict()["state"]
    assert oa.keys() == ob.keys()
    for k in oa:
        for name in oa[k]:
            assert torch.equal(torch.as_tensor(oa[k][name]), torch.as_tensor(ob[k][name])), (k, name)
    assert a._cursor == b._cursor and torch.equal(a._perm, b._perm)
    assert torch.equal(a._order_gen.get_state(), b._order_gen.get_state())


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


# ----- distribution drift from a recorded run -----


@pytest.fixture(scope="module")
def bn_run() -> dict:
    return Trainer(RunConfig(**{**SMALL, "steps": 120, "every": 20})).run()


@pytest.mark.parametrize("tap", ["linear", "norm", "act"])
def test_drift_is_aligned_with_the_later_snapshot(bn_run, tap):
    drift = distribution_drift(bn_run, tap)
    steps = bn_run["layers"][0]["steps"]
    assert steps == [0, 20, 40, 60, 80, 100]
    assert drift["steps"] == steps[1:]
    assert [d["name"] for d in drift["layers"]] == ["block1", "block2", "block3"]
    for layer, d in zip(bn_run["layers"], drift["layers"]):
        t = layer["taps"][tap]
        for key in ("w1", "dmean", "dstd"):
            assert len(d[key]) == len(drift["steps"])
        assert all(v is not None and v >= 0 for v in d["w1"])
        np.testing.assert_allclose(d["dmean"], np.diff(t["mean"]), rtol=1e-12)
        np.testing.assert_allclose(d["dstd"], np.diff(t["std"]), rtol=1e-12)
        h = t["hist"]
        i = 3  # frames 2 -> 3: steps 40 -> 60
        p = np.array([h["under"][i - 1], *h["counts"][i - 1], h["over"][i - 1]], float)
        q = np.array([h["under"][i], *h["counts"][i], h["over"][i]], float)
        assert d["w1"][i - 1] == pytest.approx(w1_reference_quantiles(hist_support(h["edges"]), p, q), rel=1e-9)


def test_drift_has_nulls_where_a_frame_is_missing(bn_run):
    run = copy.deepcopy(bn_run)
    t = run["layers"][1]["taps"]["act"]
    bins = len(t["hist"]["counts"][2])
    t["hist"]["counts"][2] = [0] * bins  # a frame whose values were all non-finite
    t["hist"]["under"][2] = t["hist"]["over"][2] = 0
    t["mean"][2] = t["std"][2] = None
    d = distribution_drift(run, "act")["layers"][1]
    for key in ("w1", "dmean", "dstd"):
        assert d[key][1] is None and d[key][2] is None  # the pairs (1, 2) and (2, 3)
        assert d[key][0] is not None and d[key][3] is not None


def test_drift_rejects_a_tap_the_run_did_not_record():
    run = Trainer(RunConfig(**{**SMALL, "norm": "none", "steps": 20})).run()
    with pytest.raises(ValueError, match="norm"):
        distribution_drift(run, "norm")
    assert len(distribution_drift(run, "act")["steps"]) == 1


# ----- Santurkar et al.'s gradient shift -----


@pytest.mark.parametrize(
    "changes",
    [
        dict(norm="batch", optimizer="sgd"),
        dict(norm="none", optimizer="momentum"),
        dict(norm="batch", optimizer="adam", lr=0.003, norm_noise=0.5),
        dict(norm="layer", optimizer="momentum", model="cnn", depth=2, width=8),
    ],
)
def test_gradient_shift_does_not_disturb_the_run(changes):
    cfg = RunConfig(**{**SMALL, **changes})
    trainer, twin = Trainer(cfg), Trainer(cfg)
    trainer.step(7)  # start mid-way between measurements
    result = gradient_shift(trainer, 48, every=10)
    twin.step(55)
    assert_same_state(trainer, twin)
    trainer.step(60)  # and the two keep training identically (batch order, noise stream)
    twin.step(60)
    assert_same_state(trainer, twin)

    assert result["steps"] == [10, 20, 30, 40, 50]
    layers = result["layers"]
    assert [layer["name"] for layer in layers] == [f"block{i + 1}" for i in range(cfg.depth)]
    assert layers[0]["l2"] == [0.0] * 5 and layers[0]["cos"] == [1.0] * 5
    for layer in layers:
        assert all(len(layer[k]) == 5 for k in ("l2", "cos", "grad_norm"))
        assert all(v is not None and math.isfinite(v) and v >= 0 for v in layer["l2"] + layer["grad_norm"])
        assert all(v is not None and -1 <= v <= 1 for v in layer["cos"])
    assert any(v > 0 for layer in layers[1:] for v in layer["l2"])


@pytest.mark.parametrize("norm", ["batch", "none"])
def test_gradient_shift_matches_a_hand_computed_update(norm):
    """With plain SGD, G' is the gradient after W_j -= lr * grad_j for the earlier blocks j only."""
    cfg = RunConfig(**{**SMALL, "norm": norm})
    trainer, twin = Trainer(cfg), Trainer(cfg)
    trainer.step(13)
    twin.step(13)
    x, y = twin._next_batch()  # the batch trainer's step 13 trains on
    net = copy.deepcopy(trainer.net).train()
    blocks = list(net.blocks)
    loss = F.cross_entropy(net(x), y)
    weights = [b.linear.weight for b in blocks]
    grads = torch.autograd.grad(loss, weights + [p for b in blocks for p in b.parameters()])
    g_w = grads[: len(blocks)]
    g_all = dict(zip([id(p) for b in blocks for p in b.parameters()], grads[len(blocks) :]))
    start = {k: v.clone() for k, v in net.state_dict().items()}

    expected = [0.0]
    for i in range(1, len(blocks)):
        net.load_state_dict(start)
        with torch.no_grad():
            for b in blocks[:i]:
                for p in b.parameters():
                    p -= cfg.lr * g_all[id(p)]
        g2 = torch.autograd.grad(F.cross_entropy(net(x), y), blocks[i].linear.weight)[0]
        expected.append(float((g_w[i] - g2).norm()))

    result = gradient_shift(trainer, 1, every=1)
    assert result["steps"] == [13]
    got = [layer["l2"][0] for layer in result["layers"]]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(
        [layer["grad_norm"][0] for layer in result["layers"]], [float(g.norm()) for g in g_w], rtol=1e-5
    )


def test_gradient_shift_replays_the_same_noise_in_both_passes():
    """With a vanishing learning rate G' = G, even though "noisy BN" redraws its noise every pass."""
    cfg = RunConfig(**{**SMALL, "norm_noise": 1.0, "lr": 1e-7})
    result = gradient_shift(Trainer(cfg), 21, every=10)
    for layer in result["layers"]:
        for l2, norm in zip(layer["l2"], layer["grad_norm"]):
            assert l2 <= 1e-4 * norm


def test_gradient_shift_stops_with_the_run():
    cfg = RunConfig(**{**SMALL, "steps": 25})
    trainer = Trainer(cfg)
    result = gradient_shift(trainer, 100, every=10)
    assert result["steps"] == [0, 10, 20]
    assert trainer.steps_done == 25 and trainer.status == "completed"
    assert gradient_shift(trainer, 10)["steps"] == []


# ----- smoothness along the gradient -----


@pytest.mark.parametrize("norm", ["batch", "none"])
def test_smoothness_does_not_disturb_the_run(norm):
    cfg = RunConfig(**{**SMALL, "norm": norm, "optimizer": "momentum", "lr": 0.05})
    trainer, twin = Trainer(cfg), Trainer(cfg)
    trainer.step(3)
    twin.step(3)
    sizes = (0.05, 0.1, 0.2, 0.4)
    result = smoothness(trainer, sizes, every=20, steps=60)
    twin.step(60)
    assert_same_state(trainer, twin)
    trainer.step(40)
    twin.step(40)
    assert_same_state(trainer, twin)

    assert result["steps"] == [20, 40, 60]
    assert result["step_sizes"] == list(sizes)
    n = len(result["steps"])
    for key in ("loss", "loss_range", "grad_change_max", "beta"):
        assert len(result[key]) == n
        assert all(v is not None and math.isfinite(v) and v >= 0 for v in result[key]), key
    for losses, changes, rng, top in zip(
        result["loss_at"], result["grad_change"], result["loss_range"], result["grad_change_max"]
    ):
        assert len(losses) == len(changes) == len(sizes)
        assert rng == pytest.approx(max(losses) - min(losses))
        assert top == max(changes)


def test_smoothness_loss_matches_a_hand_computed_move():
    cfg = RunConfig(**SMALL)
    trainer, twin = Trainer(cfg), Trainer(cfg)
    x, y = twin._next_batch()
    net = copy.deepcopy(trainer.net).train()
    params = list(net.parameters())
    g = torch.autograd.grad(F.cross_entropy(net(x), y), params)
    with torch.no_grad():
        for p, gi in zip(params, g):
            p -= 0.2 * gi
        expected = F.cross_entropy(net(x), y).item()
    result = smoothness(trainer, (0.2,), every=5, steps=1)
    assert result["steps"] == [0]
    assert result["loss_at"][0][0] == pytest.approx(expected, rel=1e-5)
    assert result["loss_range"] == [0.0]


# ----- external covariate shift -----


@pytest.fixture(scope="module")
def bn_digits() -> Trainer:
    trainer = Trainer(RunConfig(dataset="digits", depth=3, width=32, steps=300))
    trainer.run()
    return trainer


def test_unshifted_running_accuracy_is_evaluate(bn_digits):
    result = shifted_accuracy(bn_digits, [0.0])
    acc = bn_digits.evaluate(bn_digits.data.x_test, bn_digits.data.y_test)[1]
    assert result["shift"] == [0.0] and result["scale"] == [1.0]
    assert result["running"] == [acc]
    assert acc > 0.85


def test_recomputed_statistics_restore_accuracy_under_shift(bn_digits):
    before = {k: v.clone() for k, v in bn_digits.net.state_dict().items()}
    mode = bn_digits.net.training
    result = shifted_accuracy(bn_digits, [0.0, 2.0], [1.0, 0.5])
    assert result["shift"] == [0.0, 0.0, 2.0, 2.0] and result["scale"] == [1.0, 0.5, 1.0, 0.5]
    running, recomputed = result["running"], result["recomputed"]
    assert len(running) == len(recomputed) == 4
    # Linear -> batch norm: a constant shift of every input only moves each unit's mean, which
    # statistics recomputed on the shifted inputs remove again; running statistics do not.
    assert recomputed[2] > running[2] + 0.1
    assert recomputed[2] == pytest.approx(recomputed[0], abs=0.02)
    after = bn_digits.net.state_dict()
    for k in before:  # weights and batch-norm buffers (running mean/var, batches tracked)
        assert torch.equal(before[k], after[k]), k
    assert bn_digits.net.training == mode


def test_layer_norm_has_no_statistics_to_recompute():
    trainer = Trainer(RunConfig(**{**SMALL, "norm": "layer", "steps": 40}))
    trainer.run()
    result = shifted_accuracy(trainer, [0.0, 1.0, 2.0])
    assert result["recomputed"] is None
    assert len(result["running"]) == 3 and all(0 <= a <= 1 for a in result["running"])
    assert result["running"][0] == trainer.evaluate(trainer.data.x_test, trainer.data.y_test)[1]
