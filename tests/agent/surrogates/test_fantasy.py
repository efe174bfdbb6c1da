"""The DKL and coordinate GP posteriors can condition on pending points (pipelined decisions)."""

import numpy as np
import torch

from agent.surrogates import CoordinateGP, DKLSurrogate


def test_dkl_fantasy_shrinks_uncertainty_at_the_pending_point_only():
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    X = rng.random((120, 8, 8)).astype(np.float32)
    y = X.mean(axis=(1, 2)) * 3 + 0.05 * rng.standard_normal(120)
    s = DKLSurrogate(n_iter_init=60, seed=0).fit(X[:30], y[:30])
    post = s.posterior(X)
    pending = np.array([int(np.argmax(post.std))])
    fant = post.fantasize(pending)
    assert np.array_equal(fant.mean, post.mean)
    assert fant.std[pending[0]] < 0.5 * post.std[pending[0]]
    assert np.all(fant.std <= post.std + 1e-9)


def test_coordinate_gp_fantasy_is_local():
    rng = np.random.default_rng(1)
    Xc = rng.random((200, 2))
    y = np.sin(6 * Xc[:, 0]) + Xc[:, 1]
    post = CoordinateGP(seed=0).fit(Xc[:25], y[:25]).posterior(Xc)
    pending = np.array([int(np.argmax(post.std))])
    fant = post.fantasize(pending)
    d = np.linalg.norm(Xc - Xc[pending[0]], axis=1)
    drop = post.std - fant.std
    assert drop[pending[0]] > 0 and drop[d > 0.6].max() < drop[pending[0]] * 0.2
