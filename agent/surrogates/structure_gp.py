"""The default surrogate: structure learned before the first spectrum, a GP for the small-data work.

Four *views* of every candidate, each an exact GP (:class:`.FeatureGP`) on its own inputs:

* ``coords``: the probe coordinates alone (classical Bayesian optimisation);
* ``structure``: the coordinates plus label-free descriptors of the whole overview
  (:mod:`agent.structure.features`: distance to the nearest outline, size, shape and intensity of
  the nearest region, position on it, neighbours, multi-scale context);
* ``pretrained``: the coordinates plus the prediction of a structure -> property model trained
  offline on other specimens (:class:`agent.structure.StructurePropertyModel`, the file named by
  ``pretrained``); only when such a file is configured;
* ``combined``: the ``structure`` inputs plus that prediction (the GP can correct the pretrained
  model with this specimen's descriptors); only with a file.

After every fit, each view is scored by its leave-one-out log predictive density on the points
measured so far (:mod:`.loo`) and the best one drives the decision: the agent can never trust the
image more than the measurements justify, and a view that memorises (near-perfect training fit,
poor leave-one-out R^2) is not used. The predictive standard deviation of the chosen view is
recalibrated by the root-mean-square of its standardised leave-one-out residuals when that exceeds
1 (intervals that held too little of the left-out data are widened).

Inputs: :meth:`inputs` maps a :class:`agent.candidates.CandidateSet` to an ``(n, d)`` float64 matrix
(every descriptor min-max scaled to [0, 1] over the candidates, the pretrained prediction last);
``fit``/``posterior`` take rows of it.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from policies.posterior import Posterior

from .errors import (
    SurrogateConfigError,
    SurrogateInputError,
    SurrogateNotFittedError,
    SurrogateStateError,
)
from .feature_gp import FeatureGP
from .health import assess_health
from .loo import LooScores
from .protocol import HealthReport
from .sampling import make_cross_covariance, make_joint_sampler
from .settings import bool_setting, float_setting, int_setting
from .threads import torch_threads

if TYPE_CHECKING:
    from agent.candidates import CandidateSet

__all__ = ["STRUCTURE_COLUMNS", "VIEWS", "StructureGP", "StructureFitInfo"]

log = logging.getLogger(__name__)

_STATE_FORMAT = "autoscope.surrogates.StructureGP/1"

#: descriptors of the ``structure`` view (besides the coordinates): few enough for 10-100 points.
STRUCTURE_COLUMNS: tuple[str, ...] = (
    "log_abs_distance_nm", "region_diameter_nm", "region_elongation", "region_intensity",
    "along_major", "outline_convexity", "proximity_l8nm", "second_distance_nm",
    "intensity_s2nm", "intensity_s8nm",
)
#: the views a :class:`StructureGP` can weigh against each other.
VIEWS = ("coords", "structure", "pretrained", "combined")


@dataclass(frozen=True)
class StructureFitInfo:
    """What the last ``fit`` did.

    Args:
        n: training points.
        view: the view that drives the decision (one of :data:`VIEWS`).
        scores: leave-one-out scores of every view fitted.
        optimised: True when the hyperparameters were optimised (else only conditioned).
        calibration: factor applied to the chosen view's predictive std (>= 1).
        seconds: wall time of the fit.
    """

    n: int
    view: str
    scores: dict[str, LooScores]
    optimised: bool
    calibration: float
    seconds: float
    memorising: tuple[str, ...] = field(default_factory=tuple)


class StructureGP:
    """Structure-aware GP surrogate with leave-one-out view selection (``input_kind = "features"``).

    Args:
        views: which views compete (subset of ``coords``, ``structure``, ``pretrained``,
            ``combined``); the last two are dropped when no ``pretrained`` file is named.
        pretrained: path of a :class:`agent.structure.StructurePropertyModel` file, or None. A
            relative path is looked up from the working directory, then from the package folder.
        refit_every: optimise the hyperparameters at least K fits apart; in between, condition only.
        refit_growth: ... and at least ``refit_growth * n`` fits apart at n training points, so
            the amortised cost per decision stays flat as n grows (0: every ``refit_every`` fits).
        structure_kernel: ``"joint"``: one ARD kernel over the coordinates and descriptors of the
            ``structure`` view; ``"additive"``: a coordinate kernel plus a descriptor kernel (see
            :class:`.FeatureGP`).
        calibrate: widen the predictive std by the leave-one-out z-score RMS when it exceeds 1.
        max_calibration: cap of that factor.
        min_points_calibration: fewest points before calibrating.
        smooth_nm, min_area_nm2: segmentation settings of the descriptors (see
            :func:`agent.structure.structure_features`).
        noise_lower_bound: floor of every view's noise variance, standardised units.
        max_iter: L-BFGS-B iterations per hyperparameter optimisation.
        seed: seeds botorch's retry draws.
        threads: torch threads during fit/predict.
        flat_fraction: health: flat when std(mean over candidates) < this x std(training targets).
        memorisation_train_r2, memorisation_loo_r2: a view with training R^2 >= the first and
            leave-one-out R^2 < the second is flagged as memorising and is not selected.
    """

    input_kind: Literal["patches", "coords", "features"] = "features"

    def __init__(
        self,
        views: tuple[str, ...] | list[str] = VIEWS,
        pretrained: str | None = None,
        refit_every: int = 5,
        refit_growth: float = 0.1,
        structure_kernel: str = "additive",
        calibrate: bool = True,
        max_calibration: float = 3.0,
        min_points_calibration: int = 10,
        smooth_nm: float = 1.0,
        min_area_nm2: float = 20.0,
        noise_lower_bound: float = 1e-4,
        max_iter: int = 50,
        seed: int = 0,
        threads: int = 1,
        flat_fraction: float = 0.05,
        memorisation_train_r2: float = 0.98,
        memorisation_loo_r2: float = 0.25,
    ) -> None:
        views = tuple(str(v) for v in views)
        unknown = [v for v in views if v not in VIEWS]
        if unknown or not views:
            raise SurrogateConfigError(f"views={list(views)} must be a non-empty subset of {list(VIEWS)}")
        if not pretrained and ("pretrained" in views or "combined" in views):
            views = tuple(v for v in views if v not in ("pretrained", "combined"))
            if not views:
                raise SurrogateConfigError("views=[pretrained|combined] need surrogate.pretrained=<file>")
        self.views = views
        self.pretrained_path = _resolve(pretrained) if pretrained else None
        self.refit_every = int_setting("refit_every", refit_every, 1)
        self.refit_growth = float_setting("refit_growth", refit_growth, 0.0, False)
        if structure_kernel not in ("joint", "additive"):
            raise SurrogateConfigError(f"structure_kernel={structure_kernel!r}: use 'joint' or 'additive'")
        self.structure_kernel = str(structure_kernel)
        self.calibrate = bool_setting("calibrate", calibrate)
        self.max_calibration = float_setting("max_calibration", max_calibration, 1.0, False)
        self.min_points_calibration = int_setting("min_points_calibration", min_points_calibration, 3)
        self.smooth_nm = float_setting("smooth_nm", smooth_nm, 0.0, True)
        self.min_area_nm2 = float_setting("min_area_nm2", min_area_nm2, 0.0, False)
        self.noise_lower_bound = float_setting("noise_lower_bound", noise_lower_bound, 0.0, True)
        self.max_iter = int_setting("max_iter", max_iter, 1)
        self.seed = int_setting("seed", seed, 0)
        self.threads = int_setting("threads", threads, 1)
        self.flat_fraction = float_setting("flat_fraction", flat_fraction, 0.0, False)
        self.memorisation_train_r2 = float(memorisation_train_r2)
        self.memorisation_loo_r2 = float(memorisation_loo_r2)
        self._model_file = None
        if self.pretrained_path is not None:
            from agent.structure.pretrained import StructurePropertyModel

            self._model_file = StructurePropertyModel.load(self.pretrained_path)  # refuse a bad file now
        self._columns: dict[str, list[int]] = {}
        self._names: tuple[str, ...] = ()
        self._inputs_key: tuple[Any, ...] | None = None
        self._inputs: np.ndarray | None = None
        self._reset()

    def _reset(self) -> None:
        self._gps: dict[str, FeatureGP] = {}
        self._n_fits = 0
        self._last_optimised = -1  # fit number of the last hyperparameter optimisation
        self._view: str | None = None
        self._calibration = 1.0
        self._X: np.ndarray | None = None
        self._y: np.ndarray | None = None
        self.last_fit: StructureFitInfo | None = None
        self.last_health: HealthReport | None = None

    # ------------------------------------------------------------------ inputs
    @property
    def input_names(self) -> tuple[str, ...]:
        """Column names of :meth:`inputs` (after the first call)."""
        return self._names

    def inputs(self, candidates: CandidateSet) -> np.ndarray:
        """The model's inputs for every candidate: (n, d) float64 in [0, 1] (cached per overview)."""
        key = (candidates.frame_id, candidates.n, candidates.stride, candidates.margin)
        if self._inputs is not None and self._inputs_key == key:
            return self._inputs
        from agent.structure.features import FEATURE_NAMES, structure_features

        t0 = time.perf_counter()
        feats = structure_features(candidates.image, candidates.yx_px, candidates.pixel_m,
                                   smooth_nm=self.smooth_nm, min_area_nm2=self.min_area_nm2)
        cols = [feats.values]
        names = list(FEATURE_NAMES)
        if self._model_file is not None:
            cols.append(self._model_file.predict(feats.values)[:, None])
            names.append("pretrained")
        raw = np.concatenate(cols, axis=1)
        lo, hi = raw.min(0), raw.max(0)
        scaled = (raw - lo) / np.where(hi > lo, hi - lo, 1.0)
        self._names = tuple(names)
        self._columns = {
            "coords": [names.index("y"), names.index("x")],
            "structure": [names.index(n) for n in ("y", "x", *STRUCTURE_COLUMNS)],
        }
        if "pretrained" in names:
            self._columns["pretrained"] = [names.index("pretrained"), names.index("y"), names.index("x")]
            self._columns["combined"] = [names.index("pretrained"), *self._columns["structure"]]
        self._inputs, self._inputs_key = scaled, key
        log.info("structure descriptors of %d candidates: %d regions, %.2f s", candidates.n,
                 feats.n_regions, time.perf_counter() - t0)
        return scaled

    def _check(self, X: Any, owner: str) -> np.ndarray:
        arr = np.asarray(X, dtype=np.float64)
        if not self._names:
            raise SurrogateInputError(f"{owner}: call inputs(candidates) first and pass its rows")
        if arr.ndim != 2 or arr.shape[1] != len(self._names) or arr.shape[0] < 1:
            raise SurrogateInputError(
                f"{owner}: X must be (n, {len(self._names)}) rows of inputs(candidates), got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise SurrogateInputError(f"{owner}: X holds NaN/inf")
        return arr

    # ------------------------------------------------------------------ fit
    def fit(self, X: np.ndarray, y: np.ndarray) -> StructureGP:
        """Fit every view on rows ``X`` (n, d) of :meth:`inputs` and targets ``y`` (n,), reward
        units; choose the view with the best leave-one-out log predictive density."""
        Xf = self._check(X, "StructureGP.fit")
        yy = np.asarray(y, dtype=np.float64).reshape(-1)
        if yy.shape[0] != Xf.shape[0] or not np.all(np.isfinite(yy)):
            raise SurrogateInputError(
                f"StructureGP.fit: y must be {Xf.shape[0]} finite targets, got shape {yy.shape}")
        t0 = time.perf_counter()
        gap = max(self.refit_every, int(self.refit_growth * Xf.shape[0]))
        optimise = self._last_optimised < 0 or self._n_fits - self._last_optimised >= gap
        if optimise:
            self._last_optimised = self._n_fits
        scores: dict[str, LooScores] = {}
        with torch_threads(self.threads):
            for view in self.views:
                gp = self._gps.get(view)
                if gp is None:
                    cols = self._columns[view]
                    gp = self._gps[view] = FeatureGP(len(cols), self._prior(view), self.noise_lower_bound,
                                                     self.max_iter, self.seed)
                gp.fit(Xf[:, self._columns[view]], yy, optimise=optimise)
                scores[view] = gp.loo()
        memorising = tuple(v for v, s in scores.items()
                           if s.memorising(self.memorisation_train_r2, self.memorisation_loo_r2))
        self._view = _select(scores, self.views, memorising)
        best = scores[self._view]
        self._calibration = 1.0
        if self.calibrate and best.n >= self.min_points_calibration and math.isfinite(best.z_rms):
            self._calibration = float(np.clip(best.z_rms, 1.0, self.max_calibration))
        self._X, self._y = Xf, yy
        self._n_fits += 1
        self.last_fit = StructureFitInfo(n=int(Xf.shape[0]), view=self._view, scores=scores,
                                         optimised=optimise, calibration=self._calibration,
                                         seconds=time.perf_counter() - t0, memorising=memorising)
        return self

    def _prior(self, view: str) -> str:
        if view == "coords":
            return "gamma"
        if view == "structure" and self.structure_kernel == "additive":
            return "additive"  # columns: y, x, descriptors
        return "dim_scaled"

    @property
    def view(self) -> str:
        """The view that drives decisions now."""
        if self._view is None:
            raise SurrogateNotFittedError("StructureGP.view: call fit(X, y) first")
        return self._view

    def fit_summary(self) -> dict[str, Any]:
        """What drove the last decision, for the record: the view, its leave-one-out scores and
        those of the others (``{}`` before the first fit)."""
        info = self.last_fit
        if info is None:
            return {}
        best = info.scores[info.view]
        out: dict[str, Any] = {"model": info.view, **best.as_dict(), "calibration": info.calibration,
                               "optimised": info.optimised, "memorising": list(info.memorising)}
        out["views_loo_lpd"] = {v: s.lpd for v, s in info.scores.items()}
        return out

    # ------------------------------------------------------------------ prediction
    def _current(self) -> tuple[FeatureGP, list[int]]:
        if self._view is None:
            raise SurrogateNotFittedError("StructureGP.posterior: call fit(X, y) first")
        return self._gps[self._view], self._columns[self._view]

    def posterior(self, X: np.ndarray) -> Posterior:
        """Predictive distribution at rows ``X`` (m, d) of :meth:`inputs` (diagonal, reward units)."""
        gp, cols = self._current()
        Xf = self._check(X, "StructureGP.posterior")
        z = torch.as_tensor(Xf[:, cols])
        with torch_threads(self.threads):
            mean_s, var_s = gp.predictor.predict(z)
        scaler = gp.scaler
        mean = scaler.untransform_mean(mean_s.numpy())
        std = scaler.untransform_std(np.sqrt(var_s.numpy())) * self._calibration
        report = self._assess(Xf, mean)
        return Posterior(
            mean=mean,
            std=std,
            noise_std=float(scaler.untransform_std(np.sqrt(gp.noise_variance))),
            sampler=make_joint_sampler(gp.predictor, z, scaler, self.threads),
            cross_covariance=make_cross_covariance(gp.predictor, z, scaler, self.threads),
            degenerate=not report.ok,
        )

    def _assess(self, Xf: np.ndarray, mean: np.ndarray) -> HealthReport:
        gp, cols = self._current()
        assert self.last_fit is not None
        base = assess_health(Xf[:, cols], gp.lengthscale, mean, gp.scaler.target_spread,
                             0.0, self.flat_fraction, 256)
        best = self.last_fit.scores[self.view]
        # the chosen view memorises only when every view does (selection avoids it otherwise): it
        # is reported, and the posterior stays usable (a GP's intervals still widen away from data)
        memorising = self.view in self.last_fit.memorising
        message = base.message if not memorising else (
            f"every view memorises; {self.view}: training R^2 {best.train_r2:.2f}, leave-one-out R^2 {best.r2:.2f}")
        report = HealthReport(ok=base.ok, collapsed=False, flat=base.flat,
                              latent_spread=base.latent_spread, mean_spread=base.mean_spread,
                              message=message or f"{self.view} view, leave-one-out R^2 {best.r2:.2f}",
                              memorising=memorising, loo_r2=best.r2, loo_coverage=best.coverage)
        self.last_health = report
        return report

    def health(self, X: np.ndarray | None = None) -> HealthReport:
        """Flat-prediction and memorisation check of the chosen view over ``X`` (or the training rows)."""
        if self._view is None:
            return HealthReport(ok=False, message="structure GP not fitted yet")
        assert self._X is not None
        Xf = self._X if X is None else self._check(X, "StructureGP.health")
        gp, cols = self._current()
        with torch_threads(self.threads):
            mean = gp.scaler.untransform_mean(gp.predictor.predict_mean(torch.as_tensor(Xf[:, cols])).numpy())
        return self._assess(Xf, mean)

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, Any]:
        """Every view's hyperparameters and the fit counter; ``weights_only`` loadable. The
        training data are not needed: the loop refits on its own record before the next decision,
        from these hyperparameters, so a resumed run decides as an uninterrupted one."""
        return {"format": _STATE_FORMAT, "views": list(self.views), "n_fits": self._n_fits,
                "last_optimised": self._last_optimised,
                "gps": {v: gp.state_dict() for v, gp in self._gps.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (the next ``fit`` conditions on the data)."""
        if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT:
            raise SurrogateStateError(
                f"StructureGP.load_state_dict: not a StructureGP state (expected format {_STATE_FORMAT!r})")
        if list(state["views"]) != list(self.views):
            raise SurrogateStateError(
                f"StructureGP.load_state_dict: saved with views {state['views']}, configured {list(self.views)}")
        self._reset()
        for view, sd in state["gps"].items():
            self._gps[view] = FeatureGP.from_state_dict(sd, self.noise_lower_bound, self.max_iter, self.seed)
        self._n_fits = int(state["n_fits"])
        self._last_optimised = int(state["last_optimised"])


def _select(scores: dict[str, LooScores], order: tuple[str, ...], memorising: tuple[str, ...]) -> str:
    """The view with the highest leave-one-out log predictive density (NaN counts lowest); ties and
    fewer than 3 points go to the first configured view. Memorising views only when all memorise."""
    pool = [v for v in order if v not in memorising] or list(order)
    best, best_lpd = pool[0], -math.inf
    for v in pool:
        lpd = scores[v].lpd
        if math.isfinite(lpd) and lpd > best_lpd:
            best, best_lpd = v, lpd
    return best


def _resolve(path: str) -> str:
    p = Path(path).expanduser()
    if p.is_file() or p.is_absolute():
        return str(p)
    packaged = Path(__file__).resolve().parents[1] / "structure" / "models" / p.name
    return str(packaged) if packaged.is_file() else str(p)
