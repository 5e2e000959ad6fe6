"""Datasets: a registry of generators, one entry per dataset name.

The train/test split never depends on the run's seed, so runs that differ only in
seed differ only in initial weights and batch order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from vizcore.engine.config import DATA_SHAPES, RunConfig

N_POINTS = 1200  # 2-D sets: 1,000 train + 200 test, enough to draw a clean boundary
N_DIGITS = 1797
DATA_SEED = 0  # fixed: the data is part of the experiment, not of the randomness


@dataclass(frozen=True)
class Dataset:
    """Train and test tensors (float32 inputs, int64 labels) and their shape facts."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    input_shape: tuple[int, ...]  # per example: (2,) for points, (1, 8, 8) for digits

    @property
    def n_features(self) -> int:
        """Return the flattened input size."""
        return int(np.prod(self.input_shape))


def _moons(noise: float, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_moons

    return make_moons(N_POINTS, noise=noise, random_state=rng)


def _circles(noise: float, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_circles

    return make_circles(N_POINTS, noise=noise, factor=0.5, random_state=rng)


def _spirals(noise: float, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    n = N_POINTS // 2
    t = np.sqrt(rng.uniform(0, 1, n)) * 3 * np.pi  # sqrt: even density along the arm
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * np.pi)
    x = np.concatenate([arm, -arm]) + rng.normal(0, noise, (2 * n, 2))
    y = np.concatenate([np.zeros(n, int), np.ones(n, int)])
    return x, y


def _xor(noise: float, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(-1, 1, (N_POINTS, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(int)  # label from the clean point, then jitter
    return x + rng.normal(0, noise, x.shape), y


def _gaussians(noise: float, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_blobs

    # noise 0.1 gives well-separated blobs; noise 1 makes them overlap
    return make_blobs(N_POINTS, centers=[(-1, -1), (1, 1)], cluster_std=0.3 + 2 * noise, random_state=rng)


POINT_SETS: dict[str, Callable[[float, np.random.RandomState], tuple[np.ndarray, np.ndarray]]] = {
    "moons": _moons,
    "circles": _circles,
    "spirals": _spirals,
    "xor": _xor,
    "gaussians": _gaussians,
}


@lru_cache(maxsize=32)
def _raw(name: str, noise: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[int, ...], int]:
    from sklearn.model_selection import train_test_split

    facts = DATA_SHAPES[name]
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x, y, n = d.data.astype(np.float64), d.target, N_DIGITS
    else:
        x, y = POINT_SETS[name](noise, np.random.RandomState(DATA_SEED))
        n = N_POINTS
    test_size = n - facts.n_train  # digits: 20% held out (stratified); points: 200
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=test_size, random_state=DATA_SEED, stratify=y)
    return xtr, ytr, xte, yte, facts.input_shape, facts.n_classes


def load(
    name: str,
    noise: float = 0.1,
    standardize: bool = True,
    train_size: int = 0,
    shift: float = 0.0,
    scale: float = 1.0,
) -> Dataset:
    """Return dataset `name`, standardized with training statistics, test shift applied."""
    xtr, ytr, xte, yte, shape, n_classes = _raw(name, float(noise) if name != "digits" else 0.0)
    if train_size:
        xtr, ytr = xtr[:train_size], ytr[:train_size]  # the split is already shuffled
    if standardize:
        mean, std = xtr.mean(axis=0), xtr.std(axis=0)
        std = np.where(std > 0, std, 1.0)  # digits has always-blank border pixels
        xtr, xte = (xtr - mean) / std, (xte - mean) / std
    xte = xte * scale + shift

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.tensor(a, dtype=torch.float32)

    return Dataset(
        name,
        t(xtr),
        torch.tensor(ytr, dtype=torch.int64),
        t(xte),
        torch.tensor(yte, dtype=torch.int64),
        n_classes,
        shape,
    )


def for_config(cfg: RunConfig) -> Dataset:
    """Return the dataset a RunConfig asks for."""
    return load(cfg.dataset, cfg.noise, cfg.standardize, cfg.train_size, cfg.shift, cfg.scale)
