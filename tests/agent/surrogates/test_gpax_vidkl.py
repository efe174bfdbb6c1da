"""GpaxViDKL: learning, units, health, memory over refits, persistence, and its input checks.

The fitted tests share one surrogate (module fixture): the first fit in a process pays NumPyro's
one-time eager set-up and the compilation of the jitted functions, every later fit reuses them.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter, gaussian_gradient_magnitude

from agent.candidates import make_candidates
from agent.surrogates.errors import (
    SurrogateConfigError,
    SurrogateInputError,
    SurrogateNotFittedError,
    SurrogateStateError,
)
from agent.surrogates.gpax_vidkl import GpaxViDKL, bucket_size
from drivers.frames import Axis, Frame

torch.set_num_threads(1)


def _rss_mb() -> float:
    import os

    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _blob_problem(seed: int = 3, size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """Patches (m, 16, 16) float32 of a blob image and the edge strength at each centre (m,)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    clean = np.zeros((size, size))
    for _ in range(7):
        cy, cx = rng.uniform(10, size - 10, size=2)
        r = rng.uniform(5, 11)
        clean = np.maximum(clean, 1.0 / (1.0 + np.exp((np.hypot(yy - cy, xx - cx) - r) * 1.2)))
    image = gaussian_filter(clean, 1.0) + 0.03 * rng.standard_normal((size, size))
    edge = gaussian_filter(gaussian_gradient_magnitude(clean, 1.5), 2.0)
    ax = Axis.uniform("y", "m", 0.5e-9, 1e-9, size)
    cand = make_candidates(Frame(image, (ax, Axis("x", "m", ax.values)), "blobs"), 16, 2)
    truth = edge[cand.yx_px[:, 0], cand.yx_px[:, 1]]
    return cand.patches, (truth - truth.min()) / (truth.max() - truth.min())


# ---------------------------------------------------------------------- cheap checks (no fit)
def test_bucket_sizes_grow_geometrically_in_multiples_of_16() -> None:
    assert [bucket_size(n, 32, 1.25) for n in (1, 32, 33, 49, 64, 65, 200, 500)] == [
        32, 32, 48, 64, 64, 80, 240, 608]
    assert bucket_size(77, 32, 1.0) == 77  # no padding
    with pytest.raises(SurrogateInputError):
        bucket_size(0, 32, 1.25)


def test_bad_settings_name_the_setting() -> None:
    with pytest.raises(SurrogateConfigError, match="kernel"):
        GpaxViDKL(kernel="Periodic")
    with pytest.raises(SurrogateConfigError, match="clear_caches"):
        GpaxViDKL(clear_caches="sometimes")
    with pytest.raises(SurrogateConfigError, match="num_steps_warm"):
        GpaxViDKL(num_steps_warm=0)
    with pytest.raises(SurrogateConfigError, match="bucket_growth"):
        GpaxViDKL(bucket_growth=0.5)


def test_unfitted_surrogate_refuses_prediction_and_reports_unhealthy() -> None:
    s = GpaxViDKL()
    with pytest.raises(SurrogateNotFittedError, match="fit"):
        s.posterior(np.zeros((3, 16, 16), np.float32))
    assert s.health().ok is False
    assert s.state_dict()["fitted"] is False
    with pytest.raises(SurrogateInputError, match="3-D image patches"):
        s.fit(np.zeros((4, 256), np.float32), np.zeros(4))
    with pytest.raises(SurrogateInputError, match="NaN"):
        s.fit(np.zeros((4, 16, 16), np.float32), np.array([0.0, 1.0, np.nan, 2.0]))


def test_foreign_or_mismatched_state_is_refused() -> None:
    s = GpaxViDKL()
    with pytest.raises(SurrogateStateError, match="not a GpaxViDKL state"):
        s.load_state_dict({"format": "autoscope.surrogates.DKLSurrogate/1"})
    state = GpaxViDKL(z_dim=3).state_dict()
    with pytest.raises(SurrogateStateError, match="z_dim"):
        s.load_state_dict(state)


# ---------------------------------------------------------------------- fitted
def _gpax_importable() -> bool:
    try:
        import gpax  # noqa: F401
    except Exception:  # noqa: BLE001 - any failure means the backend cannot run here
        return False
    return True


