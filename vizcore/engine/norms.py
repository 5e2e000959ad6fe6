"""Normalization layers: a registry, one entry per `RunConfig.norm` choice.

Every entry returns PyTorch's own module where one exists, so what the app shows
is what `torch.nn` computes. A new norm is one function and one registry line.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from vizcore.engine.config import RunConfig

# factory(num_features, spatial, cfg) -> module or None. `spatial` is (H, W) for
# convolutional feature maps and None for an mlp's (N, F) features.
NormFactory = Callable[[int, "tuple[int, int] | None", RunConfig], "nn.Module | None"]


def _none(num_features: int, spatial: "tuple[int, int] | None", cfg: RunConfig) -> None:
    return None


def _batch(num_features: int, spatial: "tuple[int, int] | None", cfg: RunConfig) -> nn.Module:
    cls = nn.BatchNorm1d if spatial is None else nn.BatchNorm2d
    return cls(num_features, eps=cfg.eps, momentum=cfg.momentum, affine=cfg.affine)


def _layer(num_features: int, spatial: "tuple[int, int] | None", cfg: RunConfig) -> nn.Module:
    if spatial is None:
        return nn.LayerNorm(num_features, eps=cfg.eps, elementwise_affine=cfg.affine)
    # Over (C, H, W) of each example, with per-channel affine: Wu & He's "LN".
    return nn.GroupNorm(1, num_features, eps=cfg.eps, affine=cfg.affine)


def _group(num_features: int, spatial: "tuple[int, int] | None", cfg: RunConfig) -> nn.Module:
    return nn.GroupNorm(cfg.groups, num_features, eps=cfg.eps, affine=cfg.affine)


def _instance(num_features: int, spatial: "tuple[int, int] | None", cfg: RunConfig) -> nn.Module:
    if spatial is None:  # RunConfig rejects this with the reason; kept as a guard
        raise ValueError("instance norm needs spatial feature maps (model cnn)")
    return nn.InstanceNorm2d(num_features, eps=cfg.eps, affine=cfg.affine)


def _rms(num_features: int, spatial: "tuple[int, int] | None", cfg: RunConfig) -> nn.Module:
    shape = [num_features] if spatial is None else [num_features, *spatial]
    return nn.RMSNorm(shape, eps=cfg.eps, elementwise_affine=cfg.affine)


NORM_LAYERS: dict[str, NormFactory] = {
    "none": _none,
    "batch": _batch,
    "layer": _layer,
    "group": _group,
    "instance": _instance,
    "rms": _rms,
}


class NoisyNorm(nn.Module):
    """A norm followed by per-unit noise that changes every training step (Santurkar et al. 2018).

    In train mode each unit j is mapped to s_j * y + m_j with s_j ~ U(1, 1 + a) and
    m_j ~ U(-a, a), drawn afresh at every forward pass from the run's own generator:
    the distribution the next layer sees keeps shifting, which is the "internal
    covariate shift" batch norm is said to remove. Eval mode adds nothing.
    """

    def __init__(self, norm: nn.Module, num_features: int, amount: float, generator: torch.Generator):
        super().__init__()
        self.inner, self.num_features, self.amount, self.generator = norm, num_features, amount, generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.inner(x)
        if not self.training:
            return y * (1 + self.amount / 2)
        shape = (1, self.num_features) + (1,) * (y.dim() - 2)
        u = torch.rand((2, *shape), generator=self.generator)
        return y * (1 + self.amount * u[0]) + self.amount * (2 * u[1] - 1)


def make_norm(
    num_features: int,
    spatial: "tuple[int, int] | None",
    cfg: RunConfig,
    generator: "torch.Generator | None" = None,
) -> "nn.Module | None":
    """Return the norm layer `cfg.norm` asks for (noisy if `cfg.norm_noise`), or None for no normalization."""
    norm = NORM_LAYERS[cfg.norm](num_features, spatial, cfg)
    if norm is not None and cfg.norm_noise > 0:
        gen = generator if generator is not None else torch.Generator().manual_seed(cfg.seed + 7)
        return NoisyNorm(norm, num_features, cfg.norm_noise, gen)
    return norm
