"""The shell the GP surrogates share: fitted state, health, versioned state dicts, exact prediction.

:class:`GPShell` holds what every GP surrogate here does the same way (the training set and its
target standardisation, fit counters, ``_require_fitted``, the health check over the candidates,
the ``state_dict`` header with its format and structural settings); :class:`.gpax_vidkl.GpaxViDKL`
builds on it directly. :class:`ExactGPShell` adds the gpytorch side shared by
:class:`.dkl.DKLSurrogate` and :class:`.coordinate_gp.CoordinateGP`: a kernel, likelihood and
constant mean, the exact predictor from the training Cholesky factor, the posterior, leave-one-out
scores and the module tensors of the state dict. A subclass says how its inputs are checked
(:meth:`GPShell._check_inputs`) and how they reach the kernel (:meth:`ExactGPShell._latent`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import torch
from gpytorch.kernels import ScaleKernel
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.means import ConstantMean

from policies.posterior import Posterior

from .errors import SurrogateNotFittedError, SurrogateStateError
from .exact import ExactPredictor
from .health import assess_health
from .loo import LooCache, LooScores, loo_scores, loo_summary, with_loo
from .protocol import HealthReport, SurrogateBase
from .sampling import make_cross_covariance, make_joint_sampler
from .standardize import TargetScaler
from .threads import torch_threads

__all__ = ["GPShell", "ExactGPShell", "module_tensors"]


def module_tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Detached copies of a module's state tensors (``torch.load(weights_only=True)`` safe)."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


class GPShell(SurrogateBase):
    """Fitted state, health and state-dict header of a GP surrogate.

    Class attributes a subclass sets: ``_state_format`` (e.g. ``"autoscope.surrogates.X/1"``),
    ``_structural`` (settings a saved state must share), ``_label`` (the health message before the
    first fit names it). Instance attributes the subclass's ``__init__`` sets before
    :meth:`_reset`: ``collapse_fraction``, ``flat_fraction``, ``health_max_points``.
    """

    _state_format: ClassVar[str]
    _structural: ClassVar[tuple[str, ...]]
    _label: ClassVar[str]
    #: the leave-one-out scores enter the health report (exact GPs only)
    _loo_in_health: ClassVar[bool] = False
    collapse_fraction: float
    flat_fraction: float
    health_max_points: int

    def _reset(self) -> None:
        """Forget every fit: not fitted, counters at zero."""
        self._X: np.ndarray | None = None
        self._y: np.ndarray | None = None
        self._scaler: TargetScaler | None = None
        self._n_fits = 0
        self._reinit_pending = False
        self.last_health: HealthReport | None = None

    # ------------------------------------------------------------------ properties
    @property
    def is_fitted(self) -> bool:
        return self._X is not None

    @property
    def n_fits(self) -> int:
        return self._n_fits

    @property
    def scaler(self) -> TargetScaler:
        """Standardisation of the current training targets."""
        self._require_fitted("scaler")
        assert self._scaler is not None
        return self._scaler

    @property
    def lengthscale(self) -> np.ndarray:
        """(d,) float64 kernel lengthscales in the units of the kernel's inputs."""
        raise NotImplementedError

    def _require_fitted(self, what: str) -> None:
        if not self.is_fitted:
            raise SurrogateNotFittedError(f"{type(self).__name__}.{what}: call fit(X, y) first")

    # ------------------------------------------------------------------ hooks
    def _check_inputs(self, X: Any, owner: str) -> np.ndarray:
        """``X`` as the array this model takes (patches or coordinates), or a typed error."""
        raise NotImplementedError

    def _compute(self) -> contextlib.AbstractContextManager[Any]:
        """The context every prediction runs in (thread count, precision)."""
        return contextlib.nullcontext()

    def _health_over(self, inputs: np.ndarray) -> HealthReport:
        raise NotImplementedError

    def loo(self) -> LooScores:
        """Leave-one-out scores of the last fit; only exact GPs have them."""
        raise NotImplementedError(f"{type(self).__name__} has no leave-one-out scores")

    # ------------------------------------------------------------------ health
    def _assess(self, latent: np.ndarray, mean: np.ndarray) -> HealthReport:
        """Health from the latent points ``(m, d)`` and predicted means ``(m,)`` (reward units)."""
        assert self._scaler is not None
        report = assess_health(
            latent,
            self.lengthscale,
            mean,
            self._scaler.target_spread,
            self.collapse_fraction,
            self.flat_fraction,
            self.health_max_points,
        )
        if self._loo_in_health:
            report = with_loo(report, self.loo())
        self.last_health = report
        return report

    def health(self, X: np.ndarray | None = None) -> HealthReport:
        """Collapse / flat check over ``X`` (the candidates), or over the training inputs.

        Returns ``HealthReport(ok=False, ...)`` (no exception) before the first fit.
        """
        if not self.is_fitted:
            return HealthReport(ok=False, message=f"{self._label} not fitted yet")
        assert self._X is not None
        inputs = self._X if X is None else self._check_inputs(X, f"{type(self).__name__}.health")
        with self._compute():
            return self._health_over(inputs)

    # ------------------------------------------------------------------ persistence
    def _config(self) -> dict[str, Any]:
        """The structural settings, saved with the state and compared on load."""
        raise NotImplementedError

    def _state_header(self, **counters: Any) -> dict[str, Any]:
        """Format, structural settings, fitted flag and counters (plain python)."""
        return {
            "format": self._state_format,
            "config": self._config(),
            "fitted": self.is_fitted,
            **counters,
        }

    def _check_state(self, state: Any) -> None:
        """Refuse a state of another format or of a surrogate with other structural settings."""
        name = type(self).__name__
        if not isinstance(state, dict) or state.get("format") != self._state_format:
            raise SurrogateStateError(
                f"{name}.load_state_dict: not a {name} state (format "
                f"{state.get('format') if isinstance(state, dict) else type(state).__name__!r}, "
                f"expected {self._state_format!r})"
            )
        saved, mine = state["config"], self._config()
        diff = [k for k in self._structural if saved.get(k) != mine[k]]
        if diff:
            details = ", ".join(f"{k}: saved {saved.get(k)!r} vs {mine[k]!r}" for k in diff)
            raise SurrogateStateError(
                f"{name}.load_state_dict: the state was saved with other settings ({details}); "
                "construct the surrogate with the saved settings"
            )


