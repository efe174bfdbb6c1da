"""Closed-form leave-one-out scores against brute force, and the memorisation flag."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agent.surrogates import ExactPredictor, FeatureGP, loo_scores
from agent.surrogates.kernels import make_covar_module


def _predictor(X: np.ndarray, y: np.ndarray, noise: float, lengthscale: float) -> ExactPredictor:
    k = make_covar_module("rbf", X.shape[1]).double()
    k.base_kernel.lengthscale = lengthscale
    return ExactPredictor(k, noise, 0.0, torch.as_tensor(X), torch.as_tensor(y))


def test_closed_form_equals_refitting_without_each_point():
    rng = np.random.default_rng(0)
    X = rng.random((25, 2))
    y = np.sin(6 * X[:, 0]) + 0.1 * rng.normal(size=25)
    full = _predictor(X, y, 0.05, 0.3)
    scores = loo_scores(full, y)
    mu, var = np.empty(25), np.empty(25)
    for i in range(25):
        keep = np.arange(25) != i
        p = _predictor(X[keep], y[keep], 0.05, 0.3)
        m, v = p.predict(torch.as_tensor(X[i:i + 1]))
        mu[i], var[i] = float(m[0]), float(v[0]) + 0.05
    sst = np.sum((y - y.mean()) ** 2)
    assert scores.r2 == pytest.approx(1 - np.sum((y - mu) ** 2) / sst, rel=1e-8)
    lpd = np.mean(-0.5 * np.log(2 * np.pi * var) - 0.5 * (y - mu) ** 2 / var)
    assert scores.lpd == pytest.approx(lpd, rel=1e-8)
    assert scores.coverage == pytest.approx(np.mean(np.abs(y - mu) <= 1.959964 * np.sqrt(var)))


def test_an_interpolating_gp_on_noise_is_flagged_as_memorising_a_smooth_fit_is_not():
    rng = np.random.default_rng(1)
    X = rng.random((60, 5))
    noise_y = rng.normal(size=60)
    memo = loo_scores(_predictor(X, noise_y, 1e-4, 0.05), noise_y)
    assert memo.train_r2 > 0.99 and memo.r2 < 0.1
    assert memo.memorising()
    smooth_y = X[:, 0] * 2 + np.cos(3 * X[:, 1])
    good = loo_scores(_predictor(X, smooth_y, 1e-3, 0.8), smooth_y)
    assert good.r2 > 0.9 and not good.memorising()
    # too few points to judge
    few = loo_scores(_predictor(X[:10], noise_y[:10], 1e-4, 0.05), noise_y[:10])
    assert not few.memorising()


def test_feature_gp_conditions_without_optimising_and_restores_its_state():
    rng = np.random.default_rng(2)
    X = rng.random((30, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    gp = FeatureGP(3, "dim_scaled").fit(X[:20], y[:20], optimise=True)
    ls = gp.lengthscale.copy()
    gp.fit(X, y, optimise=False)
    assert np.array_equal(gp.lengthscale, ls)  # only conditioned
    copy = FeatureGP.from_state_dict(gp.state_dict()).fit(X, y, optimise=False)
    a = gp.predictor.predict(torch.as_tensor(X))[0].numpy()
    b = copy.predictor.predict(torch.as_tensor(X))[0].numpy()
    np.testing.assert_allclose(a, b, rtol=1e-10)
    assert gp.loo().r2 > 0.9
