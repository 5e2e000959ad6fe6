"""RunConfig: the one frozen, validated description of a run.

A config fully determines a run: the same config gives the same numbers,
whatever else trains at the same time. Every default says why it is what it is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, fields
from typing import Any, Literal

DATASETS = ("moons", "circles", "spirals", "xor", "gaussians", "digits")
MODELS = ("mlp", "cnn")
NORMS = ("none", "batch", "layer", "group", "instance", "rms")
# How every page, figure and verdict names a norm in words.
NORM_LABELS = {
    "none": "no normalization",
    "batch": "batch norm",
    "layer": "layer norm",
    "group": "group norm",
    "instance": "instance norm",
    "rms": "RMS norm",
}
PLACEMENTS = ("before", "after")
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "gelu", "linear")
INITS = ("default", "he", "xavier", "normal")
OPTIMIZERS = ("sgd", "momentum", "adam")

# Limits that keep one run from taking a shared server down. They are generous for
# teaching-size networks; the app and the command line give the same message.
MAX_DEPTH = 12
MAX_WIDTH = 512
MAX_BATCH = 2048
MAX_STEPS = 200_000
MAX_PARAMS = 2_000_000


@dataclass(frozen=True)
class DataShape:
    """The facts about a dataset that validation needs; engine.data builds exactly these."""

    n_train: int
    input_shape: tuple[int, ...]  # per example: (2,) for points, (1, 8, 8) for digits
    n_classes: int


# Here, not in engine.data, so that validating a config imports neither torch nor scikit-learn
# (figures read this module's names). digits: 1,797 images, 20% held out; the 2-D sets: 1,000 of 1,200 points.
DATA_SHAPES: dict[str, DataShape] = {
    "digits": DataShape(1437, (1, 8, 8), 10),
    **{name: DataShape(1000, (2,), 2) for name in ("moons", "circles", "spirals", "xor", "gaussians")},
}
CONV_KERNEL = 3  # a cnn block's convolution: 3x3, padding 1 (the map keeps its size)


class ConfigError(ValueError):
    """An invalid run configuration; `field` names the culprit."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class RunConfig:
    # --- data ---
    dataset: Literal["moons", "circles", "spirals", "xor", "gaussians", "digits"] = "digits"
    # digits: 1,797 real 8x8 images, the smallest real data where layer statistics
    # look like those in the papers; the 2-D sets are for decision boundaries.
    noise: float = 0.1  # 2-D sets only: label noise you can see but still learn through
    standardize: bool = True  # zero-mean unit-variance inputs, so the first layer's
    # statistics reflect the network, not the pixel scale (turn off to see the difference)
    train_size: int = 0  # 0 = the whole training split; small values show overfitting
    shift: float = 0.0  # test-time covariate shift: test inputs become x * scale + shift
    scale: float = 1.0
    # --- model ---
    model: Literal["mlp", "cnn"] = "mlp"
    depth: int = 4  # hidden blocks: deep enough for statistics to drift layer to layer
    width: int = 64  # units (mlp) or channels (cnn); a 4x64 mlp trains ~1,300 steps/s on one core here
    activation: Literal["relu", "leaky_relu", "tanh", "sigmoid", "gelu", "linear"] = "relu"
    norm: Literal["none", "batch", "layer", "group", "instance", "rms"] = "batch"
    placement: Literal["before", "after"] = "before"  # before = Ioffe & Szegedy's choice:
    # normalize the pre-activation (Linear -> norm -> act)
    groups: int = 8  # group norm only; must divide width (1 = layer norm, width = instance)
    eps: float = 1e-5  # PyTorch's default for every norm layer
    momentum: float = 0.1  # batch norm's running-average momentum, PyTorch's default
    affine: bool = True  # learned scale (gamma) and shift (beta) after normalizing
    norm_noise: float = 0.0  # Santurkar et al.'s "noisy BN": after each norm, every unit is
    # scaled by U(1, 1+a) and shifted by U(-a, a), redrawn every step (eval: the mean scale), so
    # the next layer's inputs shift all the time. 0 = off
    # --- initialization ---
    init: Literal["default", "he", "xavier", "normal"] = "default"  # PyTorch's own init
    init_scale: float = 1.0  # multiplies every weight after init: <1 vanishes, >1 explodes
    # --- optimization ---
    optimizer: Literal["sgd", "momentum", "adam"] = "sgd"  # plain SGD shows the effect
    # of normalization most clearly; Adam rescales gradients and hides part of it
    lr: float = 0.1  # a rate at which plain SGD on digits learns in a few hundred steps
    batch_size: int = 64  # large enough for stable batch statistics; try 2 or 4
    steps: int = 2000  # a couple of seconds on one core: long enough to see the distributions settle
    seed: int = 0  # initial weights and batch order; the data split never changes
    # --- recording ---
    every: int = 20  # layer snapshot cadence in steps: ~100 frames for the default run
    eval_every: int = 50  # test-set evaluation cadence; costs a full test pass each time
    bins: int = 64  # histogram bins, fixed edges for the whole run
    max_snapshots: int = 256  # history cap: beyond it old frames are thinned 2:1,
    # so a 100,000-step run costs what a 5,000-step run does
    probe_size: int = 256  # training examples drawn once from the seed and measured at every
    # snapshot: a layer's shift on fixed inputs, apart from batch-to-batch sampling noise. 0 = off

    def __post_init__(self) -> None:
        validate(self)

    # ----- conversions -----
    def to_dict(self) -> dict[str, Any]:
        """Return the config as a plain JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        """Return a config built from a dict; unknown keys and wrong types raise ConfigError."""
        if not isinstance(data, dict):
            raise ConfigError("config", f"expected a mapping, got {type(data).__name__}")
        known = {f.name: f for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise ConfigError(key, f"unknown field; valid fields: {', '.join(known)}")
            kwargs[key] = coerce(key, value)
        return cls(**kwargs)

    def replace(self, **changes: Any) -> "RunConfig":
        """Return a copy with `changes` applied (validated)."""
        return dataclasses.replace(self, **{k: coerce(k, v) for k, v in changes.items()})

    @property
    def key(self) -> str:
        """Return a stable content hash: equal configs share it (the run store's id)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


FIELD_TYPES: dict[str, type] = {
    f.name: {"int": int, "float": float, "bool": bool}.get(str(f.type), str) for f in fields(RunConfig)
}
CHOICES: dict[str, tuple[str, ...]] = {
    "dataset": DATASETS,
    "model": MODELS,
    "norm": NORMS,
    "placement": PLACEMENTS,
    "activation": ACTIVATIONS,
    "init": INITS,
    "optimizer": OPTIMIZERS,
}
RANGES: dict[str, tuple[float, float]] = {
    "noise": (0.0, 2.0),
    "shift": (-100.0, 100.0),
    "scale": (-100.0, 100.0),
    "depth": (1, MAX_DEPTH),
    "width": (2, MAX_WIDTH),
    "eps": (1e-12, 1.0),
    "momentum": (0.0, 1.0),
    "groups": (1, MAX_WIDTH),  # checked whatever the norm; dividing the width is group norm's own rule
    "norm_noise": (0.0, 10.0),
    "init_scale": (1e-6, 1e6),
    "lr": (1e-9, 1e9),
    "batch_size": (1, MAX_BATCH),
    "steps": (1, MAX_STEPS),
    "seed": (0, 2**31 - 1),
    "every": (1, MAX_STEPS),
    "eval_every": (1, MAX_STEPS),
    "bins": (4, 256),
    "max_snapshots": (8, 4096),
    "probe_size": (0, 2048),
}


def fitting_groups(width: int, groups: int, model: str = "mlp") -> int:
    """Return `groups` if it is a valid group count for `width`, else the nearest valid one below it.

    That is their greatest common divisor, and never one unit a group on an mlp (which normalizes
    every unit to 0): pages that switch a run to group norm use it instead of refusing the switch.
    """
    g = math.gcd(width, max(1, groups))
    if model == "mlp" and g == width:
        g = max(d for d in range(1, width) if width % d == 0)
    return g


def coerce(name: str, value: Any) -> Any:
    """Return `value` converted to field `name`'s type; strings (URL, CLI) are parsed."""
    if name not in FIELD_TYPES:
        raise ConfigError(name, f"unknown field; valid fields: {', '.join(FIELD_TYPES)}")
    kind = FIELD_TYPES[name]
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
            return False
        raise ConfigError(name, f"expected true or false, got {value!r}")
    if kind is int:
        if isinstance(value, bool):
            raise ConfigError(name, f"expected a whole number, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ConfigError(name, f"expected a whole number, got {value!r}")
    if kind is float:
        if isinstance(value, bool):
            raise ConfigError(name, f"expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ConfigError(name, f"expected a number, got {value!r}")
    if not isinstance(value, str):
        raise ConfigError(name, f"expected one of {', '.join(CHOICES[name])}, got {value!r}")
    return value


def _range(name: str, value: float, lo: float, hi: float) -> None:
    if not (lo <= value <= hi):
        raise ConfigError(name, f"must be between {lo:g} and {hi:g}, got {value!r}")


def _finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ConfigError(name, f"must be a finite number, got {value!r}")


def validate(cfg: RunConfig) -> None:
    """Raise ConfigError for the first invalid field or combination; return None if valid.

    One rule for every field: a value outside its range (RANGES, CHOICES, its type) is refused
    whatever the other fields are, even where the current choice ignores it (`groups=0` with batch
    norm, `momentum=5` with layer norm). Only combination rules (groups must divide the width, batch
    norm needs a batch of 2) depend on the choice that uses them.
    """
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        kind = FIELD_TYPES[f.name]
        if kind is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ConfigError(f.name, f"expected a number, got {value!r}")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f.name, f"expected a whole number, got {value!r}")
        if kind is bool and not isinstance(value, bool):
            raise ConfigError(f.name, f"expected true or false, got {value!r}")
        if kind is float:
            _finite(f.name, value)
        if f.name in CHOICES and value not in CHOICES[f.name]:
            raise ConfigError(f.name, f"unknown {f.name} {value!r}; choose one of {', '.join(CHOICES[f.name])}")

    if cfg.lr <= 0:
        raise ConfigError("lr", f"learning rate must be positive, got {cfg.lr!r}")
    for name, (lo, hi) in RANGES.items():
        _range(name, getattr(cfg, name), lo, hi)

    if cfg.norm_noise and cfg.norm == "none":
        raise ConfigError("norm_noise", "noise is injected after each norm layer; choose a norm other than none")

    if cfg.model == "cnn" and cfg.dataset != "digits":
        raise ConfigError("model", f"cnn needs image data (dataset digits); {cfg.dataset} is 2-D points: use mlp")
    if cfg.model == "cnn" and cfg.width > 128:
        raise ConfigError("width", f"a cnn has at most 128 channels here, got {cfg.width}")
    n_train = DATA_SHAPES[cfg.dataset].n_train
    if cfg.train_size < 0 or cfg.train_size > n_train:
        raise ConfigError("train_size", f"must be 0 (all) or 1 to {n_train} for {cfg.dataset}, got {cfg.train_size}")
    usable = cfg.train_size or n_train
    if cfg.batch_size > usable:
        raise ConfigError(
            "batch_size", f"batch of {cfg.batch_size} is larger than the training set ({usable} examples)"
        )
    if cfg.probe_size == 1:
        raise ConfigError("probe_size", "a probe set needs 0 (off) or at least 2 examples, for batch statistics")
    if cfg.norm == "batch" and cfg.batch_size < 2:
        raise ConfigError(
            "batch_size",
            "batch norm needs at least 2 examples per batch to estimate a mean and variance; "
            "use batch size 2 or more, or layer/group norm",
        )
    if cfg.norm == "instance" and cfg.model == "mlp":
        raise ConfigError(
            "norm",
            "instance norm normalizes each channel of one example over its spatial positions; "
            "an mlp unit has one value per example, so there is nothing to normalize over. "
            "Use model cnn, or layer norm",
        )
    if cfg.norm == "group" and cfg.width % cfg.groups:
        # an mlp's width itself is no choice: one unit a group (the rule below)
        divisors = [d for d in range(1, cfg.width + (cfg.model != "mlp")) if cfg.width % d == 0]
        raise ConfigError(
            "groups", f"{cfg.groups} groups do not divide width {cfg.width}; valid: {', '.join(map(str, divisors))}"
        )
    if cfg.norm == "group" and cfg.model == "mlp" and cfg.groups == cfg.width:
        # A group of one mlp unit holds one value per example: normalized, it is always 0,
        # so the block's output is constant and nothing after it can learn.
        divisors = [d for d in range(1, cfg.width) if cfg.width % d == 0]
        raise ConfigError(
            "groups",
            f"{cfg.groups} groups of a width-{cfg.width} mlp put one unit in each group, which normalizes to 0 "
            f"whatever the input; use fewer groups ({', '.join(map(str, divisors))}), or a cnn, where a group "
            "also spans spatial positions",
        )
    n = count_params(cfg)
    if n > MAX_PARAMS:
        raise ConfigError("width", f"the model would have {n:,} parameters; the limit is {MAX_PARAMS:,}")


def pooled(size: int) -> int:
    """Return the side of a cnn feature map after a block: halved (max-pooled) while larger than 2x2."""
    return size // 2 if size > 2 else size


def count_params(cfg: RunConfig) -> int:
    """Return the number of trainable parameters of the network engine.models builds for `cfg`.

    Counted, not built: the size check runs for every config a page makes, and building the modules
    needs torch. tests/engine/test_models.py checks the count against the built network.
    """
    data = DATA_SHAPES[cfg.dataset]
    w, total = cfg.width, 0
    if cfg.model == "mlp":
        n_in = math.prod(data.input_shape)
        for _ in range(cfg.depth):
            total += n_in * w + w + _norm_params(cfg, 1)
            n_in = w
        return total + n_in * data.n_classes + data.n_classes
    channels, size = data.input_shape[0], data.input_shape[1]
    for _ in range(cfg.depth):
        total += channels * w * CONV_KERNEL**2 + w + _norm_params(cfg, size * size)
        channels, size = w, pooled(size)
    return total + channels * size * size * data.n_classes + data.n_classes


def _norm_params(cfg: RunConfig, positions: int) -> int:
    """Return one norm layer's learned parameters: a scale and a shift per unit, RMS norm a scale per value."""
    if cfg.norm == "none" or not cfg.affine:
        return 0
    if cfg.norm == "rms":  # torch's RMSNorm over (C, H, W) has one scale per position of the map
        return cfg.width * positions
    return 2 * cfg.width
