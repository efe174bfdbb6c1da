"""GpcamGP: gpCAM's own GP on coordinates behind the Surrogate protocol (skipped without gpCAM)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gpcam")

from agent.surrogates.errors import (  # noqa: E402
    SurrogateConfigError,
    SurrogateInputError,
    SurrogateNotFittedError,
    SurrogateStateError,
)
from agent.surrogates.gpcam_gp import GpcamGP  # noqa: E402
from agent.surrogates.protocol import Surrogate  # noqa: E402
from policies import UCB  # noqa: E402
from policies.protocol import SelectionState  # noqa: E402


def _problem(n_side: int = 25, n_train: int = 40, seed: int = 0):
    """Candidates on a grid in [0, 1]^2, a smooth target with one peak, a random training subset."""
    g = (np.arange(n_side) + 0.5) / n_side
    yy, xx = np.meshgrid(g, g, indexing="ij")
    X = np.stack([yy.ravel(), xx.ravel()], axis=1)
    f = 0.3 + 0.5 * np.exp(-((X[:, 0] - 0.3) ** 2 + (X[:, 1] - 0.7) ** 2) / 0.03)
    rng = np.random.default_rng(seed)
    idx = rng.choice(X.shape[0], n_train, replace=False)
    return X, f, idx, f[idx] + 0.005 * rng.standard_normal(n_train)


@pytest.fixture(scope="module")
def fitted():
    X, f, idx, y = _problem()
    return GpcamGP(seed=0).fit(X[idx], y), X, f, idx, y


def test_protocol_and_learning(fitted) -> None:
    gp, X, f, idx, y = fitted
    assert isinstance(gp, Surrogate) and gp.input_kind == "coords"
    post = gp.posterior(X)
    assert post.mean.shape == post.std.shape == (X.shape[0],)
    r2 = 1 - np.sum((post.mean - f) ** 2) / np.sum((f - f.mean()) ** 2)
    assert r2 > 0.8, r2  # a smooth 2-D target from 40 points
    assert np.median(post.std[idx]) < np.median(post.std)  # less uncertain where measured
    assert gp.health(X).ok and not post.degenerate
    assert gp.hyperparameters.shape == (3,) and np.all(gp.hyperparameters > 0)
    assert gp.last_fit is not None and gp.last_fit.n == 40


def test_ucb_beta9_is_gpcams_own_ucb(fitted) -> None:
    gp, X, *_ = fitted
    post = gp.posterior(X)
    own = gp.acquisition(X, "ucb")  # gpCAM: posterior mean + 3 std
    np.testing.assert_allclose(own, post.mean + 3.0 * post.std, rtol=1e-9, atol=1e-12)
    state = SelectionState(available=np.ones(X.shape[0], bool), measured=np.zeros(0, np.int64),
                           y_measured=np.zeros(0), grid_shape=(25, 25), yx_px=X * 25, step=0,
                           rng=np.random.default_rng(0))
    pick = UCB(beta=9.0).select(post, state, q=1).indices
    assert int(pick[0]) == int(np.argmax(own))
    ei = gp.acquisition(X, "expected improvement")
    assert ei.shape == (X.shape[0],) and np.all(ei >= 0)
    with pytest.raises(SurrogateConfigError, match="not passed through"):
        gp.acquisition(X, "knowledge gradient")


def test_seeded_fits_are_reproducible_and_leave_numpy_alone() -> None:
    X, f, idx, y = _problem(n_train=25, seed=1)
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    a = GpcamGP(seed=5).fit(X[idx], y)
    after = np.random.random()
    assert after == before  # the global stream is restored after gpCAM's random starts
    b = GpcamGP(seed=5).fit(X[idx], y)
    np.testing.assert_allclose(a.hyperparameters, b.hyperparameters)
    np.testing.assert_allclose(a.posterior(X).mean, b.posterior(X).mean)


def test_state_round_trip(fitted) -> None:
    gp, X, *_ = fitted
    state = gp.state_dict()
    other = GpcamGP(seed=0)
    other.load_state_dict(state)
    np.testing.assert_allclose(other.posterior(X).mean, gp.posterior(X).mean, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(other.posterior(X).std, gp.posterior(X).std, rtol=1e-6, atol=1e-10)
    assert other.n_fits == gp.n_fits
    empty = GpcamGP()
    empty.load_state_dict(GpcamGP().state_dict())
    assert not empty.is_fitted
    with pytest.raises(SurrogateStateError, match="not a GpcamGP state"):
        empty.load_state_dict({"format": "other"})
    with pytest.raises(SurrogateStateError, match="saved with"):
        GpcamGP(noise_variance=0.1).load_state_dict(state)


def test_errors_name_the_fix() -> None:
    with pytest.raises(SurrogateNotFittedError, match="fit"):
        GpcamGP().posterior(np.zeros((3, 2)))
    assert not GpcamGP().health().ok
    with pytest.raises(SurrogateInputError, match=r"\[0, 1\]"):
        GpcamGP().fit(np.array([[0.0, 2.0], [0.5, 0.5]]), np.array([1.0, 2.0]))
    with pytest.raises(SurrogateConfigError, match="at least 2"):
        GpcamGP().fit(np.array([[0.5, 0.5]]), np.array([1.0]))
    with pytest.raises(SurrogateConfigError, match="noise_variance"):
        GpcamGP(noise_variance=-1.0)


def test_a_failed_gpcam_fit_leaves_a_flat_degenerate_posterior(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:  # fvgp raises a bare Exception when its Cholesky fails
        def train(self, **kwargs):
            raise Exception("Linear algebra failed: Cholesky factorization failed")

    X = np.array([[0.1, 0.1], [0.5, 0.5], [0.9, 0.2], [0.3, 0.8]])
    y = np.array([0.0, 0.2, 0.0, 0.4])
    gp = GpcamGP(seed=0, retries=2)
    calls = []
    monkeypatch.setattr(gp, "_build", lambda *a: calls.append(1) or Broken())
    gp.fit(X, y)
    assert len(calls) == 3 and gp.n_failed_fits == 1  # 1 + 2 retries from other random starts
    post = gp.posterior(X)
    assert post.degenerate and np.allclose(post.mean, 0.15) and np.allclose(post.std, np.std(y))
    assert not gp.health().ok
    monkeypatch.undo()
    gp.fit(X, y)  # a later fit that works is used again
    assert not gp.posterior(X).degenerate or gp.n_failed_fits == 2
