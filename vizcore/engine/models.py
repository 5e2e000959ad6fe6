"""Models: blocks of Linear|Conv -> norm -> activation, and their initialization.

Each block keeps its three parts as named submodules (`linear`, `norm`, `act`) so
the recorder can hook the three taps by name. Initialization draws from the run's
own generator, so concurrent runs in one process never disturb each other.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, cast

import torch
from torch import nn

from vizcore.engine.config import CONV_KERNEL, RunConfig, pooled
from vizcore.engine.norms import make_norm

# The names torch.nn.init.calculate_gain knows that an Activation can use.
GainName = Literal["relu", "leaky_relu", "tanh", "sigmoid", "linear"]


@dataclass(frozen=True)
class Activation:
    """An activation and the region where its gradient all but vanishes."""

    make: Callable[[], nn.Module]
    # saturated(v) -> bool mask (a numpy array or a tensor) on the activation's output, or on
    # its input if `on_input`; None when it never saturates.
    saturated: "Callable[[torch.Tensor], torch.Tensor] | None"
    saturation_rule: str
    gain_name: GainName  # for nn.init.calculate_gain
    bounds: "tuple[float, float] | None" = None  # output range, for fixed histogram edges
    # A rule on the output needs an output that tells the flat region apart: GELU's does not
    # (its output is non-monotone), so its rule reads the input.
    on_input: bool = False


ACTIVATIONS: dict[str, Activation] = {
    # makemore's rule for tanh (|y| > 0.97, local gradient < 0.06); sigmoid(x) =
    # (1 + tanh(x/2)) / 2, so the same rule there is |2y - 1| > 0.97.
    "relu": Activation(nn.ReLU, lambda y: y <= 0, "output is 0 (no gradient flows)", "relu"),
    "leaky_relu": Activation(lambda: nn.LeakyReLU(0.01), lambda y: y < 0, "input < 0 (gradient 0.01)", "leaky_relu"),
    "tanh": Activation(nn.Tanh, lambda y: abs(y) > 0.97, "|output| > 0.97", "tanh", (-1.0, 1.0)),
    "sigmoid": Activation(
        nn.Sigmoid, lambda y: abs(2 * y - 1) > 0.97, "output < 0.015 or > 0.985", "sigmoid", (0.0, 1.0)
    ),
    # GELU's gradient is below 0.04 in magnitude for inputs under -2.5 (0.038 there, about 3% of
    # its largest, 1.13). Its output cannot say so: an output in (-0.0175, 0) comes from that
    # tail and from inputs in (-0.036, 0), where the gradient is 0.47.
    "gelu": Activation(nn.GELU, lambda x: x < -2.5, "input < -2.5 (|gradient| < 0.04)", "relu", on_input=True),
    "linear": Activation(nn.Identity, None, "never saturates", "linear"),
}


def act_input_tap(norm: str, placement: str) -> str:
    """Return the tap whose output is the activation's input: "norm" if a norm comes before it, else "linear"."""
    return "norm" if norm != "none" and placement == "before" else "linear"


class Block(nn.Module):
    """Linear|Conv -> norm -> act (placement "before") or Linear|Conv -> act -> norm ("after")."""

    def __init__(self, linear: "nn.Linear | nn.Conv2d", norm: "nn.Module | None", act: nn.Module, placement: str):
        super().__init__()
        self.linear: nn.Linear | nn.Conv2d = linear
        self.norm = norm
        self.act = act
        self.placement = placement

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.linear(x)
        if self.norm is None:
            return self.act(z)
        if self.placement == "before":
            return self.act(self.norm(z))
        return self.norm(self.act(z))


class Net(nn.Module):
    """Hidden blocks, then a linear head to class logits."""

    def __init__(self, blocks: list[Block], between: list[nn.Module], head: nn.Linear, input_shape: tuple[int, ...]):
        super().__init__()
        # A ModuleList registers the blocks; typed as what it holds, so callers see Block, not Module.
        self.blocks = cast("Sequence[Block]", nn.ModuleList(blocks))
        self.between = nn.ModuleList(between)  # pooling after a conv block, or Identity
        self.head = head
        self.input_shape = input_shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.view(x.shape[0], *self.input_shape)
        for block, after in zip(self.blocks, self.between, strict=False):
            x = after(block(x))
        return self.head(x.flatten(1))


