"""gpCAM peer: gpCAM's own GP (fvgp, ``gpcam.GPOptimizer``) on probe coordinates, used out of the box.

What a facility group gets from ``pip install gpcam`` and its tutorial: ``GPOptimizer(x, y)`` with the
default kernel (anisotropic Matern, one lengthscale per input dimension, a signal variance), the
default prior mean, the default measurement noise (fvgp sets the noise variance to
``(0.01 * mean|y|)^2`` when none is given) and the default hyperparameter bounds inferred from the
data; ``train()`` with its default method (``local``: L-BFGS-B from several random starts, the best
kept). Nothing is standardised or tuned here. The only settings that differ from gpCAM's defaults are
``max_iter`` (L-BFGS-B iteration cap per start; gpCAM's 10,000 rarely matters with one thread, but
caps a pathological fit) and the seed of the random starts (gpCAM draws them from numpy's global
stream, which this adapter seeds and then restores).

The acquisition is gpCAM's own: ``acquisition(X, "ucb")`` calls
``GPOptimizer.evaluate_acquisition_function`` (``"ucb"`` = posterior mean + 3 posterior std,
``"expected improvement"`` = closed-form EI over the best measured value). In the autoscope loop the
policy sees only the :class:`~policies.posterior.Posterior`, so ``conf/method/gpcam.yaml`` uses
``policies.UCB(beta=9)``: mean + sqrt(9) std, the same score as gpCAM's ``"ucb"`` (the tests check
that both rank the candidates identically).

Needs the optional ``gpcam`` extra (``pip install -e ".[gpcam]"``); gpCAM is imported on first use.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from policies.posterior import Posterior

from .errors import SurrogateConfigError, SurrogateError, SurrogateNotFittedError, SurrogateStateError
from .health import assess_health
from .inputs import as_coords, as_targets
from .protocol import HealthReport, SurrogateBase
from .settings import int_setting

__all__ = ["GpcamGP", "GpcamFitInfo", "GpcamUnavailable", "GPCAM_ACQUISITIONS"]

logger = logging.getLogger(__name__)

_STATE_FORMAT = "autoscope.surrogates.GpcamGP/1"

#: gpCAM's built-in single-task acquisitions this adapter passes through by name.
GPCAM_ACQUISITIONS = ("ucb", "expected improvement", "maximum", "variance", "probability of improvement")


class GpcamUnavailable(SurrogateError, ImportError):
    """gpCAM is not installed (the optional ``gpcam`` extra)."""


def _import_gpcam() -> Any:
    try:
        from gpcam import GPOptimizer
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise GpcamUnavailable(
            "GpcamGP needs gpCAM 8.x: pip install -e '.[gpcam]' (or pip install 'gpcam>=8,<9')"
        ) from exc
    return GPOptimizer


@contextlib.contextmanager
def _numpy_seed(seed: int) -> Iterator[None]:
    """Seed numpy's global stream (gpCAM draws its random starts there), restore it afterwards."""
    saved = np.random.get_state()
    np.random.seed(int(seed) % (2**32))
    try:
        yield
    finally:
        np.random.set_state(saved)


@dataclass(frozen=True)
class GpcamFitInfo:
    """What the last ``fit`` did: training points, wall time, the trained hyperparameters."""

    n: int
    seconds: float
    hyperparameters: tuple[float, ...]
    health: HealthReport


