"""Classical BO baseline: an exact GP on probe coordinates only (no structure image).

A botorch ``SingleTaskGP`` with an ARD Matern-5/2 (or RBF) kernel with output scale on ``(n, 2)``
coordinates in [0, 1], Gamma(3, 6) lengthscale / Gamma(2, 0.15) output-scale / LogNormal(-4, 1)
noise priors, a noise floor, and targets standardised per fit. Hyperparameters are fitted by
botorch's ``fit_gpytorch_mll`` (scipy L-BFGS-B), warm-started from the previous fit's values.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from gpytorch.means import ConstantMean
from gpytorch.mlls import ExactMarginalLogLikelihood

from .errors import SurrogateConfigError
from .inputs import as_coords, as_targets
from .kernels import KERNELS, make_covar_module, make_likelihood
from .protocol import HealthReport
from .settings import bool_setting, float_setting, int_setting
from .shell import ExactGPShell
from .standardize import TargetScaler
from .threads import torch_threads

__all__ = ["CoordinateGP", "CoordinateFitInfo"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CoordinateFitInfo:
    """What the last ``fit`` did.

    Args:
        n: number of training points.
        iterations: L-BFGS-B iterations over all of ``fit_gpytorch_mll``'s attempts.
        from_scratch: True when the hyperparameters started from their defaults.
        seconds: wall time of the fit.
        health: health judged on the training coordinates at the end of the fit.
    """

    n: int
    iterations: int
    from_scratch: bool
    seconds: float
    health: HealthReport


class CoordinateGP(ExactGPShell):
    """Exact GP on probe coordinates (``input_kind = "coords"``), the benchmark baseline.

    Args:
        kernel: ``"matern52"`` (default) or ``"rbf"``, ARD over (y, x), with an output scale.
        use_priors: put the Gamma/LogNormal hyperparameter priors on (MAP instead of ML fit).
        noise_lower_bound: floor of the noise variance, standardised target units.
        noise_init: initial noise variance of a fit from scratch, standardised units.
        max_iter: L-BFGS-B iteration cap per fit attempt.
        warm_start: start each fit from the previous fit's hyperparameters.
        seed: seeds botorch's retry draws (hyperparameters resampled from the priors).
        threads: torch intra-op threads during fit/predict.
        collapse_fraction: health: collapsed when the median candidate distance is below this many
            lengthscales (the GP sees all candidates as one point).
        flat_fraction: health: flat when std(predicted mean) over candidates < this fraction of the
            training-target std.
        health_max_points: health: pairwise-distance subsample size.
    """

    input_kind: Literal["patches", "coords"] = "coords"
    _state_format = "autoscope.surrogates.CoordinateGP/1"
    _structural = ("kernel", "use_priors")
    _label = "coordinate GP"
    _summary_name = "coord_gp"

    def __init__(
        self,
        kernel: str = "matern52",
        use_priors: bool = True,
        noise_lower_bound: float = 1e-4,
        noise_init: float = 0.01,
        max_iter: int = 200,
        warm_start: bool = True,
        seed: int = 0,
        threads: int = 1,
        collapse_fraction: float = 0.05,
        flat_fraction: float = 0.05,
        health_max_points: int = 256,
    ) -> None:
        if kernel not in KERNELS:
            raise SurrogateConfigError(f"kernel={kernel!r} is not known; use one of {KERNELS}")
        self.kernel = str(kernel)
        self.use_priors = bool_setting("use_priors", use_priors)
        self.noise_lower_bound = float_setting("noise_lower_bound", noise_lower_bound, 0.0, True)
        self.noise_init = float_setting("noise_init", noise_init, self.noise_lower_bound, True)
        self.max_iter = int_setting("max_iter", max_iter, 1)
        self.warm_start = bool_setting("warm_start", warm_start)
        self.seed = int_setting("seed", seed, 0)
        self.threads = int_setting("threads", threads, 1)
        self.collapse_fraction = float_setting("collapse_fraction", collapse_fraction, 0.0, False)
        self.flat_fraction = float_setting("flat_fraction", flat_fraction, 0.0, False)
        self.health_max_points = int_setting("health_max_points", health_max_points, 2)
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        self._model: SingleTaskGP | None = None
        self.last_fit: CoordinateFitInfo | None = None

    def _check_inputs(self, X: Any, owner: str) -> np.ndarray:
        return as_coords(X, owner, "X")

    def _latent(self, inputs: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(inputs, dtype=torch.float64)

    # ------------------------------------------------------------------ fit
    def _build_modules(self) -> None:
        self._covar = make_covar_module(self.kernel, 2, with_priors=self.use_priors).double()
        self._likelihood = make_likelihood(
            self.noise_lower_bound, self.noise_init, with_prior=self.use_priors
        ).double()
        self._mean = ConstantMean().double()

    def _make_model(self, X: np.ndarray, y_std: np.ndarray) -> SingleTaskGP:
        return SingleTaskGP(
            torch.as_tensor(X, dtype=torch.float64),
            torch.as_tensor(y_std, dtype=torch.float64).unsqueeze(-1),
            likelihood=self._likelihood,
            covar_module=self._covar,
            mean_module=self._mean,
            outcome_transform=None,
        )

    def fit(self, X: np.ndarray, y: np.ndarray) -> CoordinateGP:
        """Fit on coordinates ``X`` (n, 2) float64 in [0, 1] and targets ``y`` (n,), reward units."""
        owner = "CoordinateGP.fit"
        Xc = as_coords(X, owner, "X")
        yy = as_targets(y, Xc.shape[0], owner, "y")
        t0 = time.perf_counter()
        scaler = TargetScaler.from_targets(yy)
        from_scratch = not self.warm_start or self._covar is None or self._reinit_pending
        if self._reinit_pending:
            logger.warning("CoordinateGP collapsed after the last fit: refitting from default hyperparameters")
        iterations = 0

        def count(_params: dict[str, torch.Tensor], _result: Any) -> None:
            nonlocal iterations
            iterations += 1

        with torch_threads(self.threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + self._n_fits)
            if from_scratch:
                self._build_modules()
            model = self._make_model(Xc, scaler.transform(yy))
            mll = ExactMarginalLogLikelihood(model.likelihood, model)
            fit_gpytorch_mll(
                mll,
                optimizer_kwargs={"options": {"maxiter": self.max_iter}, "callback": count},
            )
            model.eval()
            model.outcome_transform = scaler.as_outcome_transform()
            self._model = model
            self._X, self._y, self._scaler = Xc, yy, scaler
            report = self._health_over(Xc)
        self._n_fits += 1
        self._reinit_pending = report.collapsed
        self.last_fit = CoordinateFitInfo(
            n=int(Xc.shape[0]),
            iterations=iterations,
            from_scratch=from_scratch,
            seconds=time.perf_counter() - t0,
            health=report,
        )
        return self

    def botorch_model(self) -> SingleTaskGP:
        """The fitted botorch ``SingleTaskGP`` over ``(..., 2)`` float64 coordinates, reward units."""
        self._require_fitted("botorch_model")
        assert self._model is not None
        return self._model.eval()

    # ------------------------------------------------------------------ persistence
    def _config(self) -> dict[str, Any]:
        return {"kernel": self.kernel, "use_priors": self.use_priors}

    def state_dict(self) -> dict[str, Any]:
        """Hyperparameters (tensors), training data and counters; ``weights_only`` loadable."""
        state = self._state_header(n_fits=int(self._n_fits), reinit_pending=bool(self._reinit_pending))
        if self.is_fitted:
            state.update(self._gp_tensors())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (same ``kernel`` and ``use_priors`` required)."""
        self._check_state(state)
        self._reset()
        self._n_fits = int(state["n_fits"])
        self._reinit_pending = bool(state["reinit_pending"])
        if not state["fitted"]:
            return
        X = state["train_X"].numpy().astype(np.float64, copy=True)
        y = state["train_y"].numpy().astype(np.float64, copy=True)
        scaler = TargetScaler.from_targets(y)
        self._build_modules()
        self._load_gp_tensors(state)
        model = self._make_model(X, scaler.transform(y))
        model.eval()
        model.outcome_transform = scaler.as_outcome_transform()
        self._model = model
        self._X, self._y, self._scaler = X, y, scaler