class ExactGPShell(GPShell):
    """A gpytorch kernel + likelihood + constant mean predicted exactly from the training Cholesky
    factor; the subclass maps its inputs to the kernel's (:meth:`_latent`) and fits."""

    _loo_in_health: ClassVar[bool] = True
    #: the model name of :meth:`fit_summary` (``"dkl"``, ``"coord_gp"``)
    _summary_name: ClassVar[str]
    threads: int

    def _reset(self) -> None:
        super()._reset()
        self._covar: ScaleKernel | None = None
        self._likelihood: GaussianLikelihood | None = None
        self._mean: ConstantMean | None = None
        self._loo = LooCache()

    @contextlib.contextmanager
    def _compute(self) -> Iterator[None]:
        with torch_threads(self.threads):
            yield

    def _latent(self, inputs: np.ndarray) -> torch.Tensor:
        """``(m, ...)`` checked inputs -> ``(m, d)`` float64 points the kernel takes."""
        raise NotImplementedError

    @property
    def noise_variance(self) -> float:
        """Fitted noise variance, standardised units (>= noise_lower_bound)."""
        self._require_fitted("noise_variance")
        assert self._likelihood is not None
        return float(self._likelihood.noise.detach().reshape(-1)[0])

    @property
    def lengthscale(self) -> np.ndarray:
        """(d,) float64 kernel lengthscales in the units of the kernel's inputs."""
        self._require_fitted("lengthscale")
        assert self._covar is not None
        return self._covar.base_kernel.lengthscale.detach().reshape(-1).to(torch.float64).numpy()

    def _predictor(self) -> ExactPredictor:
        """GP factors from the current hyperparameters and training set."""
        assert self._covar is not None and self._likelihood is not None and self._mean is not None
        assert self._X is not None and self._scaler is not None and self._y is not None
        return ExactPredictor(
            self._covar,
            noise=self.noise_variance,
            mean_constant=float(self._mean.constant.detach().reshape(-1)[0]),
            latent_train=self._latent(self._X),
            y_train=torch.as_tensor(self._scaler.transform(self._y)),
        )

    def _health_over(self, inputs: np.ndarray) -> HealthReport:
        assert self._scaler is not None
        predictor = self._predictor()
        z = self._latent(inputs)
        mean = self._scaler.untransform_mean(predictor.predict_mean(z).numpy())
        return self._assess(z.numpy(), mean)

    def loo(self) -> LooScores:
        """Leave-one-out scores of the last fit (standardised units), computed once per fit."""
        self._require_fitted("loo")
        assert self._y is not None and self._scaler is not None
        y_std = self._scaler.transform(self._y)

        def compute() -> LooScores:
            with torch_threads(self.threads):
                return loo_scores(self._predictor(), y_std)

        return self._loo.get((self._n_fits, len(self._y)), compute)

    def fit_summary(self) -> dict[str, Any]:
        """The model's name and its leave-one-out scores ({} before the first fit)."""
        if not self.is_fitted:
            return {}
        return loo_summary(self._summary_name, self.loo())

    def posterior(self, X: np.ndarray) -> Posterior:
        """Predictive distribution at ``X`` (m, ...), diagonal, reward units.

        The inputs reach the kernel once; mean and variance come from the training Cholesky factor
        (no m x m matrix). Returns :class:`Posterior` with ``mean`` (m,) and ``std`` (m,) of the
        latent function, ``noise_std``, a joint ``sampler`` and ``cross_covariance`` over
        candidate indices, and ``degenerate=True`` when the health check over ``X`` is not ok.
        """
        self._require_fitted("posterior")
        assert self._scaler is not None
        inputs = self._check_inputs(X, f"{type(self).__name__}.posterior")
        with torch_threads(self.threads):
            predictor = self._predictor()
            z = self._latent(inputs)
            mean_s, var_s = predictor.predict(z)
        scaler = self._scaler
        mean = scaler.untransform_mean(mean_s.numpy())
        std = scaler.untransform_std(np.sqrt(var_s.numpy()))
        report = self._assess(z.numpy(), mean)
        return Posterior(
            mean=mean,
            std=std,
            noise_std=float(scaler.untransform_std(np.sqrt(self.noise_variance))),
            sampler=make_joint_sampler(predictor, z, scaler, self.threads),
            cross_covariance=make_cross_covariance(predictor, z, scaler, self.threads),
            degenerate=not report.ok,
        )

    # ------------------------------------------------------------------ persistence
    def _gp_tensors(self) -> dict[str, Any]:
        """Kernel, likelihood and mean tensors plus the training data (fitted models only)."""
        assert self._covar is not None and self._likelihood is not None and self._mean is not None
        assert self._X is not None and self._y is not None
        return {
            "covar_module": module_tensors(self._covar),
            "likelihood": module_tensors(self._likelihood),
            "mean_module": module_tensors(self._mean),
            "train_X": torch.from_numpy(self._X.copy()),
            "train_y": torch.from_numpy(self._y.copy()),
        }

    def _load_gp_tensors(self, state: dict[str, Any], extra: dict[str, torch.nn.Module] | None = None) -> None:
        """Load the kernel, likelihood and mean (and ``extra`` modules by state key) built by the
        subclass; weights that do not fit reset the surrogate and raise SurrogateStateError."""
        assert self._covar is not None and self._likelihood is not None and self._mean is not None
        modules: dict[str, torch.nn.Module] = dict(extra or {})
        modules.update(covar_module=self._covar, likelihood=self._likelihood, mean_module=self._mean)
        try:
            for key, module in modules.items():
                module.load_state_dict(state[key])
        except RuntimeError as exc:
            self._reset()
            raise SurrogateStateError(
                f"{type(self).__name__}.load_state_dict: weights do not fit: {exc}"
            ) from exc