class GpcamGP(SurrogateBase):
    """gpCAM ``GPOptimizer`` on probe coordinates (``input_kind = "coords"``), gpCAM defaults.

    Args:
        max_iter: L-BFGS-B iteration cap per random start of ``GPOptimizer.train`` (>= 1).
        n_restarts: random starts of the ``local`` training (gpCAM's default 5).
        noise_variance: ``None`` (gpCAM's default noise) or a fixed measurement-noise variance in
            reward units squared, the same for every point.
        seed: seeds the random starts (``seed + number of fits``).
        collapse_fraction, flat_fraction, health_max_points: the shared health check
            (:func:`agent.surrogates.health.assess_health`) on the coordinates and the mean.
        retries: when gpCAM's training or prediction raises (fvgp's Cholesky failure), train again
            from other random starts this many times; if all fail, the fit leaves a flat, degenerate
            posterior (counted in ``n_failed_fits``) and the loop goes on.
    """

    input_kind: Literal["patches", "coords"] = "coords"

    def __init__(
        self,
        max_iter: int = 200,
        n_restarts: int = 5,
        noise_variance: float | None = None,
        seed: int = 0,
        collapse_fraction: float = 0.05,
        flat_fraction: float = 0.05,
        health_max_points: int = 256,
        retries: int = 2,
    ) -> None:
        self.retries = int_setting("retries", retries, 0)
        self.max_iter = int_setting("max_iter", max_iter, 1)
        self.n_restarts = int_setting("n_restarts", n_restarts, 1)
        if noise_variance is not None:
            try:
                nv = float(noise_variance)
            except (TypeError, ValueError) as exc:
                raise SurrogateConfigError(f"noise_variance={noise_variance!r} must be a number or null") from exc
            if not np.isfinite(nv) or nv <= 0:
                raise SurrogateConfigError(
                    f"noise_variance={noise_variance!r} must be > 0 (reward units squared), or null for gpCAM's default"
                )
            noise_variance = nv
        self.noise_variance = noise_variance
        self.seed = int_setting("seed", seed, 0)
        self.collapse_fraction = float(collapse_fraction)
        self.flat_fraction = float(flat_fraction)
        self.health_max_points = int_setting("health_max_points", health_max_points, 2)
        self._reset()

    def _reset(self) -> None:
        self._gp: Any = None
        self._X: np.ndarray | None = None
        self._y: np.ndarray | None = None
        self._hps: np.ndarray | None = None
        self._n_fits = 0
        self._failed = False
        self.n_failed_fits = 0
        self.last_fit: GpcamFitInfo | None = None
        self.last_health: HealthReport | None = None

    # ------------------------------------------------------------------ properties
    @property
    def is_fitted(self) -> bool:
        return self._gp is not None

    @property
    def n_fits(self) -> int:
        return self._n_fits

    @property
    def hyperparameters(self) -> np.ndarray:
        """gpCAM's trained hyperparameters (default kernel: signal variance, lengthscale y, x)."""
        self._require_fitted("hyperparameters")
        assert self._hps is not None
        return self._hps.copy()

    @property
    def optimizer(self) -> Any:
        """The fitted ``gpcam.GPOptimizer`` (for gpCAM's own acquisition functions)."""
        self._require_fitted("optimizer")
        return self._gp

    def _require_fitted(self, what: str) -> None:
        if self._gp is None:
            raise SurrogateNotFittedError(f"GpcamGP.{what}: call fit(X, y) first")

    # ------------------------------------------------------------------ fit
    def _build(self, X: np.ndarray, y: np.ndarray, hps: np.ndarray | None) -> Any:
        GPOptimizer = _import_gpcam()
        kwargs: dict[str, Any] = {}
        if self.noise_variance is not None:
            kwargs["noise_variances"] = np.full(X.shape[0], self.noise_variance)
        if hps is not None:
            kwargs["init_hyperparameters"] = np.asarray(hps, dtype=np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # gpCAM warns about every default it applies
            return GPOptimizer(X, y, **kwargs)

    def fit(self, X: np.ndarray, y: np.ndarray) -> GpcamGP:
        """Fit on coordinates ``X`` (n, 2) in [0, 1] and targets ``y`` (n,), reward units (n >= 2)."""
        owner = "GpcamGP.fit"
        Xc = as_coords(X, owner, "X")
        yy = as_targets(y, Xc.shape[0], owner, "y")
        if Xc.shape[0] < 2:
            raise SurrogateConfigError(f"{owner}: gpCAM needs at least 2 points, got {Xc.shape[0]}")
        t0 = time.perf_counter()
        error: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                gp = self._build(Xc, yy, None)
                with _numpy_seed(self.seed + self._n_fits + 7919 * attempt), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    gp.train(max_iter=self.max_iter, n_restarts=self.n_restarts)
                    mean = np.asarray(gp.posterior_mean(Xc)["m(x)"], dtype=np.float64).reshape(-1)
                if not np.all(np.isfinite(mean)):
                    raise FloatingPointError("gpCAM predicted a non-finite mean")
                error = None
                break
            except Exception as exc:  # noqa: BLE001 - fvgp raises bare Exception on a failed Cholesky
                error = exc
        self._X, self._y = Xc, yy
        self._n_fits += 1
        if error is not None:
            # gpCAM could not fit (e.g. its default noise (0.01 mean|y|)^2 is 0 on all-zero targets and the
            # trained signal variance 0: a singular covariance). The loop goes on with a flat, degenerate
            # posterior (the policy explores), as an operator would keep measuring; counted in n_failed_fits.
            self.n_failed_fits += 1
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            logger.warning("gpCAM fit failed on %d points after %d attempt(s) (%s); flat posterior this step",
                           Xc.shape[0], self.retries + 1, first)
            self._gp = None
            self._hps = None
            self._failed = True
            report = HealthReport(ok=False, flat=True, message=f"gpCAM fit failed: {first}")
            self.last_health = report
            self.last_fit = GpcamFitInfo(n=int(Xc.shape[0]), seconds=time.perf_counter() - t0,
                                         hyperparameters=(), health=report)
            return self
        self._failed = False
        self._gp = gp
        self._hps = np.asarray(gp.hyperparameters, dtype=np.float64).copy()
        report = self._assess(Xc, mean)
        self.last_fit = GpcamFitInfo(
            n=int(Xc.shape[0]),
            seconds=time.perf_counter() - t0,
            hyperparameters=tuple(float(v) for v in self._hps),
            health=report,
        )
        return self

    # ------------------------------------------------------------------ prediction
    def _mean(self, Xc: np.ndarray) -> np.ndarray:
        return np.asarray(self._gp.posterior_mean(Xc)["m(x)"], dtype=np.float64).reshape(-1)

    def _var(self, Xc: np.ndarray) -> np.ndarray:
        v = self._gp.posterior_covariance(Xc, variance_only=True)["v(x)"]
        return np.clip(np.asarray(v, dtype=np.float64).reshape(-1), 0.0, None)

    def _assess(self, Xc: np.ndarray, mean: np.ndarray) -> HealthReport:
        assert self._hps is not None and self._y is not None
        spread = float(np.std(self._y, ddof=1)) if self._y.size > 1 else 0.0
        lengthscale = self._hps[1:3] if self._hps.size >= 3 else np.ones(2)
        report = assess_health(Xc, lengthscale, mean, spread if spread > 0 else 1.0,
                               self.collapse_fraction, self.flat_fraction, self.health_max_points)
        self.last_health = report
        return report

    def posterior(self, X: np.ndarray) -> Posterior:
        """gpCAM's posterior mean and latent std at coordinates ``X`` (m, 2), reward units; after a
        failed fit a flat, degenerate posterior (mean and std of the targets) so the policy explores."""
        Xc = as_coords(X, "GpcamGP.posterior", "X")
        if self._failed and self._y is not None:
            spread = float(np.std(self._y)) if self._y.size > 1 else 0.0
            return Posterior(mean=np.full(Xc.shape[0], float(np.mean(self._y))),
                             std=np.full(Xc.shape[0], spread if spread > 0 else 1.0),
                             noise_std=0.0, degenerate=True)
        self._require_fitted("posterior")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mean = self._mean(Xc)
            std = np.sqrt(self._var(Xc))
        noise_std = self._noise_std()
        report = self._assess(Xc, mean)
        return Posterior(mean=mean, std=std, noise_std=noise_std, degenerate=not report.ok)

    def _noise_std(self) -> float:
        """The measurement-noise std the GP assumed: the fixed setting, or fvgp's default
        ``0.01 * mean|y|``."""
        if self.noise_variance is not None:
            return float(np.sqrt(self.noise_variance))
        assert self._y is not None
        return 0.01 * float(np.mean(np.abs(self._y)))

    def acquisition(self, X: np.ndarray, name: str = "ucb") -> np.ndarray:
        """gpCAM's own acquisition ``name`` at coordinates ``X`` (m, 2): higher is better."""
        self._require_fitted("acquisition")
        if name not in GPCAM_ACQUISITIONS:
            raise SurrogateConfigError(f"acquisition {name!r} is not passed through; use one of {GPCAM_ACQUISITIONS}")
        Xc = as_coords(X, "GpcamGP.acquisition", "X")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = self._gp.evaluate_acquisition_function(Xc, acquisition_function=name)
        return np.asarray(values, dtype=np.float64).reshape(-1)

    def health(self, X: np.ndarray | None = None) -> HealthReport:
        """Collapse / flat check over ``X`` (candidate coordinates) or the training coordinates."""
        if self._failed:
            return HealthReport(ok=False, flat=True, message="the last gpCAM fit failed")
        if self._gp is None:
            return HealthReport(ok=False, message="gpCAM GP not fitted yet")
        assert self._X is not None
        Xc = self._X if X is None else as_coords(X, "GpcamGP.health", "X")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self._assess(Xc, self._mean(Xc))

    # ------------------------------------------------------------------ persistence
    def _config(self) -> dict[str, Any]:
        return {"noise_variance": self.noise_variance}

    def state_dict(self) -> dict[str, Any]:
        """Training data, trained hyperparameters and the fit counter (numpy arrays, plain types)."""
        state: dict[str, Any] = {
            "format": _STATE_FORMAT,
            "config": self._config(),
            "fitted": self._gp is not None,
            "n_fits": int(self._n_fits),
        }
        if self._gp is not None:
            assert self._X is not None and self._y is not None and self._hps is not None
            state.update(train_X=self._X.copy(), train_y=self._y.copy(), hyperparameters=self._hps.copy())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`: the GP is rebuilt on the saved data with the saved
        hyperparameters (no training)."""
        if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT:
            raise SurrogateStateError(
                f"GpcamGP.load_state_dict: not a GpcamGP state (expected format {_STATE_FORMAT!r})"
            )
        if state["config"] != self._config():
            raise SurrogateStateError(
                f"GpcamGP.load_state_dict: saved with {state['config']}, this model has {self._config()}"
            )
        self._reset()
        self._n_fits = int(state["n_fits"])
        if not state["fitted"]:
            return
        X = np.asarray(state["train_X"], dtype=np.float64)
        y = np.asarray(state["train_y"], dtype=np.float64)
        hps = np.asarray(state["hyperparameters"], dtype=np.float64)
        self._gp = self._build(X, y, hps)
        self._X, self._y, self._hps = X, y, hps
