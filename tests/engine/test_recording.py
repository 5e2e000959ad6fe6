"""Recorded statistics against numpy references."""

import numpy as np
import pytest
import torch

from vizcore import RunConfig, Trainer
from vizcore.engine.models import ACTIVATIONS
from vizcore.engine.recording import (
    auto_edges,
    counts_rows,
    counts_sorted,
    nice_ceil,
    quantiles,
    saturation,
    sorted_stats,
)


def np_hist(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """numpy's histogram plus under/over counts."""
    x = x[np.isfinite(x)]
    inside = np.histogram(x, bins=edges)[0]
    return np.concatenate([[np.sum(x < edges[0])], inside, [np.sum(x > edges[-1])]])


@pytest.mark.parametrize("seed", range(5))
def test_histogram_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    edges = np.linspace(-2.0, 2.0, 33)
    x = rng.normal(0, 1.2, (3, 999)).astype(np.float32)
    x[0, :40] = edges[rng.integers(0, 33, 40)]  # values exactly on edges, both ends included
    x[1, :5] = [np.nan, np.inf, -np.inf, 7.0, -7.0]
    s = np.sort(x, axis=1)
    stats, counts = sorted_stats(s, edges)
    for r in range(3):
        np.testing.assert_array_equal(counts[r], np_hist(x[r], edges))
        f = x[r][np.isfinite(x[r])]
        np.testing.assert_allclose(
            stats[r, :7], [f.mean(), f.std(), *np.percentile(f, [15, 50, 85]), f.min(), f.max()], rtol=1e-5, atol=1e-6
        )
        assert stats[r, 7] == pytest.approx(1 - f.size / x.shape[1])


def test_right_edge_belongs_to_last_bin():
    edges = np.array([0.0, 0.5, 1.0])
    np.testing.assert_array_equal(counts_sorted(np.array([0.0, 0.5, 1.0, 1.0]), edges), [0, 1, 3, 0])
    np.testing.assert_array_equal(counts_sorted(np.array([-1.0, 1.5]), edges), [1, 0, 0, 1])


def test_quantiles_match_numpy_on_odd_sizes():
    rng = np.random.default_rng(1)
    for n in (1, 2, 3, 7, 100, 257):
        s = np.sort(rng.normal(size=(2, n)), axis=1)
        np.testing.assert_allclose(quantiles(s), np.percentile(s, [15, 50, 85], axis=1).T, rtol=1e-12)


def test_all_nonfinite_row_gives_nulls_not_errors():
    s = np.sort(np.array([[np.nan, np.inf, -np.inf, np.nan]]), axis=1)
    stats, counts = sorted_stats(s, np.linspace(0, 1, 5))
    assert np.isnan(stats[0, :7]).all() and stats[0, 7] == 1.0 and counts.sum() == 0


def test_edges():
    assert [nice_ceil(v) for v in (0.3, 1.0, 1.01, 3, 7, 0.0007)] == [0.5, 1.0, 2.0, 5.0, 10.0, 0.001]
    np.testing.assert_allclose(auto_edges(-0.3, 1.2, 4), np.linspace(-5, 5, 5))  # 2 x 1.2 -> 5
    assert auto_edges(0.0, 3.0, 4)[0] == 0.0  # nothing negative: [0, R]
    np.testing.assert_array_equal(auto_edges(-5, 5, 2, bounds=(0.0, 1.0)), [0, 0.5, 1])


def capture_first_batch(cfg: RunConfig) -> dict:
    """Run a fresh Trainer's first training forward with independent hooks; return the tap outputs."""
    t = Trainer(cfg)
    x, _ = t._next_batch()
    outs, handles = {}, []
    for i, b in enumerate(t.net.blocks):
        for tap in ("linear", "norm", "act"):
            m = getattr(b, tap)
            if m is not None:
                hook = lambda mod, a, o, key=(i, tap): outs.__setitem__(key, o.detach())  # noqa: E731
                handles.append(m.register_forward_hook(hook))
    t.net.train()
    t.net(x)
    for h in handles:
        h.remove()
    return outs


@pytest.mark.parametrize(
    ("activation", "placement"),
    [("relu", "before"), ("sigmoid", "before"), ("tanh", "before"), ("gelu", "before"), ("gelu", "after")],
)
@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_recorded_frame_matches_independent_hooks(model, activation, placement):
    cfg = RunConfig(
        model=model, activation=activation, placement=placement, depth=3, width=16, steps=5, every=100, batch_size=32
    )
    outs = capture_first_batch(cfg)
    t = Trainer(cfg)
    t.step(1)
    run = t.export()
    for i, layer in enumerate(run["layers"]):
        assert layer["steps"] == [0]
        for tap, rec in layer["taps"].items():
            x = outs[(i, tap)].numpy().ravel()
            edges = np.array(rec["hist"]["edges"])
            h = np_hist(x, edges)
            assert rec["hist"]["counts"][0] == h[1:-1].tolist()
            assert [rec["hist"]["under"][0], rec["hist"]["over"][0]] == [h[0], h[-1]]
            want = [x.mean(), x.std(), *np.percentile(x, [15, 50, 85]), x.min(), x.max()]
            got = [rec[k][0] for k in ("mean", "std", "p15", "p50", "p85", "min", "max")]
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
            act = ACTIVATIONS[activation]
            if tap == "act":  # the rule on the tensor; a unit is dead if saturated for every example and position
                # GELU's rule reads the activation's input: the norm's output before it, else the Linear's
                read = ("norm" if placement == "before" else "linear") if act.on_input else "act"
                mask = act.saturated(outs[(i, read)]).reshape(cfg.batch_size, cfg.width, -1)
                assert rec["saturated"][0] == pytest.approx(mask.float().mean().item())
                assert rec["dead"][0] == pytest.approx(mask.all(dim=2).all(dim=0).float().mean().item())
            else:
                assert rec["saturated"] == [None] and rec["dead"] == [None]


def test_saturation_and_dead_units():
    y = torch.tensor([[[0.99, 0.5], [0.999, 0.01]], [[0.995, 0.5], [0.2, 0.001]]])  # (rows=2, batch=2, units=2)
    sat, dead = saturation(y, ACTIVATIONS["sigmoid"].saturated)
    # row 0: values 0.99,0.5 | 0.999,0.01 -> saturated: 0.99? |2*.99-1|=.98>.97 yes; .999 yes; .01 yes -> 3/4
    np.testing.assert_allclose(sat, [0.75, 0.5])
    # row 0: unit 0 saturated in both examples (0.99, 0.999) -> dead; unit 1 (0.5, 0.01) not -> 1/2
    np.testing.assert_allclose(dead, [0.5, 0.0])


def test_gelu_saturation_is_the_input_tail_only():
    # GELU's output is about x/2 for small negative x: an output rule flagged inputs in (-0.036, 0),
    # where the gradient is 0.47, as saturated. The rule reads the input: below -2.5 only.
    x = torch.tensor([-3.0, -2.6, -2.4, -0.035, -0.01, 0.0, 1.0])
    gelu = ACTIVATIONS["gelu"]
    assert gelu.on_input and gelu.saturated(x).tolist() == [True, True, False, False, False, False, False]
    grad = torch.func.vmap(torch.func.grad(torch.nn.functional.gelu))(x)
    assert (grad.abs()[gelu.saturated(x)] < 0.04).all() and (grad.abs()[~gelu.saturated(x)] > 0.04).all()
    cfg = RunConfig(activation="gelu", norm="none", depth=2, width=16, steps=1, every=1)
    outs = capture_first_batch(cfg)
    t = Trainer(cfg)
    t.step(1)
    for i, layer in enumerate(t.export()["layers"]):
        z = outs[(i, "linear")].numpy()  # no norm: the Linear's output is GELU's input
        assert layer["taps"]["act"]["saturated"][0] == pytest.approx((z < -2.5).mean())
        assert layer["taps"]["act"]["dead"][0] == pytest.approx((z < -2.5).all(axis=0).mean())


def test_relu_saturation_is_fraction_of_zeros():
    cfg = RunConfig(activation="relu", norm="none", depth=2, width=16, steps=1, every=1)
    outs = capture_first_batch(cfg)
    t = Trainer(cfg)
    t.step(1)
    for i, layer in enumerate(t.export()["layers"]):
        a = outs[(i, "act")].numpy()
        assert layer["taps"]["act"]["saturated"][0] == pytest.approx((a <= 0).mean())
        assert layer["taps"]["act"]["dead"][0] == pytest.approx((a <= 0).all(axis=0).mean())


def test_edges_fixed_for_the_run_and_shared_by_blocks():
    run = Trainer(RunConfig(dataset="moons", steps=300, every=10, lr=0.5)).run()
    for tap in ("linear", "norm", "act"):
        edges = {tuple(layer["taps"][tap]["hist"]["edges"]) for layer in run["layers"]}
        assert len(edges) == 1
    sig = Trainer(RunConfig(dataset="moons", activation="sigmoid", steps=3, every=1)).run()
    assert sig["layers"][0]["taps"]["act"]["hist"]["edges"][0] == 0.0
    assert sig["layers"][0]["taps"]["act"]["hist"]["edges"][-1] == 1.0


def test_counts_cover_every_value():
    cfg = RunConfig(dataset="moons", steps=50, every=5, width=8, batch_size=16)
    run = Trainer(cfg).run()
    for layer in run["layers"]:
        for rec in layer["taps"].values():
            for c, u, o in zip(rec["hist"]["counts"], rec["hist"]["under"], rec["hist"]["over"]):
                assert sum(c) + u + o == cfg.batch_size * cfg.width


def test_history_is_bounded_and_thinned_evenly():
    cfg = RunConfig(
        dataset="moons", depth=2, width=8, batch_size=16, steps=3000, every=1, eval_every=1, max_snapshots=16
    )
    t = Trainer(cfg)
    run = t.run(chunk=1000)
    steps = run["layers"][0]["steps"]
    assert 8 <= len(steps) <= 16
    assert steps[0] == 0 and len(set(np.diff(steps))) == 1  # one stride, doubled as needed
    assert t.recorder.layers[0].taps["act"].counts.shape[0] == 16  # preallocated, never grows
    c = run["curves"]
    assert len(c["step"]) <= 4 * 16 and c["step"][-1] == 3000
    # Thinning merges windows: every training example still counts in the curve.
    assert t.curves.sums[: t.curves.count, 2].sum() == 3000 * 16
    losses = [v for v in c["train_loss"] if v is not None]
    assert all(np.isfinite(losses))


def test_successive_exports_equal_fresh_ones_and_share_the_frames_they_have_in_common():
    # A live run exports at every new frame: the next export reuses the last one's values for the
    # frames both hold, also across a thinning (which rewrites the history), and never changes it.
    import copy

    cfg = RunConfig(dataset="moons", depth=2, width=8, batch_size=16, steps=60, every=1, max_snapshots=8)
    t = Trainer(cfg)
    rec, exports = t.recorder, []  # (stride, export reusing the last one's values, export from the arrays alone)
    for _ in range(30):
        t.step(2)
        before = copy.deepcopy(exports[-1][2]) if exports else None
        got = rec.export()
        if before is not None:
            assert exports[-1][2] == before  # the last export was not changed by this one
        rec._exported.clear()
        fresh = rec.export()
        assert got == fresh
        exports.append((rec.stride, got, fresh))
    assert len({e[0] for e in exports}) >= 3  # thinned at least twice on the way
    shared = 0
    for (s0, _, a), (s1, b, _) in zip(exports, exports[1:]):
        rows_a, rows_b = a[0]["taps"]["act"]["hist"]["counts"], b[0]["taps"]["act"]["hist"]["counts"]
        if s0 == s1:  # no thinning between them: the old frames' rows are the same objects
            assert len(rows_b) >= len(rows_a) and all(x is y for x, y in zip(rows_a, rows_b))
            shared += 1
    assert shared >= 10


@pytest.mark.parametrize("seed", range(5))
def test_batched_counts_match_numpy_and_per_row_counts(seed):
    # counts_rows (one batched searchsorted for every row) against numpy.histogram and
    # counts_sorted, with float32 values on, just below and just above every edge.
    rng = np.random.default_rng(seed)
    edges = np.linspace(-1.0, 1.0, 65) if seed % 2 else auto_edges(-0.37, 0.81, 64)
    x = rng.normal(0, 0.7, (5, 777)).astype(np.float32)
    e32 = edges.astype(np.float32)
    x[0, :65] = e32
    x[1, :65] = np.nextafter(e32, np.float32(np.inf))
    x[2, :65] = np.nextafter(e32, np.float32(-np.inf))
    x[3, :3] = [edges[-1], edges[0], np.nextafter(np.float32(edges[-1]), np.float32(2))]
    s = np.sort(x, axis=1)
    counts = counts_rows(s.astype(np.float64), edges)
    for r in range(5):
        np.testing.assert_array_equal(counts[r], np_hist(x[r], edges))
        np.testing.assert_array_equal(counts[r], counts_sorted(s[r], edges))


def test_saturation_of_mlp_rows_equals_general_path():
    rng = np.random.default_rng(3)
    y = torch.from_numpy(rng.normal(0, 1, (4, 32, 16)).astype(np.float32)).relu()
    y[1, :, 5] = 0  # a dead unit
    rule = ACTIVATIONS["relu"].saturated
    sat, dead = saturation(y, rule)
    sat4, dead4 = saturation(y.unsqueeze(-1), rule)  # (rows, batch, units, 1): the general path
    np.testing.assert_array_equal(sat, sat4)
    np.testing.assert_array_equal(dead, dead4)
    assert dead[1] == pytest.approx(1 / 16)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_weight_statistics_match_a_step_taken_by_hand(optimizer):
    # Two trainers of one config start equal and see the same batches: one records a
    # step, the other is stepped here with torch and measured with torch.linalg.
    cfg = RunConfig(dataset="moons", optimizer=optimizer, lr=0.05, steps=5, every=1, depth=3, width=16)
    recorded = Trainer(cfg)
    recorded.step(2)
    layers = recorded.export()["layers"]
    t = Trainer(cfg)
    t.net.train()
    for step in range(2):
        x, y = t._next_batch()
        t.opt.zero_grad()
        torch.nn.functional.cross_entropy(t.net(x), y).backward()
        ws = [b.linear.weight for b in t.net.blocks]
        before = [w.detach().clone() for w in ws]
        grads = [torch.linalg.vector_norm(w.grad).item() for w in ws]
        t.opt.step()
        for i, (w, b) in enumerate(zip(ws, before)):
            norm = torch.linalg.vector_norm(b).item()
            assert layers[i]["grad_norm"][step] == pytest.approx(grads[i], rel=1e-6)
            assert layers[i]["weight_norm"][step] == pytest.approx(norm, rel=1e-6)
            change = torch.linalg.vector_norm(w.detach() - b).item() / norm
            assert layers[i]["update_ratio"][step] == pytest.approx(change, rel=1e-5)
