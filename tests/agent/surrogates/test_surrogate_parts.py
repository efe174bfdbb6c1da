"""Building blocks of the surrogates: health check, standardisation, exact predictor, extractors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gpytorch.kernels import RBFKernel, ScaleKernel

from agent.surrogates import (
    CNNExtractor,
    ExactPredictor,
    MLPExtractor,
    PatchEmbedding,
    SurrogateConfigError,
    TargetScaler,
    assess_health,
    latent_spread,
    torch_threads,
)

torch.set_num_threads(1)


def test_latent_spread_in_lengthscale_units() -> None:
    z = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    # pairwise distances 3, 4, 5 -> median 4; halving the lengthscale doubles it
    assert latent_spread(z, np.array([1.0, 1.0])) == pytest.approx(4.0)
    assert latent_spread(z, np.array([0.5, 0.5])) == pytest.approx(8.0)
    # ARD: only the x axis is rescaled -> distances 1.5, 4, sqrt(1.5^2 + 16)
    assert latent_spread(z, np.array([2.0, 1.0])) == pytest.approx(4.0)
    assert np.isnan(latent_spread(z[:1], np.ones(2)))
    big = np.random.default_rng(0).normal(size=(5000, 2))
    assert 1.0 < latent_spread(big, np.ones(2), max_points=200) < 2.5  # subsampled, ~ sqrt(pi)


def test_assess_health_flags() -> None:
    rng = np.random.default_rng(0)
    spread_z = rng.normal(size=(100, 2))
    varied = rng.normal(size=100)
    ok = assess_health(spread_z, np.ones(2), varied, 1.0, 0.05, 0.05)
    assert ok.ok and not ok.collapsed and not ok.flat and ok.message.startswith("ok")
    point = np.full((100, 2), 0.3) + 1e-6 * rng.normal(size=(100, 2))
    bad = assess_health(point, np.ones(2), np.full(100, 2.0), 1.0, 0.05, 0.05)
    assert not bad.ok and bad.collapsed and bad.flat
    assert bad.mean_spread == pytest.approx(0.0, abs=1e-12) and bad.latent_spread < 1e-4
    # flat is relative to the training-target spread
    small_var = 0.01 * varied
    assert assess_health(spread_z, np.ones(2), small_var, 1.0, 0.05, 0.05).flat
    assert not assess_health(spread_z, np.ones(2), small_var, 0.01, 0.05, 0.05).flat
    # constant training targets: nothing learned yet
    const = assess_health(spread_z, np.ones(2), varied, 0.0, 0.05, 0.05)
    assert const.flat and not const.ok and "constant" in const.message


def test_target_scaler() -> None:
    y = np.array([1.0, 2.0, 4.0, 7.0])
    s = TargetScaler.from_targets(y)
    assert s.mean == pytest.approx(3.5) and s.std == pytest.approx(np.std(y, ddof=1))
    np.testing.assert_allclose(s.untransform_mean(s.transform(y)), y)
    assert not s.constant and s.target_spread == s.std
    one = TargetScaler.from_targets(np.array([5.0]))
    assert one.std == 1.0 and one.constant and one.target_spread == 0.0
    flat = TargetScaler.from_targets(np.full(4, 1e6))
    assert flat.std == 1.0 and flat.constant
    tiny = TargetScaler.from_targets(np.array([1e-12, 2e-12, 3e-12]))  # small but real spread
    assert not tiny.constant and tiny.std == pytest.approx(1e-12)
    tf = s.as_outcome_transform()
    assert not tf.training
    ys, _ = tf(torch.as_tensor(y).reshape(-1, 1))
    np.testing.assert_allclose(ys.reshape(-1).numpy(), s.transform(y))


def test_exact_predictor_matches_closed_form() -> None:
    torch.manual_seed(0)
    kernel = ScaleKernel(RBFKernel(ard_num_dims=2)).double()
    kernel.outputscale = 1.7
    kernel.base_kernel.lengthscale = torch.tensor([[0.5, 1.5]])
    zt = torch.randn(12, 2, dtype=torch.float64)
    yt = torch.randn(12, dtype=torch.float64)
    zs = torch.randn(5, 2, dtype=torch.float64)
    pred = ExactPredictor(kernel, noise=0.05, mean_constant=0.3, latent_train=zt, y_train=yt)
    with torch.no_grad():
        K = kernel(zt).to_dense() + 0.05 * torch.eye(12, dtype=torch.float64)
        Ks = kernel(zs, zt).to_dense()
        Kss = kernel(zs).to_dense()
    mean = 0.3 + Ks @ torch.linalg.solve(K, yt - 0.3)
    cov = Kss - Ks @ torch.linalg.solve(K, Ks.T)
    m, v = pred.predict(zs)
    np.testing.assert_allclose(m.numpy(), mean.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(v.numpy(), cov.diagonal().numpy(), rtol=1e-9, atol=1e-12)
    m2, v2 = pred.predict(zs, chunk=2)  # chunked evaluation gives the same numbers
    np.testing.assert_allclose(m2.numpy(), m.numpy(), rtol=1e-12)
    np.testing.assert_allclose(v2.numpy(), v.numpy(), rtol=1e-12)
    jm, jc = pred.joint(zs)
    np.testing.assert_allclose(jc.numpy(), cov.numpy(), rtol=1e-9, atol=1e-12)
    # the predictor holds a snapshot: changing the live kernel afterwards changes nothing
    kernel.outputscale = 10.0
    np.testing.assert_allclose(pred.predict(zs)[0].numpy(), mean.numpy(), rtol=1e-10)
    draws = pred.sample(zs, 20000, torch.Generator().manual_seed(0))
    np.testing.assert_allclose(np.cov(draws.numpy().T), cov.numpy(), atol=0.05)


@pytest.mark.parametrize("patch_shape", [(16, 16), (9, 7), (1, 1)])
def test_extractors_and_patch_embedding_shapes(patch_shape: tuple[int, int]) -> None:
    h, w = patch_shape
    x = torch.randn(6, h, w)
    for net in (
        MLPExtractor(patch_shape, 3, (8,), torch.Generator().manual_seed(0)),
        CNNExtractor(patch_shape, 3, (4, 8), (8,), torch.Generator().manual_seed(0)),
    ):
        assert net(x).shape == (6, 3)
        emb = PatchEmbedding(net, patch_shape)
        z = emb(x.reshape(2, 3, h * w))  # batch shape (b, q) is kept
        assert z.shape == (2, 3, 3)
        np.testing.assert_allclose(z.reshape(6, 3).detach().numpy(), net(x).detach().numpy(), atol=1e-6)
    a = MLPExtractor((4, 4), 2, (8,), torch.Generator().manual_seed(1))
    b = MLPExtractor((4, 4), 2, (8,), torch.Generator().manual_seed(1))
    c = MLPExtractor((4, 4), 2, (8,), torch.Generator().manual_seed(2))
    assert torch.equal(a.out.weight, b.out.weight) and not torch.equal(a.out.weight, c.out.weight)
    with pytest.raises(SurrogateConfigError, match="cnn_channels"):
        CNNExtractor((8, 8), 2, (), (8,))
    with pytest.raises(ValueError, match="flatten to 64"):
        PatchEmbedding(a, (8, 8))(torch.randn(2, 16))


def test_torch_threads_restores() -> None:
    torch.set_num_threads(1)
    with torch_threads(2):
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == 1
    with pytest.raises(RuntimeError):
        with torch_threads(2):
            raise RuntimeError("boom")
    assert torch.get_num_threads() == 1