def _noise_generator(cfg: RunConfig) -> "torch.Generator | None":
    # One stream per run for "noisy BN", shared by its blocks in forward order: reproducible.
    return torch.Generator(device="cpu").manual_seed(cfg.seed + 7) if cfg.norm_noise else None


def _mlp(cfg: RunConfig, input_shape: tuple[int, ...], n_classes: int) -> Net:
    act = ACTIVATIONS[cfg.activation]
    blocks, n_in = [], int(math.prod(input_shape))
    noise = _noise_generator(cfg)
    for _ in range(cfg.depth):
        norm = make_norm(cfg.width, None, cfg, noise)
        blocks.append(Block(nn.Linear(n_in, cfg.width), norm, act.make(), cfg.placement))
        n_in = cfg.width
    flat = (int(math.prod(input_shape)),)
    return Net(blocks, [nn.Identity() for _ in blocks], nn.Linear(n_in, n_classes), flat)


def _cnn(cfg: RunConfig, input_shape: tuple[int, ...], n_classes: int) -> Net:
    act = ACTIVATIONS[cfg.activation]
    channels, size = input_shape[0], input_shape[1]
    blocks: list[Block] = []
    between: list[nn.Module] = []
    noise = _noise_generator(cfg)
    for _ in range(cfg.depth):
        conv = nn.Conv2d(channels, cfg.width, CONV_KERNEL, padding=CONV_KERNEL // 2)
        blocks.append(Block(conv, make_norm(cfg.width, (size, size), cfg, noise), act.make(), cfg.placement))
        # Halve the 8x8 map while it is larger than 2x2: later blocks stay cheap.
        after = pooled(size)
        between.append(nn.MaxPool2d(2) if after < size else nn.Identity())
        channels, size = cfg.width, after
    return Net(blocks, between, nn.Linear(channels * size * size, n_classes), input_shape)


MODELS: dict[str, Callable[..., Net]] = {"mlp": _mlp, "cnn": _cnn}


@contextmanager
def eval_mode(net: nn.Module) -> Iterator[nn.Module]:
    """Yield `net` in eval mode; on exit every submodule gets back the mode it had."""
    # Per module, not net.train(was_training): a net whose batch norms alone are in train mode
    # must come back that way.
    modes = [(m, m.training) for m in net.modules()]
    net.eval()
    try:
        yield net
    finally:
        for m, training in modes:
            m.training = training


def build(
    cfg: RunConfig, input_shape: tuple[int, ...], n_classes: int, generator: "torch.Generator | None" = None
) -> Net:
    """Return the network `cfg` describes, initialized from `generator`."""
    net = MODELS[cfg.model](cfg, input_shape, n_classes)
    if generator is not None:
        initialize(net, cfg, generator)
    return net


def initialize(net: Net, cfg: RunConfig, generator: torch.Generator) -> None:
    """Re-initialize every Linear/Conv of `net` in place from `generator` (norm layers keep 1/0)."""
    gain_name = ACTIVATIONS[cfg.activation].gain_name
    layers: list[nn.Linear | nn.Conv2d] = [b.linear for b in net.blocks] + [net.head]
    with torch.no_grad():
        for i, layer in enumerate(layers):
            w, b = layer.weight, layer.bias
            assert b is not None  # every Linear/Conv here is built with a bias
            fan_in = nn.init._calculate_correct_fan(w, "fan_in")
            if cfg.init == "default":  # what torch.nn.Linear/Conv2d do in reset_parameters
                nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=generator)
                bound = 1 / math.sqrt(fan_in)
                nn.init.uniform_(b, -bound, bound, generator=generator)
            else:
                if cfg.init == "he":
                    last = i == len(layers) - 1  # the head feeds softmax, not the activation
                    nn.init.kaiming_normal_(w, nonlinearity="linear" if last else gain_name, generator=generator)
                elif cfg.init == "xavier":
                    nn.init.xavier_normal_(w, generator=generator)
                else:  # "normal": N(0, 1), the classic "random Gaussian" init; scale it with init_scale
                    nn.init.normal_(w, 0.0, 1.0, generator=generator)
                nn.init.zeros_(b)
            w.mul_(cfg.init_scale)