needs_gpax = pytest.mark.skipif(not _gpax_importable(),
                                reason="gpax 0.1.9 (jax 0.9.2, numpyro 0.20.0) is not importable")


@needs_gpax
def test_fast_marginal_likelihood_matches_gpax_multivariate_normal() -> None:
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    from agent.surrogates.gpax_compiled import fast_marginal_model as _fast_marginal_model

    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        A = rng.standard_normal((9, 9))
        K0 = jnp.asarray(A @ A.T / 9 + 0.3 * np.eye(9))
        y = jnp.asarray(rng.standard_normal(9))

        def model(K):  # gpax's observation site: zero-mean MVN with the kernel as covariance
            numpyro.sample("y", dist.MultivariateNormal(jnp.zeros(9), covariance_matrix=K), obs=y)

        def log_joint(fn, K):
            return numpyro.infer.util.log_density(fn, (K,), {}, {})[0]

        fast = _fast_marginal_model(model)
        v0, g0 = jax.value_and_grad(lambda K: log_joint(model, K))(K0)
        v1, g1 = jax.value_and_grad(lambda K: log_joint(fast, K))(K0)
    assert float(v1) == pytest.approx(float(v0), rel=1e-12)
    sym = lambda g: 0.5 * (np.asarray(g) + np.asarray(g).T)  # noqa: E731 - K is symmetric
    np.testing.assert_allclose(sym(g1), sym(g0), rtol=1e-9, atol=1e-12)


@pytest.fixture(scope="module")
def problem() -> dict[str, np.ndarray]:
    patches, truth = _blob_problem()
    rng = np.random.default_rng(0)
    order = rng.permutation(patches.shape[0])
    return {"X": patches, "truth": truth, "order": order,
            "y": truth + 0.02 * rng.standard_normal(truth.shape[0])}


@pytest.fixture(scope="module")
def surrogate(problem: dict[str, np.ndarray]) -> GpaxViDKL:
    s = GpaxViDKL(num_steps_init=300, num_steps_warm=100, seed=0)
    idx = problem["order"][:60]
    return s.fit(problem["X"][idx], problem["y"][idx])


@pytest.mark.slow
@needs_gpax
def test_learns_a_structure_dependent_target(surrogate: GpaxViDKL, problem: dict[str, np.ndarray]) -> None:
    post = surrogate.posterior(problem["X"])
    held_out = problem["order"][60:]
    r = np.corrcoef(post.mean[held_out], problem["truth"][held_out])[0, 1]
    assert r > 0.6, f"held-out correlation {r:.3f}"
    assert surrogate.last_fit is not None and surrogate.last_fit.from_scratch
    assert surrogate.last_fit.steps == 300 and surrogate.last_fit.bucket == 64
    assert surrogate.health(problem["X"]).ok


@pytest.mark.slow
@needs_gpax
def test_posterior_is_in_reward_units_and_scale_equivariant(
        surrogate: GpaxViDKL, problem: dict[str, np.ndarray]) -> None:
    X, idx = problem["X"], problem["order"][:60]
    y = problem["y"][idx]
    surrogate.warm_start = False  # from-scratch fits: a pure function of (seed, data)
    try:
        p1 = surrogate.fit(X[idx], y).posterior(X)
        prior_std = math.sqrt(float(surrogate.kernel_params["k_scale"])) * surrogate.scaler.std
        # A power-of-two scale keeps the standardised targets bit-identical: the same fit exactly.
        p2 = surrogate.fit(X[idx], 1024.0 * y).posterior(X)
        # An offset changes them in the last bits only: the same map up to SVI's sensitivity.
        p3 = surrogate.fit(X[idx], y + 5000.0).posterior(X)
    finally:
        surrogate.warm_start = True
    m = X.shape[0]
    assert p1.mean.shape == (m,) and p1.std.shape == (m,) and p1.mean.dtype == np.float64
    assert np.all(p1.std > 0) and p1.noise_std > 0
    np.testing.assert_allclose(p2.mean, 1024.0 * p1.mean, rtol=1e-12)
    np.testing.assert_allclose(p2.std, 1024.0 * p1.std, rtol=1e-12)
    assert p2.noise_std == pytest.approx(1024.0 * p1.noise_std, rel=1e-12)
    assert abs(float(np.median(p3.mean - p1.mean)) - 5000.0) < 0.1 * float(np.std(p1.mean))
    assert np.corrcoef(p3.mean, p1.mean)[0, 1] > 0.9
    assert np.median(np.abs(p3.std / p1.std - 1.0)) < 0.25
    # Measured points are predicted near their (noisy) values. GP facts: the latent std at a
    # measured input is below the noise std; nowhere is it above the prior std sqrt(k_scale).
    assert np.corrcoef(p1.mean[idx], y)[0, 1] > 0.8
    assert np.all(p1.std[idx] <= p1.noise_std * 1.001)
    assert np.all(p1.std <= prior_std * 1.001)
    # Joint sampler: shape, reward units, and draws centred on the marginal mean.
    pick = problem["order"][100:104]
    draws = p2.sampler(pick, 4000, np.random.default_rng(1))  # p2: reward units x 1024
    assert draws.shape == (4000, 4)
    np.testing.assert_allclose(draws.mean(0), p2.mean[pick], atol=4 * p2.std[pick].max() / math.sqrt(4000) + 1e-9)
    np.testing.assert_allclose(draws.std(0), p2.std[pick], rtol=0.1)


