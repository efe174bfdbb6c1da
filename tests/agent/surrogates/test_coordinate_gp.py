"""CoordinateGP: exact GP on probe coordinates (classical BO baseline)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from botorch.acquisition.analytic import LogExpectedImprovement

from agent.surrogates import (
    CoordinateGP,
    Surrogate,
    SurrogateInputError,
    SurrogateNotFittedError,
    SurrogateStateError,
)

torch.set_num_threads(1)


def smooth(X: np.ndarray) -> np.ndarray:
    """A smooth 2-D test function on [0, 1]^2."""
    return np.sin(3.0 * X[:, 0]) * np.cos(4.0 * X[:, 1]) + 0.5 * X[:, 0]


AXIS = (np.arange(30) + 0.5) / 30
GRID = np.stack(np.meshgrid(AXIS, AXIS, indexing="ij"), axis=-1).reshape(-1, 2)
TRUTH = smooth(GRID)
TRAIN = np.random.default_rng(0).choice(GRID.shape[0], 40, replace=False)
Y_TRAIN = TRUTH[TRAIN] + 0.01 * np.random.default_rng(1).standard_normal(TRAIN.size)


@pytest.fixture(scope="module")
def fitted() -> CoordinateGP:
    return CoordinateGP().fit(GRID[TRAIN], Y_TRAIN)


def test_learns_smooth_function(fitted: CoordinateGP) -> None:
    assert isinstance(fitted, Surrogate) and fitted.input_kind == "coords"
    post = fitted.posterior(GRID)
    assert np.corrcoef(post.mean, TRUTH)[0, 1] > 0.98
    rmse = float(np.sqrt(np.mean((post.mean - TRUTH) ** 2)))
    assert rmse < 0.1 * TRUTH.std()
    assert not post.degenerate and fitted.health(GRID).ok
    # noise ~ 0.01 in reward units, floor respected
    assert 0.0 < post.noise_std < 0.05
    assert fitted.noise_variance >= 1e-4


def test_std_larger_away_from_data() -> None:
    left = GRID[:, 1] < 0.5  # data only on the left half
    idx = np.flatnonzero(left)[::3]
    gp = CoordinateGP().fit(GRID[idx], TRUTH[idx])
    post = gp.posterior(GRID)
    far = GRID[:, 1] > 0.9
    assert post.std[far].mean() > 5 * post.std[idx].mean()


def test_warm_start_and_state_round_trip(fitted: CoordinateGP, tmp_path) -> None:
    gp = CoordinateGP().fit(GRID[TRAIN[:30]], Y_TRAIN[:30])
    assert gp.last_fit is not None and gp.last_fit.from_scratch and gp.last_fit.iterations > 0
    gp.fit(GRID[TRAIN], Y_TRAIN)
    assert not gp.last_fit.from_scratch and gp.n_fits == 2
    cold = CoordinateGP(warm_start=False).fit(GRID[TRAIN[:30]], Y_TRAIN[:30]).fit(GRID[TRAIN], Y_TRAIN)
    assert cold.last_fit is not None and cold.last_fit.from_scratch
    path = tmp_path / "coord.pt"
    torch.save(fitted.state_dict(), path)
    restored = CoordinateGP()
    restored.load_state_dict(torch.load(path, weights_only=True))
    p0, p1 = fitted.posterior(GRID), restored.posterior(GRID)
    np.testing.assert_allclose(p1.mean, p0.mean, rtol=0, atol=1e-12)
    np.testing.assert_allclose(p1.std, p0.std, rtol=0, atol=1e-12)
    with pytest.raises(SurrogateStateError, match="kernel"):
        CoordinateGP(kernel="rbf").load_state_dict(fitted.state_dict())


def test_standardisation_and_sampler(fitted: CoordinateGP) -> None:
    scaled = CoordinateGP().fit(GRID[TRAIN], Y_TRAIN * 1e6 + 2e6)
    p0, p1 = fitted.posterior(GRID), scaled.posterior(GRID)
    np.testing.assert_allclose((p1.mean - 2e6) / 1e6, p0.mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(p1.std / 1e6, p0.std, rtol=1e-4, atol=1e-7)
    assert p0.sampler is not None
    idx = np.array([3, 200, 555, 899])
    draws = p0.sampler(idx, 3000, np.random.default_rng(0))
    assert draws.shape == (3000, 4)
    assert np.all(np.abs(draws.mean(axis=0) - p0.mean[idx]) < 5 * p0.std[idx] / np.sqrt(3000) + 1e-9)
    # neighbouring grid points are strongly correlated in the joint draws
    pair = p0.sampler(np.array([899, 898]), 2000, np.random.default_rng(1))
    assert np.corrcoef(pair.T)[0, 1] > 0.5


def test_botorch_logei_and_health(fitted: CoordinateGP) -> None:
    X = torch.as_tensor(GRID).unsqueeze(1)
    with torch.no_grad():
        acq = LogExpectedImprovement(fitted.botorch_model(), best_f=float(Y_TRAIN.max()))(X)
        mean = fitted.botorch_model().posterior(X).mean.reshape(-1).numpy()
    assert acq.shape == (GRID.shape[0],) and torch.isfinite(acq).all()
    np.testing.assert_allclose(mean, fitted.posterior(GRID).mean, rtol=1e-6, atol=1e-6)
    # an enormous lengthscale makes every candidate look alike: collapsed and flat
    gp = CoordinateGP().fit(GRID[TRAIN], Y_TRAIN)
    with torch.no_grad():
        gp.botorch_model().covar_module.base_kernel.lengthscale = 1e4
    report = gp.health(GRID)
    assert not report.ok and report.collapsed and report.flat
    assert gp.posterior(GRID).degenerate


def test_bad_input() -> None:
    gp = CoordinateGP()
    with pytest.raises(SurrogateNotFittedError):
        gp.posterior(GRID)
    with pytest.raises(SurrogateInputError, match=r"must lie in \[0, 1\]"):
        gp.fit(GRID[:5] * 10, TRUTH[:5])
    with pytest.raises(SurrogateInputError, match=r"X must be \(n, 2\)"):
        gp.fit(GRID[:5, :1], TRUTH[:5])
    with pytest.raises(SurrogateInputError, match="y has 4 values but X has 5"):
        gp.fit(GRID[:5], TRUTH[:4])
    with pytest.raises(SurrogateInputError, match="y holds NaN"):
        gp.fit(GRID[:3], np.array([1.0, np.nan, 2.0]))
