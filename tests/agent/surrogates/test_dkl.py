"""DKLSurrogate on a synthetic problem: the target is the mean intensity of a blob-image patch."""

from __future__ import annotations

import io
import logging

import numpy as np
import pytest
import torch
from botorch.acquisition.analytic import LogExpectedImprovement

from agent.surrogates import (
    DKLSurrogate,
    HealthReport,
    Surrogate,
    SurrogateConfigError,
    SurrogateInputError,
    SurrogateNotFittedError,
    SurrogateStateError,
)
from policies.posterior import Posterior

torch.set_num_threads(1)

WINDOW = 16
N_TRAIN = 60


def blob_patches(seed: int = 0, size: int = 104, stride: int = 4) -> np.ndarray:
    """(n, 16, 16) float32 z-scored patches on a grid over a random Gaussian-blob image."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    img = np.zeros((size, size))
    for _ in range(18):
        cy, cx = rng.uniform(0, size, 2)
        sigma = rng.uniform(3.0, 9.0)
        img += rng.uniform(0.5, 2.0) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
    img = (img - img.mean()) / img.std()
    views = np.lib.stride_tricks.sliding_window_view(img, (WINDOW, WINDOW))
    tops = np.arange(0, size - WINDOW + 1, stride)
    r, c = np.meshgrid(tops, tops, indexing="ij")
    return np.ascontiguousarray(views[r.ravel(), c.ravel()], dtype=np.float32)


PATCHES = blob_patches()
TARGET = PATCHES.mean(axis=(1, 2)).astype(np.float64)  # smooth function of the patch content
TRAIN = np.random.default_rng(1).choice(PATCHES.shape[0], N_TRAIN, replace=False)
HELD_OUT = np.setdiff1d(np.arange(PATCHES.shape[0]), TRAIN)


def small(**kw: object) -> DKLSurrogate:
    """A quick configuration for tests that check mechanics rather than accuracy."""
    args: dict[str, object] = dict(hidden=(32, 16), n_iter_init=40, n_iter_warm=10, refit_every=1)
    args.update(kw)
    return DKLSurrogate(**args)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fitted() -> DKLSurrogate:
    """Default settings (MLP 256-128-64-2, RBF, 300 Adam iterations), fitted on 60 patches."""
    return DKLSurrogate(seed=0).fit(PATCHES[TRAIN], TARGET[TRAIN])


def clone(s: DKLSurrogate) -> DKLSurrogate:
    other = DKLSurrogate(
        extractor=s.extractor_kind, latent_dim=s.latent_dim, hidden=s.hidden,
        cnn_channels=s.cnn_channels, kernel=s.kernel, network_dtype=s.network_dtype,
    )
    other.load_state_dict(s.state_dict())
    return other


def test_satisfies_protocol_and_predicts_held_out(fitted: DKLSurrogate) -> None:
    assert isinstance(fitted, Surrogate)
    assert fitted.input_kind == "patches"
    post = fitted.posterior(PATCHES)
    assert isinstance(post, Posterior)
    assert post.mean.shape == (PATCHES.shape[0],) and post.std.shape == post.mean.shape
    r = np.corrcoef(post.mean[HELD_OUT], TARGET[HELD_OUT])[0, 1]
    assert r > 0.7, f"held-out correlation {r:.3f}"
    assert not post.degenerate
    assert fitted.last_fit is not None and fitted.last_fit.iterations == 300
    # means are in reward units: same location and scale as the targets
    assert abs(post.mean.mean() - TARGET.mean()) < 0.5 * TARGET.std()


def test_std_grows_away_from_data(fitted: DKLSurrogate) -> None:
    post = fitted.posterior(PATCHES)
    z = fitted.embed(PATCHES)
    ls = fitted.lengthscale
    d = np.linalg.norm((z[HELD_OUT, None, :] - z[None, TRAIN, :]) / ls, axis=-1).min(axis=1)
    far = HELD_OUT[d >= np.quantile(d, 0.75)]
    assert post.std[far].mean() > 1.5 * post.std[TRAIN].mean()
    # a patch unlike anything measured (uniformly bright) is more uncertain than any training patch
    odd = np.full((1, WINDOW, WINDOW), 6.0, dtype=np.float32)
    assert fitted.posterior(odd).std[0] > post.std[TRAIN].max()


def test_posterior_matches_botorch_model_and_logei_runs(fitted: DKLSurrogate) -> None:
    post = fitted.posterior(PATCHES)
    model = fitted.botorch_model()
    X = fitted.botorch_inputs(PATCHES)
    assert X.shape == (PATCHES.shape[0], 1, WINDOW * WINDOW)
    with torch.no_grad():
        bp = model.posterior(X)
        acq = LogExpectedImprovement(model, best_f=float(TARGET[TRAIN].max()))(X)
    np.testing.assert_allclose(bp.mean.reshape(-1).numpy(), post.mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(bp.variance.reshape(-1).sqrt().numpy(), post.std, rtol=1e-5, atol=1e-6)
    assert acq.shape == (PATCHES.shape[0],) and torch.isfinite(acq).all()
    # the latent-space copy gives the same acquisition values on embedded candidates
    latent = fitted.botorch_model(latent=True)
    Z = torch.as_tensor(fitted.embed(PATCHES)).unsqueeze(1)
    with torch.no_grad():
        acq_latent = LogExpectedImprovement(latent, best_f=float(TARGET[TRAIN].max()))(Z)
    np.testing.assert_allclose(acq_latent.numpy(), acq.numpy(), rtol=1e-5, atol=1e-6)
    # the analytic acquisition cast the model to float64; the surrogate's own path still works
    assert np.all(np.isfinite(fitted.posterior(PATCHES[:5]).mean))


def test_sampler_shape_and_mean(fitted: DKLSurrogate) -> None:
    post = fitted.posterior(PATCHES)
    assert post.sampler is not None
    idx = np.array([0, 7, 33, 100, 150])
    draws = post.sampler(idx, 4000, np.random.default_rng(3))
    assert draws.shape == (4000, idx.size)
    tol = 5 * post.std[idx] / np.sqrt(4000) + 1e-9
    assert np.all(np.abs(draws.mean(axis=0) - post.mean[idx]) < tol)
    np.testing.assert_allclose(draws.std(axis=0), post.std[idx], rtol=0.1)
    again = post.sampler(idx, 4000, np.random.default_rng(3))
    np.testing.assert_array_equal(draws, again)
    other = post.sampler(idx, 4000, np.random.default_rng(4))
    assert not np.array_equal(draws, other)
    with pytest.raises(SurrogateInputError, match="indices"):
        post.sampler(np.array([PATCHES.shape[0]]), 2, np.random.default_rng(0))
    with pytest.raises(SurrogateInputError, match="n_samples"):
        post.sampler(idx, 0, np.random.default_rng(0))


def test_noise_stays_above_bound() -> None:
    bound = 1e-3
    s = small(noise_lower_bound=bound, n_iter_init=150, lr=0.05)
    s.fit(PATCHES[TRAIN], TARGET[TRAIN])  # noise-free targets push the noise to its floor
    assert s.noise_variance >= bound * (1 - 1e-9)
    assert s.noise_variance < 10 * bound
    # the floor is a constraint transform, so it holds for any raw value an optimiser reaches
    likelihood = s.botorch_model().likelihood
    with torch.no_grad():
        likelihood.noise_covar.raw_noise.fill_(-50.0)
    assert float(likelihood.noise.detach().min()) >= bound


def test_standardisation_invariance_and_constant_targets() -> None:
    a = small(seed=5).fit(PATCHES[TRAIN], TARGET[TRAIN])
    scale, shift = 1e6, -3.5e7
    b = small(seed=5).fit(PATCHES[TRAIN], TARGET[TRAIN] * scale + shift)
    pa, pb = a.posterior(PATCHES), b.posterior(PATCHES)
    za = (pa.mean - a.scaler.mean) / a.scaler.std
    zb = (pb.mean - b.scaler.mean) / b.scaler.std
    np.testing.assert_allclose(zb, za, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pb.std, pa.std * scale, rtol=1e-5)
    assert pb.noise_std == pytest.approx(pa.noise_std * scale, rel=1e-5)
    # constant targets: std guard (no division by zero), prediction = the constant, flagged flat
    c = small().fit(PATCHES[TRAIN], np.full(N_TRAIN, 2.5))
    pc = c.posterior(PATCHES)
    assert c.scaler.std == 1.0 and c.scaler.constant
    np.testing.assert_allclose(pc.mean, 2.5, atol=1e-6)
    assert pc.degenerate and c.health(PATCHES).flat


def test_warm_start_counts_iterations_and_refreshes_standardisation() -> None:
    s = small(n_iter_init=30, n_iter_warm=7)
    s.fit(PATCHES[TRAIN[:40]], TARGET[TRAIN[:40]])
    assert s.last_fit is not None
    assert s.last_fit.from_scratch and s.last_fit.iterations == 30
    y_new = TARGET[TRAIN] * 10 + 5  # new data on another scale: standardisation must follow it
    s.fit(PATCHES[TRAIN], y_new)
    assert not s.last_fit.from_scratch and s.last_fit.iterations == 7
    assert s.total_iterations == 37 and s.n_fits == 2
    assert s.scaler.mean == pytest.approx(y_new.mean())
    assert s.scaler.std == pytest.approx(y_new.std(ddof=1))
    tf = s.botorch_model().outcome_transform
    assert float(tf.means.reshape(-1)[0]) == pytest.approx(y_new.mean())
    assert float(tf.stdvs.reshape(-1)[0]) == pytest.approx(y_new.std(ddof=1))
    # warm start continues from the previous weights: zero iterations leave them unchanged
    frozen = small(n_iter_init=30, n_iter_warm=0).fit(PATCHES[TRAIN[:40]], TARGET[TRAIN[:40]])
    before = [p.detach().clone() for p in frozen.extractor.parameters()]
    frozen.fit(PATCHES[TRAIN], TARGET[TRAIN])
    assert all(torch.equal(b, p) for b, p in zip(before, frozen.extractor.parameters()))
    # warm_start=False trains from scratch every time
    cold = small(n_iter_init=12, warm_start=False)
    cold.fit(PATCHES[TRAIN[:40]], TARGET[TRAIN[:40]]).fit(PATCHES[TRAIN], TARGET[TRAIN])
    assert cold.last_fit is not None
    assert cold.last_fit.from_scratch and cold.last_fit.iterations == 12


def test_refit_every_optimises_every_kth_warm_fit_and_conditions_in_between() -> None:
    s = small(n_iter_init=20, n_iter_warm=6, refit_every=3)
    sizes = [30, 34, 38, 42, 46, 50, 54]
    iterations = []
    for k, n in enumerate(sizes):
        before = [p.detach().clone() for p in s.extractor.parameters()] if k else None
        s.fit(PATCHES[TRAIN[:n]], TARGET[TRAIN[:n]])
        assert s.last_fit is not None
        iterations.append(s.last_fit.iterations)
        if before is not None and s.last_fit.iterations == 0:  # conditioned only: weights kept
            assert all(torch.equal(b, p) for b, p in zip(before, s.extractor.parameters()))
        if k == 3:
            saved = s.state_dict()
    assert iterations == [20, 0, 0, 6, 0, 0, 6]
    # a conditioned-only fit still uses every new measurement: the mean at a new point moves to it
    s.fit(PATCHES[TRAIN[:54]], TARGET[TRAIN[:54]])
    post = s.posterior(PATCHES[TRAIN[50:54]])
    assert s.last_fit.iterations == 0
    np.testing.assert_allclose(post.mean, TARGET[TRAIN[50:54]], atol=3 * float(np.std(TARGET)))
    # the counter survives a checkpoint: the restored surrogate optimises on the same fits
    other = small(n_iter_init=20, n_iter_warm=6, refit_every=3)
    other.load_state_dict(saved)
    seen = []
    for n in sizes[4:]:
        other.fit(PATCHES[TRAIN[:n]], TARGET[TRAIN[:n]])
        seen.append(other.last_fit.iterations)
    assert seen == [0, 0, 6]


def test_deterministic_for_a_seed() -> None:
    p1 = small(seed=11).fit(PATCHES[TRAIN], TARGET[TRAIN]).posterior(PATCHES)
    p2 = small(seed=11).fit(PATCHES[TRAIN], TARGET[TRAIN]).posterior(PATCHES)
    p3 = small(seed=12).fit(PATCHES[TRAIN], TARGET[TRAIN]).posterior(PATCHES)
    np.testing.assert_array_equal(p1.mean, p2.mean)
    np.testing.assert_array_equal(p1.std, p2.std)
    assert not np.allclose(p1.mean, p3.mean)


def test_collapsed_network_is_unhealthy_and_recovers(caplog: pytest.LogCaptureFixture) -> None:
    s = small(n_iter_init=60, n_iter_warm=5)
    s.fit(PATCHES[TRAIN], TARGET[TRAIN])
    assert s.health(PATCHES).ok
    with torch.no_grad():
        s.extractor.out.weight.zero_()
        s.extractor.out.bias.zero_()
    report = s.health(PATCHES)
    assert isinstance(report, HealthReport)
    assert not report.ok and report.collapsed and report.flat
    assert report.latent_spread == 0.0 and report.mean_spread < 1e-6
    assert "collapsed" in report.message and "flat" in report.message
    assert s.posterior(PATCHES).degenerate
    # a warm refit cannot leave the collapsed point (zero kernel gradient at zero distance) ...
    s.fit(PATCHES[TRAIN], TARGET[TRAIN])
    assert s.last_fit is not None and s.last_fit.health.collapsed
    seed_before = s.last_fit.seed
    # ... so the next fit abandons the warm start and re-initialises from a new seed
    with caplog.at_level(logging.WARNING, logger="agent.surrogates.dkl"):
        s.fit(PATCHES[TRAIN], TARGET[TRAIN])
    assert s.last_fit.reinitialised and s.last_fit.from_scratch
    assert s.last_fit.iterations == 60 and s.n_restarts == 1
    assert s.last_fit.seed != seed_before
    assert any("re-initialising" in r.getMessage() for r in caplog.records)
    assert s.health(PATCHES).ok and not s.posterior(PATCHES).degenerate


def test_state_dict_round_trip(fitted: DKLSurrogate, tmp_path) -> None:
    path = tmp_path / "dkl.pt"
    torch.save(fitted.state_dict(), path)
    state = torch.load(path, weights_only=True)
    restored = DKLSurrogate()
    restored.load_state_dict(state)
    p0, p1 = fitted.posterior(PATCHES), restored.posterior(PATCHES)
    np.testing.assert_allclose(p1.mean, p0.mean, rtol=0, atol=1e-12)
    np.testing.assert_allclose(p1.std, p0.std, rtol=0, atol=1e-12)
    assert p1.noise_std == p0.noise_std
    idx = np.arange(6)
    np.testing.assert_allclose(
        p1.sampler(idx, 8, np.random.default_rng(0)), p0.sampler(idx, 8, np.random.default_rng(0)),
        atol=1e-10,
    )
    assert restored.n_fits == fitted.n_fits and restored.total_iterations == fitted.total_iterations
    # the restored surrogate warm-starts from the saved weights
    restored.fit(PATCHES[TRAIN], TARGET[TRAIN])
    assert restored.last_fit is not None and not restored.last_fit.from_scratch
    # a state from another architecture is refused with the differing setting named
    with pytest.raises(SurrogateStateError, match="latent_dim"):
        DKLSurrogate(latent_dim=3).load_state_dict(state)
    # an unfitted surrogate's state round-trips too
    buf = io.BytesIO()
    torch.save(DKLSurrogate().state_dict(), buf)
    buf.seek(0)
    empty = DKLSurrogate()
    empty.load_state_dict(torch.load(buf, weights_only=True))
    assert not empty.is_fitted


def test_cnn_extractor_end_to_end() -> None:
    s = DKLSurrogate(
        extractor="cnn", cnn_channels=(4, 8), hidden=(16,), n_iter_init=120,
        network_dtype="float32", kernel="matern52",
    )
    s.fit(PATCHES[TRAIN], TARGET[TRAIN])
    post = s.posterior(PATCHES)
    assert np.corrcoef(post.mean[HELD_OUT], TARGET[HELD_OUT])[0, 1] > 0.6
    assert s.embed(PATCHES[:4]).shape == (4, 2) and s.embed(PATCHES[:4]).dtype == np.float64
    with torch.no_grad():
        acq = LogExpectedImprovement(s.botorch_model(), best_f=float(TARGET[TRAIN].max()))(
            s.botorch_inputs(PATCHES[:50])
        )
    assert torch.isfinite(acq).all()
    restored = clone(s)
    np.testing.assert_allclose(restored.posterior(PATCHES).mean, s.posterior(PATCHES).mean, atol=1e-9)


def test_threads_setting_applied_and_restored() -> None:
    seen: list[int] = []
    s = DKLSurrogate(hidden=(8,), n_iter_init=2, threads=2)
    torch.set_num_threads(1)
    s.fit(PATCHES[:10], TARGET[:10])
    s.extractor.register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))
    s.posterior(PATCHES[:20])
    assert seen and set(seen) == {2}
    assert torch.get_num_threads() == 1


def test_bad_input_raises_named_value_errors() -> None:
    s = small(n_iter_init=3)
    with pytest.raises(SurrogateNotFittedError):
        s.posterior(PATCHES[:3])
    assert not s.health().ok
    with pytest.raises(SurrogateInputError, match="y has 5 values but X has 6"):
        s.fit(PATCHES[:6], TARGET[:5])
    y_nan = TARGET[:6].copy()
    y_nan[2] = np.nan
    with pytest.raises(SurrogateInputError, match=r"y holds NaN"):
        s.fit(PATCHES[:6], y_nan)
    with pytest.raises(SurrogateInputError, match=r"X must be 3-D"):
        s.fit(PATCHES[:6].reshape(6, -1), TARGET[:6])
    x_nan = PATCHES[:6].copy()
    x_nan[0, 0, 0] = np.nan
    with pytest.raises(SurrogateInputError, match="X holds 1 NaN"):
        s.fit(x_nan, TARGET[:6])
    s.fit(PATCHES[:6], TARGET[:6])
    with pytest.raises(SurrogateInputError, match=r"X patches are \(8, 8\)"):
        s.posterior(PATCHES[:3, :8, :8])
    with pytest.raises(ValueError):  # every input error is a ValueError
        s.posterior(PATCHES[0])
    for kwargs, name in [
        ({"extractor": "resnet"}, "extractor"),
        ({"kernel": "periodic"}, "kernel"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"hidden": [64, -1]}, "hidden"),
        ({"noise_lower_bound": 0.0}, "noise_lower_bound"),
        ({"n_iter_warm": -1}, "n_iter_warm"),
        ({"threads": 0}, "threads"),
        ({"network_dtype": "float16"}, "network_dtype"),
        ({"warm_start": "no"}, "warm_start"),
    ]:
        with pytest.raises(SurrogateConfigError, match=name):
            DKLSurrogate(**kwargs)  # type: ignore[arg-type]


def test_failed_fit_leaves_previous_fit_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    s = small(n_iter_init=20, n_iter_warm=5).fit(PATCHES[TRAIN[:30]], TARGET[TRAIN[:30]])
    before = s.posterior(PATCHES)
    original = DKLSurrogate._train

    def interrupted(self: DKLSurrogate, model: object, iterations: int) -> tuple[int, float]:
        original(self, model, 3)  # weights move, then the fit dies
        raise KeyboardInterrupt

    monkeypatch.setattr(DKLSurrogate, "_train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        s.fit(PATCHES[TRAIN], TARGET[TRAIN])
    s2 = small(n_iter_init=20, warm_start=False)
    s2.load_state_dict(s.state_dict())
    with pytest.raises(KeyboardInterrupt):
        s2.fit(PATCHES[TRAIN], TARGET[TRAIN])  # from-scratch path: new modules discarded
    monkeypatch.undo()
    for model in (s, s2):
        after = model.posterior(PATCHES)
        np.testing.assert_allclose(after.mean, before.mean, atol=1e-12)
        np.testing.assert_allclose(after.std, before.std, atol=1e-12)
        assert model.n_fits == 1