@pytest.mark.slow
@needs_gpax
def test_memory_stays_flat_over_warm_refits(surrogate: GpaxViDKL, problem: dict[str, np.ndarray]) -> None:
    X, y, order = problem["X"], problem["y"], problem["order"]
    rss = []
    for n in range(62, 70):  # crosses the 64 -> 80 bucket at n = 65
        idx = order[:n]
        surrogate.fit(X[idx], y[idx])
        surrogate.posterior(X)
        assert surrogate.last_fit is not None and not surrogate.last_fit.from_scratch
        rss.append(_rss_mb())
    assert surrogate.last_fit.bucket == 80
    trace = np.round(rss, 1).tolist()
    # In-bucket refits reuse their executables: flat. Entering a bucket clears the old one's
    # executables first (without that, 30-40 MB stayed per bucket).
    assert rss[-1] - rss[4] < 8.0, f"RSS crept over in-bucket refits: {trace}"
    assert rss[-1] - rss[2] < 20.0, f"RSS grew across the bucket change: {trace}"


@pytest.mark.slow
@needs_gpax
def test_state_round_trip_restores_the_same_posterior(
        surrogate: GpaxViDKL, problem: dict[str, np.ndarray]) -> None:
    X, y, order = problem["X"], problem["y"], problem["order"]
    surrogate.fit(X[order[:70]], y[order[:70]])
    before = surrogate.posterior(X)
    state = surrogate.state_dict()
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)
    n_fits = surrogate.n_fits
    surrogate.fit(X[order[:75]], y[order[:75]] * 2.0)  # move away from the saved state
    assert not np.allclose(surrogate.posterior(X).mean, before.mean)
    surrogate.load_state_dict(loaded)
    after = surrogate.posterior(X)
    np.testing.assert_array_equal(after.mean, before.mean)
    np.testing.assert_array_equal(after.std, before.std)
    assert surrogate.n_fits == n_fits
    surrogate.fit(X[order[:71]], y[order[:71]])  # a warm refit continues from the loaded state
    assert surrogate.last_fit is not None and not surrogate.last_fit.from_scratch


@pytest.mark.slow
@needs_gpax
def test_constant_targets_are_flagged_and_the_next_fit_restarts(
        surrogate: GpaxViDKL, problem: dict[str, np.ndarray]) -> None:
    X, y, order = problem["X"], problem["y"], problem["order"]
    idx = order[:70]
    post = surrogate.fit(X[idx], np.full(70, 3.5)).posterior(X)
    assert post.degenerate
    assert surrogate.last_health is not None and surrogate.last_health.flat
    np.testing.assert_allclose(post.mean, 3.5, atol=1e-6)
    restarts = surrogate.n_restarts
    surrogate.fit(X[idx], y[idx])
    fit = surrogate.last_fit
    assert fit is not None and fit.from_scratch and fit.reinitialised
    assert surrogate.n_restarts == restarts + 1 and fit.seed != surrogate.seed
