"""Pending points as fantasies: variance shrinks around them, the mean stays."""

import numpy as np
import pytest

from policies import Posterior


def _gp_posterior(x, noise=0.1):
    """Exact prior-free toy: RBF covariance over 1-D points, as a surrogate would report it."""
    cov = np.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / 0.5**2)
    mean = np.sin(x)
    return Posterior(mean, np.sqrt(np.diag(cov)), noise_std=noise,
                     cross_covariance=lambda idx: cov[:, np.asarray(idx)]), cov


def test_fantasy_matches_exact_conditioning_and_keeps_the_mean():
    x = np.linspace(0, 5, 40)
    post, cov = _gp_posterior(x)
    pending = np.array([10, 30])
    fant = post.fantasize(pending)
    assert np.array_equal(fant.mean, post.mean)
    k = cov[np.ix_(pending, pending)] + 0.1**2 * np.eye(2)
    exact = np.diag(cov - cov[:, pending] @ np.linalg.solve(k, cov[pending, :]))
    assert fant.std**2 == pytest.approx(np.clip(exact, 0, None), abs=1e-9)
    assert fant.std[10] < 0.2 * post.std[10] and fant.std[20] > 0.9 * post.std[20]


def test_without_cross_covariance_or_pending_nothing_changes():
    post = Posterior(np.zeros(3), np.ones(3))
    assert post.fantasize(np.array([1])) is post
    p2, _ = _gp_posterior(np.linspace(0, 1, 5))
    assert p2.fantasize(np.zeros(0, dtype=int)) is p2
