"""Datasets: real digits, fixed splits, standardization and test-time shift."""

import numpy as np
import pytest
import torch

from vizcore.engine import data


def test_digits_is_sklearns_real_data():
    from sklearn.datasets import load_digits

    d = data.load("digits", standardize=False)
    assert d.x_train.shape == (1437, 64) and d.x_test.shape == (360, 64)
    assert d.n_classes == 10 and d.input_shape == (1, 8, 8)
    raw = load_digits()
    # every training image is one of the real images
    rows = {tuple(r) for r in raw.data.astype(np.float32)}
    assert all(tuple(r) in rows for r in d.x_train.numpy()[:50])
    assert np.bincount(d.y_test.numpy()).min() >= 30  # stratified


@pytest.mark.parametrize("name", ["moons", "circles", "spirals", "xor", "gaussians"])
def test_point_sets(name):
    d = data.load(name, noise=0.1)
    assert d.x_train.shape == (1000, 2) and d.x_test.shape == (200, 2) and d.n_classes == 2
    assert set(d.y_train.unique().tolist()) == {0, 1}
    assert torch.equal(d.x_train, data.load(name, noise=0.1).x_train)  # fixed split
    assert not torch.equal(d.x_train, data.load(name, noise=0.3).x_train)


def test_standardize_uses_training_statistics():
    d = data.load("digits", standardize=True)
    mean, std = d.x_train.mean(0), d.x_train.std(0, unbiased=False)
    torch.testing.assert_close(mean, torch.zeros(64), atol=1e-5, rtol=0)
    assert ((std - 1).abs() < 1e-4).sum() >= 60  # blank border pixels stay 0


def test_shift_and_scale_touch_test_inputs_only():
    a = data.load("moons")
    b = data.load("moons", shift=1.5, scale=2.0)
    torch.testing.assert_close(b.x_train, a.x_train)
    torch.testing.assert_close(b.x_test, a.x_test * 2.0 + 1.5)


def test_train_size_subsets():
    assert data.load("digits", train_size=100).x_train.shape[0] == 100
