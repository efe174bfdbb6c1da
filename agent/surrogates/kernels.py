"""GP building blocks: ARD kernel with an output scale, and a Gaussian likelihood with a noise floor.

The noise floor is a gpytorch ``GreaterThan`` constraint with its default softplus transform, so it
holds under any optimiser (a plain Adam loop included); botorch's own default constraint has no
transform and is enforced only by botorch's scipy optimiser (DESIGN.md section 4).
"""

from __future__ import annotations

from gpytorch.constraints import GreaterThan
from gpytorch.kernels import MaternKernel, RBFKernel, ScaleKernel
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.priors import GammaPrior, LogNormalPrior

from .errors import SurrogateConfigError

__all__ = ["KERNELS", "make_covar_module", "make_likelihood"]

#: kernel names accepted by :func:`make_covar_module`.
KERNELS = ("rbf", "matern52")


def make_covar_module(kind: str, ard_num_dims: int, with_priors: bool = False) -> ScaleKernel:
    """``ScaleKernel(RBF | Matern-5/2)`` with one lengthscale per input dimension.

    Args:
        kind: ``"rbf"`` or ``"matern52"``.
        ard_num_dims: input (latent) dimension, >= 1.
        with_priors: add Gamma(3, 6) lengthscale and Gamma(2, 0.15) output-scale priors (for inputs
            scaled to [0, 1], e.g. probe coordinates); DKL uses none (its latent scale is learned).
    """
    ls_prior = GammaPrior(3.0, 6.0) if with_priors else None
    os_prior = GammaPrior(2.0, 0.15) if with_priors else None
    if kind == "rbf":
        base = RBFKernel(ard_num_dims=ard_num_dims, lengthscale_prior=ls_prior)
    elif kind == "matern52":
        base = MaternKernel(nu=2.5, ard_num_dims=ard_num_dims, lengthscale_prior=ls_prior)
    else:
        raise SurrogateConfigError(f"kernel={kind!r} is not known; use one of {KERNELS}")
    if ls_prior is not None:
        base.lengthscale = ls_prior.mean
    kernel = ScaleKernel(base, outputscale_prior=os_prior)
    kernel.outputscale = 1.0
    return kernel


def make_likelihood(
    noise_lower_bound: float, noise_init: float, with_prior: bool = False
) -> GaussianLikelihood:
    """Gaussian likelihood whose noise variance (standardised units) never drops below the bound.

    Args:
        noise_lower_bound: > 0, the floor of the noise variance (standardised target units).
        noise_init: starting noise variance, > noise_lower_bound.
        with_prior: add a LogNormal(-4, 1) noise-variance prior (botorch's default; coordinate GP).
    """
    if not noise_lower_bound > 0:
        raise SurrogateConfigError(
            f"noise_lower_bound={noise_lower_bound} must be > 0 (e.g. 1e-4); without a floor the "
            "noise can be driven to zero or below"
        )
    if not noise_init > noise_lower_bound:
        raise SurrogateConfigError(
            f"noise_init={noise_init} must exceed noise_lower_bound={noise_lower_bound}"
        )
    likelihood = GaussianLikelihood(
        noise_constraint=GreaterThan(noise_lower_bound),
        noise_prior=LogNormalPrior(-4.0, 1.0) if with_prior else None,
    )
    likelihood.noise = noise_init
    return likelihood
