"""Norm layers against torch.nn.functional references."""

import pytest
import torch
import torch.nn.functional as F

from vizcore import RunConfig, Trainer
from vizcore.engine.norms import NORM_LAYERS


def block_io(cfg: RunConfig):
    """Return (trainer, pre-norm input, norm output) for the first block on one training batch."""
    t = Trainer(cfg)
    x, _ = t._next_batch()
    seen = {}
    norm = t.net.blocks[0].norm
    h = norm.register_forward_hook(lambda m, a, o: seen.update(inp=a[0].detach(), out=o.detach()))
    t.net.train()
    t.net(x)
    h.remove()
    return t, seen["inp"], seen["out"]


def randomize_affine(module: torch.nn.Module) -> None:
    """Give the affine parameters non-trivial values so the test checks they are applied."""
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g))


@pytest.mark.parametrize("model", ["mlp", "cnn"])
@pytest.mark.parametrize("placement", ["before", "after"])
def test_batch_norm_matches_functional(model, placement):
    cfg = RunConfig(model=model, norm="batch", placement=placement, width=16, batch_size=32)
    t, z, out = block_io(cfg)
    bn = t.net.blocks[0].norm
    ref = F.batch_norm(z, None, None, bn.weight, bn.bias, training=True, eps=cfg.eps)
    torch.testing.assert_close(out, ref)
    # Population statistics of the batch: mean 0, (biased) variance 1 per unit, before the affine step.
    dims = [0] if model == "mlp" else [0, 2, 3]
    torch.testing.assert_close(out.mean(dims), torch.zeros(16), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.var(dims, unbiased=False), torch.ones(16), atol=1e-3, rtol=0)


def test_batch_norm_eval_uses_running_statistics():
    cfg = RunConfig(norm="batch", width=16, batch_size=32, momentum=0.3)
    t = Trainer(cfg)
    t.step(5)
    bn = t.net.blocks[0].norm
    z = torch.randn(7, 16)
    bn.eval()
    ref = F.batch_norm(z, bn.running_mean, bn.running_var, bn.weight, bn.bias, training=False, eps=cfg.eps)
    torch.testing.assert_close(bn(z), ref)
    assert not torch.allclose(bn.running_mean, torch.zeros(16))  # the runs' momentum moved them


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_layer_group_rms_match_functional(model):
    for norm in ("layer", "group", "rms"):
        cfg = RunConfig(model=model, norm=norm, width=16, groups=4)
        t, z, _ = block_io(cfg)
        m = t.net.blocks[0].norm
        randomize_affine(m)
        out = m(z)
        if norm == "group" or (norm == "layer" and model == "cnn"):
            g = cfg.groups if norm == "group" else 1
            ref = F.group_norm(z, g, m.weight, m.bias, cfg.eps)
        elif norm == "layer":
            ref = F.layer_norm(z, (16,), m.weight, m.bias, cfg.eps)
        else:
            dims = tuple(range(1, z.dim()))
            ref = z * torch.rsqrt(z.pow(2).mean(dims, keepdim=True) + cfg.eps) * m.weight
        torch.testing.assert_close(out, ref)


def test_instance_norm_matches_functional_on_cnn():
    cfg = RunConfig(model="cnn", norm="instance", width=8)
    t, z, _ = block_io(cfg)
    m = t.net.blocks[0].norm
    randomize_affine(m)
    torch.testing.assert_close(m(z), F.instance_norm(z, weight=m.weight, bias=m.bias, eps=cfg.eps))


def test_group_norm_extremes_are_layer_and_instance_norm():
    z = torch.randn(4, 6, 5, 5)
    torch.testing.assert_close(F.group_norm(z, 1, eps=1e-5), F.layer_norm(z, z.shape[1:], eps=1e-5))
    torch.testing.assert_close(F.group_norm(z, 6, eps=1e-5), F.instance_norm(z, eps=1e-5))


def test_registry_covers_every_choice():
    from vizcore.engine.config import NORMS

    assert set(NORM_LAYERS) == set(NORMS)


def test_affine_false_has_no_parameters():
    t = Trainer(RunConfig(norm="batch", affine=False))
    assert list(t.net.blocks[0].norm.parameters()) == []
