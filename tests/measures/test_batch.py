"""Batch statistics: mini-batch means stray by ~1/sqrt(B) population stds, the biased batch variance
runs low, train and eval mode disagree at small batches, and precise BN recomputes exact statistics,
all without touching the trainer's network."""

import math

import numpy as np
import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from vizcore import RunConfig, Trainer
from vizcore.measures.batch import (
    accuracy,
    batch_stat_deviation,
    norm_input,
    recompute_bn_stats,
    train_eval_gap,
)


def trained(**changes) -> Trainer:
    t = Trainer(RunConfig(**{"steps": 200, "every": 50, "eval_every": 100, **changes}))
    t.run()
    return t


@pytest.fixture(scope="module")
def bn() -> Trainer:
    return trained(norm="batch")


@pytest.fixture(scope="module")
def plain() -> Trainer:
    return trained(norm="none")


@pytest.fixture(scope="module")
def cnn() -> Trainer:
    return trained(model="cnn", depth=3, width=16, steps=60, norm="batch")


def state(trainer: Trainer) -> dict[str, torch.Tensor]:
    """Every parameter and buffer (running statistics included), cloned."""
    return {k: v.detach().clone() for k, v in trainer.net.state_dict().items()}


def assert_unchanged(trainer: Trainer, before: dict[str, torch.Tensor]) -> None:
    after = trainer.net.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("name", ["bn", "plain"])
@pytest.mark.parametrize("layer", [0, 2])
def test_mean_deviation_is_one_over_sqrt_b(request, name, layer):
    trainer = request.getfixturevalue(name)
    before, mode = state(trainer), trainer.net.training
    out = {b: batch_stat_deviation(trainer, layer, b) for b in (2, 4, 64)}
    for b in (4, 64):
        s, theory = out[b]["summary"], out[b]["theory"]
        assert theory["z_std"] == pytest.approx(1 / math.sqrt(b))
        assert s["z_std"] == pytest.approx(1 / math.sqrt(b), rel=0.25)
        assert s["mean_abs_z"] == pytest.approx(theory["mean_abs_z"], rel=0.25)
        assert abs(s["z_mean"]) < 0.1 / math.sqrt(b) * 5
    assert out[2]["summary"]["mean_abs_z"] > out[4]["summary"]["mean_abs_z"] > out[64]["summary"]["mean_abs_z"]
    # The biased batch variance runs low: half the population variance on average at B = 2.
    assert out[2]["summary"]["log_var_ratio_median"] < 0
    valid = out[2]["valid"]
    assert np.median(out[2]["log_var_ratio"][:, valid]) < 0
    assert out[2]["summary"]["var_ratio_mean"] == pytest.approx(0.5, rel=0.15)
    assert out[64]["summary"]["var_ratio_mean"] == pytest.approx(63 / 64, rel=0.05)
    assert out[2]["theory"]["var_ratio_mean"] == 0.5
    assert_unchanged(trainer, before)
    assert trainer.net.training == mode


def test_deviation_against_a_direct_computation(bn):
    layer, b = 1, 8
    out = batch_stat_deviation(bn, layer, b, n_batches=5, seed=3)
    assert out["mean_z"].shape == out["log_var_ratio"].shape == (5, bn.cfg.width)
    assert out["tap"] == "linear" and out["shape"] == (bn.cfg.width,) and out["values_per_unit"] == b
    # Recompute the features by hand: the blocks before, in eval mode, then the Linear.
    net, was_training = bn.net, bn.net.training
    net.eval()
    try:
        with torch.no_grad():
            h = bn.data.x_train
            for block in net.blocks[:layer]:
                h = block(h)
            feats = net.blocks[layer].linear(h).double()
    finally:
        net.train(was_training)
    torch.testing.assert_close(norm_input(bn, layer).double(), feats)
    pop_mean, pop_var = feats.mean(0), feats.var(0, unbiased=False)
    np.testing.assert_allclose(out["pop_mean"], pop_mean.numpy(), rtol=1e-10)
    gen = torch.Generator().manual_seed(3)
    idx = torch.randperm(feats.shape[0], generator=gen)[:b]  # the first batch the function drew
    first = feats[idx]
    z = (first.mean(0) - pop_mean) / pop_var.sqrt()
    log_ratio = torch.log(first.var(0, unbiased=False) / pop_var)
    np.testing.assert_allclose(out["mean_z"][0], z.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out["log_var_ratio"][0], log_ratio.numpy(), rtol=1e-9, atol=1e-12)
    # Same seed, same batches.
    again = batch_stat_deviation(bn, layer, b, n_batches=5, seed=3)
    np.testing.assert_array_equal(again["mean_z"], out["mean_z"])


