"""Models: the size check's arithmetic is the built network's, and eval_mode gives every module its mode back."""

import itertools

import pytest
import torch
from torch import nn

from vizcore.engine.config import DATA_SHAPES, ConfigError, RunConfig, count_params
from vizcore.engine.models import build, eval_mode


def built_params(cfg: RunConfig) -> int:
    shape = DATA_SHAPES[cfg.dataset]
    with torch.device("meta"):  # shapes only: no memory, no initialization
        net = build(cfg, shape.input_shape, shape.n_classes)
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_count_params_is_the_built_networks(model):
    # Every norm, with and without affine parameters, at depths where the cnn's map stops shrinking.
    checked = 0
    for norm, affine, depth, width, placement in itertools.product(
        ["none", "batch", "layer", "group", "instance", "rms"],
        [True, False],
        [1, 2, 3, 4, 12],
        [4, 12, 64],
        ["before", "after"],
    ):
        try:
            cfg = RunConfig(
                model=model, norm=norm, affine=affine, depth=depth, width=width, groups=2, placement=placement
            )
        except ConfigError:
            continue
        assert count_params(cfg) == built_params(cfg), cfg
        checked += 1
    assert checked > 200
    for dataset in DATA_SHAPES:  # 2-D points: 2 inputs, 2 classes
        cfg = RunConfig(dataset=dataset, norm="rms", depth=3, width=16)
        assert count_params(cfg) == built_params(cfg)


def test_the_size_limit_counts_parameters():
    with pytest.raises(ConfigError) as e:
        RunConfig(depth=12, width=512)
    assert e.value.field == "width" and "parameters; the limit is 2,000,000" in e.value.message


def test_eval_mode_restores_each_modules_own_mode():
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Dropout())
    net.eval()
    net[1].train()  # batch norm alone in train mode, as when statistics are being recomputed
    with eval_mode(net) as same:
        assert same is net and not any(m.training for m in net.modules())
    assert [m.training for m in net.modules()] == [False, False, True, False]
    with pytest.raises(RuntimeError), eval_mode(net):
        raise RuntimeError
    assert [m.training for m in net.modules()] == [False, False, True, False]
