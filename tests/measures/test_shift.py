"""Covariate-shift measures on a live trainer: undisturbed runs, hand-computed updates, precise BN."""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vizcore import RunConfig, Trainer
from vizcore.measures.shift import gradient_shift, shifted_accuracy, smoothness

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
