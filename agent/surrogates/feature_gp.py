"""An exact GP on a few numeric inputs in [0, 1]: the building block of :class:`.StructureGP`.

Two hyperparameter priors, both botorch's:

* ``"gamma"``: ARD Matern-5/2 with an output scale, Gamma(3, 6) lengthscales, Gamma(2, 0.15)
  output scale, LogNormal(-4, 1) noise: suited to 2 inputs (probe coordinates);
* ``"dim_scaled"``: botorch's default since 0.12, an ARD RBF kernel whose LogNormal lengthscale
  prior grows with the square root of the input dimension (Hvarfner et al., 2024), so 10-20 inputs
  do not overfit on 10-100 points;
* ``"additive"``: the first two inputs (probe coordinates) under the ``"gamma"`` kernel plus the
  others under the ``"dim_scaled"`` one, each with its own output scale: a spatial term keeps its
  short lengthscale (hot spots are contiguous) while the descriptor term generalises across the
  field of view.

Targets are standardised per fit. ``fit(..., optimise=False)`` keeps the hyperparameters and only
conditions the GP on the new data (milliseconds); ``optimise=True`` runs botorch's
``fit_gpytorch_mll`` (L-BFGS-B), warm-started from the last values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.utils.gpytorch_modules import (
    get_covar_module_with_dim_scaled_prior,
    get_gaussian_likelihood_with_lognormal_prior,
)
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import AdditiveKernel, Kernel, MaternKernel, ScaleKernel
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.means import ConstantMean
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import GammaPrior

from .errors import SurrogateConfigError, SurrogateNotFittedError
from .exact import ExactPredictor
from .kernels import make_covar_module, make_likelihood
from .loo import LooScores, loo_scores
from .standardize import TargetScaler

__all__ = ["PRIORS", "FeatureGP"]

#: hyperparameter priors accepted by :class:`FeatureGP`.
PRIORS = ("gamma", "dim_scaled", "additive")


@dataclass
class _Modules:
    covar: Kernel
    likelihood: GaussianLikelihood
    mean: ConstantMean


class FeatureGP:
    """Exact GP on ``(n, d)`` float64 inputs in [0, 1], targets in any units.

    Args:
        dims: input dimension d >= 1.
        prior: ``"gamma"`` or ``"dim_scaled"`` (see the module docstring).
        noise_lower_bound: floor of the noise variance, standardised target units.
        max_iter: L-BFGS-B iteration cap per optimisation.
        seed: seeds botorch's retry draws.
    """

    def __init__(self, dims: int, prior: str = "dim_scaled", noise_lower_bound: float = 1e-4,
                 max_iter: int = 200, seed: int = 0) -> None:
        if prior not in PRIORS:
            raise SurrogateConfigError(f"prior={prior!r} is not known; use one of {PRIORS}")
        if prior == "additive" and int(dims) < 3:
            raise SurrogateConfigError(f"prior='additive' needs 2 coordinates plus descriptors, got dims={dims}")
        self.dims = int(dims)
        self.prior = prior
        self.noise_lower_bound = float(noise_lower_bound)
        self.max_iter = int(max_iter)
        self.seed = int(seed)
        self._modules: _Modules | None = None
        self._predictor: ExactPredictor | None = None
        self._scaler: TargetScaler | None = None
        self._y_std: np.ndarray | None = None
        self._n_optimised = 0

    def _build(self) -> _Modules:
        if self.prior == "gamma":
            covar: Kernel = make_covar_module("matern52", self.dims, with_priors=True).double()
            likelihood = make_likelihood(self.noise_lower_bound, 0.01, with_prior=True).double()
        elif self.prior == "additive":
            spatial = ScaleKernel(MaternKernel(nu=2.5, ard_num_dims=2, active_dims=(0, 1),
                                               lengthscale_prior=GammaPrior(3.0, 6.0)),
                                  outputscale_prior=GammaPrior(2.0, 0.15))
            spatial.base_kernel.lengthscale = GammaPrior(3.0, 6.0).mean
            rest = tuple(range(2, self.dims))
            descriptors = ScaleKernel(get_covar_module_with_dim_scaled_prior(ard_num_dims=len(rest), active_dims=rest),
                                      outputscale_prior=GammaPrior(2.0, 0.15))
            spatial.outputscale = descriptors.outputscale = 0.5
            covar = (spatial + descriptors).double()
            likelihood = make_likelihood(self.noise_lower_bound, 0.01, with_prior=True).double()
        else:
            covar = get_covar_module_with_dim_scaled_prior(ard_num_dims=self.dims).double()
            likelihood = get_gaussian_likelihood_with_lognormal_prior().double()
            likelihood.noise_covar.register_constraint("raw_noise", GreaterThan(self.noise_lower_bound))
            likelihood.noise = 0.01
        return _Modules(covar, likelihood, ConstantMean().double())

    @property
    def is_fitted(self) -> bool:
        return self._predictor is not None

    def fit(self, X: np.ndarray, y: np.ndarray, optimise: bool) -> FeatureGP:
        """Condition on ``X`` (n, d) in [0, 1] and ``y`` (n,); optimise the hyperparameters first
        when ``optimise`` (always on the first fit)."""
        Xt = torch.as_tensor(np.asarray(X, dtype=np.float64))
        scaler = TargetScaler.from_targets(y)
        y_std = scaler.transform(y)
        if self._modules is None:
            self._modules = self._build()
            optimise = True
        m = self._modules
        if optimise:
            model = SingleTaskGP(Xt, torch.as_tensor(y_std).unsqueeze(-1), likelihood=m.likelihood,
                                 covar_module=m.covar, mean_module=m.mean, outcome_transform=None)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed + self._n_optimised)
                fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model),
                                 optimizer_kwargs={"options": {"maxiter": self.max_iter}})
            self._n_optimised += 1
        self._predictor = ExactPredictor(
            m.covar,
            noise=float(m.likelihood.noise.detach().reshape(-1)[0]),
            mean_constant=float(m.mean.constant.detach().reshape(-1)[0]),
            latent_train=Xt,
            y_train=torch.as_tensor(y_std),
        )
        self._scaler, self._y_std = scaler, y_std
        return self

    def _require(self) -> tuple[ExactPredictor, TargetScaler]:
        if self._predictor is None or self._scaler is None:
            raise SurrogateNotFittedError("FeatureGP: call fit(X, y, optimise) first")
        return self._predictor, self._scaler

    @property
    def predictor(self) -> ExactPredictor:
        """The exact predictor of the last fit (standardised units)."""
        return self._require()[0]

    @property
    def scaler(self) -> TargetScaler:
        return self._require()[1]

    @property
    def noise_variance(self) -> float:
        return self._require()[0].noise

    @property
    def lengthscale(self) -> np.ndarray:
        """(d,) lengthscales in input units."""
        assert self._modules is not None
        k = self._modules.covar
        parts = k.kernels if isinstance(k, AdditiveKernel) else [k]
        bases = [p.base_kernel if isinstance(p, ScaleKernel) else p for p in parts]
        return np.concatenate([b.lengthscale.detach().reshape(-1).to(torch.float64).numpy() for b in bases])

    def loo(self) -> LooScores:
        """Leave-one-out scores of the last fit."""
        predictor, _ = self._require()
        assert self._y_std is not None
        return loo_scores(predictor, self._y_std)

    def state_dict(self) -> dict[str, Any]:
        """Hyperparameters (tensors) and the optimisation counter; ``weights_only`` loadable."""
        head = {"dims": self.dims, "prior": self.prior, "n_optimised": self._n_optimised}
        if self._modules is None:
            return {**head, "fitted": False}
        m = self._modules
        return {**head, "fitted": True,
                "covar": {k: v.detach().clone() for k, v in m.covar.state_dict().items()},
                "likelihood": {k: v.detach().clone() for k, v in m.likelihood.state_dict().items()},
                "mean": {k: v.detach().clone() for k, v in m.mean.state_dict().items()}}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any], noise_lower_bound: float = 1e-4,
                        max_iter: int = 200, seed: int = 0) -> FeatureGP:
        """A GP with the saved dimension, prior and hyperparameters."""
        gp = cls(int(state["dims"]), str(state["prior"]), noise_lower_bound, max_iter, seed)
        gp.load_state_dict(state)
        return gp

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore hyperparameters; call :meth:`fit` (``optimise=False``) to condition on data."""
        if int(state["dims"]) != self.dims or state["prior"] != self.prior:
            raise SurrogateConfigError(
                f"FeatureGP.load_state_dict: saved for {state['dims']} inputs with prior {state['prior']!r}, "
                f"this GP has {self.dims} with {self.prior!r}")
        self._n_optimised = int(state["n_optimised"])
        self._predictor = self._scaler = self._y_std = None
        if not state["fitted"]:
            self._modules = None
            return
        m = self._build()
        m.covar.load_state_dict(state["covar"])
        m.likelihood.load_state_dict(state["likelihood"])
        m.mean.load_state_dict(state["mean"])
        self._modules = m
