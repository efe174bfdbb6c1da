"""Exact GP prediction from cached training factors (float64), marginal or joint over a subset.

The surrogates' ``posterior`` path: with ``L L^T = K(Z_train) + noise I`` and
``alpha = (K + noise I)^-1 (y - c)``, for inputs ``Z`` (already embedded):

* mean ``c + K(Z, Z_train) alpha``;
* variance ``k(z, z) - ||L^-1 K(Z_train, z)||^2`` per row (diagonal only, no m x m matrix);
* a joint covariance only for an explicit subset (the sampler).

The kernel is deep-copied at construction, so a predictor (and any sampler holding one) keeps
answering for the fit it came from even after the surrogate is refitted.
"""

from __future__ import annotations

import copy

import torch
from gpytorch.kernels import Kernel
from linear_operator.utils.cholesky import psd_safe_cholesky

__all__ = ["ExactPredictor"]


class ExactPredictor:
    """Exact GP posterior of the latent function in standardised target units.

    Args:
        covar_module: the fitted kernel (copied and cast to float64 here).
        noise: fitted observation-noise variance, standardised units.
        mean_constant: the constant prior mean, standardised units.
        latent_train: (n, k) training inputs as the kernel sees them (embeddings or coordinates).
        y_train: (n,) standardised training targets.
    """

    def __init__(
        self,
        covar_module: Kernel,
        noise: float,
        mean_constant: float,
        latent_train: torch.Tensor,
        y_train: torch.Tensor,
    ) -> None:
        kernel = copy.deepcopy(covar_module).to(torch.float64).eval()
        for p in kernel.parameters():
            p.requires_grad_(False)
        self.kernel = kernel
        self.noise = float(noise)
        self.mean_constant = float(mean_constant)
        self.latent_train = latent_train.detach().to(torch.float64)
        y = y_train.detach().to(torch.float64).reshape(-1)
        n = self.latent_train.shape[0]
        with torch.no_grad():
            k_train = self.kernel(self.latent_train).to_dense()
            k_train = k_train + self.noise * torch.eye(n, dtype=torch.float64)
            self.chol = psd_safe_cholesky(k_train)
            resid = (y - self.mean_constant).unsqueeze(-1)
            self.alpha = torch.cholesky_solve(resid, self.chol).squeeze(-1)

    def _cross(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """K(Z_train, Z) (n, m) and V = L^-1 K(Z_train, Z) (n, m)."""
        k_cross = self.kernel(self.latent_train, latent).to_dense()
        v = torch.linalg.solve_triangular(self.chol, k_cross, upper=False)
        return k_cross, v

    def predict(self, latent: torch.Tensor, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
        """Marginal mean and variance of f at ``latent`` (m, k): two (m,) float64 tensors.

        Works through ``chunk`` rows at a time, so memory stays O(n * chunk) for any m.
        """
        z = latent.detach().to(torch.float64)
        means, variances = [], []
        with torch.no_grad():
            for start in range(0, z.shape[0], chunk):
                zc = z[start : start + chunk]
                k_cross, v = self._cross(zc)
                means.append(self.mean_constant + k_cross.transpose(0, 1) @ self.alpha)
                prior_var = self.kernel(zc, diag=True).reshape(-1)
                variances.append((prior_var - (v * v).sum(dim=0)).clamp_min(0.0))
        return torch.cat(means), torch.cat(variances)

    def predict_mean(self, latent: torch.Tensor) -> torch.Tensor:
        """Mean of f at ``latent`` (m, k): (m,) float64, no variance work."""
        z = latent.detach().to(torch.float64)
        with torch.no_grad():
            k_cross = self.kernel(self.latent_train, z).to_dense()
            return self.mean_constant + k_cross.transpose(0, 1) @ self.alpha

    def cross_covariance(self, latent: torch.Tensor, subset: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """Posterior covariance of f between every row of ``latent`` (m, d) and the rows of
        ``subset`` (k, d): (m, k) float64, ``chunk`` rows at a time (never m x m)."""
        z = latent.detach().to(torch.float64)
        zs = subset.detach().to(torch.float64)
        out = []
        with torch.no_grad():
            _, vs = self._cross(zs)
            for start in range(0, z.shape[0], chunk):
                zc = z[start : start + chunk]
                _, v = self._cross(zc)
                out.append(self.kernel(zc, zs).to_dense() - v.transpose(0, 1) @ vs)
        return torch.cat(out)

    def joint(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Joint mean (k,) and covariance (k, k) of f over the rows of ``latent`` (k, d)."""
        z = latent.detach().to(torch.float64)
        with torch.no_grad():
            k_cross, v = self._cross(z)
            mean = self.mean_constant + k_cross.transpose(0, 1) @ self.alpha
            cov = self.kernel(z, z).to_dense() - v.transpose(0, 1) @ v
            cov = 0.5 * (cov + cov.transpose(0, 1))
        return mean, cov

    def sample(
        self,
        latent: torch.Tensor,
        n_samples: int,
        generator: torch.Generator,
        jitter: float = 1e-8,
    ) -> torch.Tensor:
        """Joint draws of f over the rows of ``latent``: (n_samples, k) float64, standardised units.

        ``jitter`` (relative to the mean prior variance) is added to the diagonal before the
        Cholesky factorisation; more is added automatically if that still fails.
        """
        mean, cov = self.joint(latent)
        k = mean.shape[0]
        scale = float(cov.diagonal().abs().mean().clamp_min(1e-12))
        cov = cov + (jitter * scale) * torch.eye(k, dtype=torch.float64)
        chol = psd_safe_cholesky(cov)
        eps = torch.randn(n_samples, k, generator=generator, dtype=torch.float64)
        return mean.unsqueeze(0) + eps @ chol.transpose(0, 1)