def test_cnn_per_channel_statistics(cnn):
    out = batch_stat_deviation(cnn, 0, 8, n_batches=20)
    assert out["shape"] == (16, 8, 8) and out["mean_z"].shape == (20, 16)
    assert out["values_per_unit"] == 8 * 64
    feats = norm_input(cnn, 0).double()
    np.testing.assert_allclose(out["pop_mean"], feats.mean(dim=(0, 2, 3)).numpy(), rtol=1e-10)
    np.testing.assert_allclose(out["pop_var"], feats.var(dim=(0, 2, 3), unbiased=False).numpy(), rtol=1e-10)
    deeper = batch_stat_deviation(cnn, 1, 8, n_batches=20)
    assert deeper["shape"] == (16, 4, 4)
    assert math.isfinite(deeper["summary"]["z_std"])


def test_placement_after_reads_the_activation():
    t = trained(norm="batch", placement="after", steps=20)
    out = batch_stat_deviation(t, 0, 16, n_batches=10)
    assert out["tap"] == "act"
    assert (out["pop_mean"] >= 0).all()  # relu outputs
    with pytest.raises(ValueError, match="layer"):
        batch_stat_deviation(t, 9, 16)
    with pytest.raises(ValueError, match="batch_size"):
        batch_stat_deviation(t, 0, 10_000)


def test_train_eval_gap(bn, plain):
    before, mode = state(bn), bn.net.training
    gap = train_eval_gap(bn, batch_size=2)
    assert_unchanged(bn, before)  # running statistics did not move
    assert bn.net.training == mode
    assert gap["test_eval_acc"] == bn.evaluate(bn.data.x_test, bn.data.y_test)[1]
    assert gap["train_eval_acc"] == bn.evaluate(bn.data.x_train, bn.data.y_train)[1]
    assert gap["test_gap"] == gap["test_eval_acc"] - gap["test_train_mode_acc"]
    assert gap["has_batch_norm"] and gap["batch_size"] == 2
    assert gap["test_gap"] > 0.1  # statistics of 2 examples are a poor stand-in for the population
    default = train_eval_gap(bn)
    assert default["batch_size"] == bn.cfg.batch_size
    assert abs(default["test_gap"]) < abs(gap["test_gap"])
    # Without batch norm the two modes compute the same function.
    none = train_eval_gap(plain, batch_size=2)
    assert not none["has_batch_norm"]
    assert abs(none["test_gap"]) <= 1 / len(plain.data.y_test)
    with pytest.raises(ValueError, match="batch_size"):
        train_eval_gap(bn, batch_size=1)


def prenorm_features(net: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The input of every batch-norm layer of `net` in eval mode on `x`, in one full pass."""
    seen = []
    handles = [
        m.register_forward_pre_hook(lambda mod, inp: seen.append(inp[0].double()))
        for m in net.modules()
        if isinstance(m, _BatchNorm)
    ]
    net.eval()
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    return seen


@pytest.mark.parametrize("name", ["bn", "cnn"])
def test_recompute_bn_stats(request, name):
    trainer = request.getfixturevalue(name)
    x = trainer.data.x_test * 1.5 + 0.5  # a covariate shift the running averages never saw
    before, mode = state(trainer), trainer.net.training
    net = recompute_bn_stats(trainer, x, batch_size=37)
    assert net is not trainer.net
    assert_unchanged(trainer, before)
    assert trainer.net.training == mode
    bns = [m for m in net.modules() if isinstance(m, _BatchNorm)]
    assert len(bns) == trainer.cfg.depth
    # First layer, fully independently: the population mean of the first Linear/Conv output.
    with torch.no_grad():
        z = trainer.net.blocks[0].linear(x.view(x.shape[0], *trainer.net.input_shape)).double()
    dims = [0, *range(2, z.dim())]
    torch.testing.assert_close(bns[0].running_mean, z.mean(dims).float())
    torch.testing.assert_close(bns[0].running_var, z.var(dims, unbiased=True).float())
    # Every layer: its statistics are those of what it sees when the copy is evaluated on x.
    for m, feats in zip(bns, prenorm_features(net, x), strict=True):
        dims = [0, *range(2, feats.dim())]
        torch.testing.assert_close(m.running_mean, feats.mean(dims).float())
        torch.testing.assert_close(m.running_var, feats.var(dims).float())
    # The chunk size only bounds the forward passes.
    other = recompute_bn_stats(trainer, x)
    for a, b in zip(bns, [m for m in other.modules() if isinstance(m, _BatchNorm)], strict=True):
        torch.testing.assert_close(a.running_mean, b.running_mean)
    # Precise statistics of the shifted inputs recover accuracy the stale running averages lose.
    y = trainer.data.y_test
    assert accuracy(net, x, y) >= accuracy(trainer.net, x, y)


def test_recompute_without_batch_norm_is_a_plain_copy(plain):
    net = recompute_bn_stats(plain, plain.data.x_test)
    assert net is not plain.net
    for a, b in zip(net.state_dict().values(), plain.net.state_dict().values(), strict=True):
        assert torch.equal(a, b)
