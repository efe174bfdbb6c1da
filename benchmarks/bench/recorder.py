"""Per-step scoring of a run against its ground truth, written row by row to ``metrics.csv``.

:class:`MetricsRecorder` is the experiment's ``on_step`` callback. After every measurement it writes
one row (flushed, so a crashed run keeps its curve):

* ``recall_top1`` / ``recall_top5``: share of the true top-1 % / top-5 % candidates measured so far
  (:func:`agent.metrics.recall`; the truth is the reward on the denoised data, never the raw value);
* ``regret``: simple regret, true best minus the true value of the best measured candidate;
* ``r2``: R^2 of the surrogate's predicted mean over every candidate against the truth. For a
  model-based policy it is the posterior the loop used for this step's decision
  (``exp.last_posterior``: fitted on the points measured *before* this one; NaN during the seed
  design). Model-free policies (random, raster) never fit a model, so the run's surrogate is fitted
  on the points measured so far every ``r2_every`` measurements and at the last one, only for
  scoring (NaN on the other rows);
* with a vector reward every figure scores its first objective (the loop's ``reward`` column);
* ``value`` the measured (noisy) reward, ``truth`` the true value at that candidate, and
  ``t_decision_s`` the loop's fit + predict + select time of the decision (NaN for seed points).
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from agent import metrics

from .errors import BenchConfigError

if TYPE_CHECKING:
    from agent.loop import Experiment
    from agent.record import StepRow

__all__ = ["METRIC_COLUMNS", "RunLabels", "MetricsRecorder"]

log = logging.getLogger(__name__)

#: Columns of ``metrics.csv``, in order (shared with every run's metrics.csv, agent.metrics).
METRIC_COLUMNS = metrics.METRIC_COLUMNS

#: Errors a scoring-only surrogate fit may raise; the row then gets r2 = NaN and the run goes on.
_FIT_ERRORS = (ValueError, RuntimeError, ArithmeticError)


@dataclass(frozen=True)
class RunLabels:
    """Labels written on every row: dataset, method, policy and surrogate names, seed."""

    dataset: str
    method: str
    policy: str
    surrogate: str
    seed: int


def _first_objective(values: Any) -> np.ndarray:
    """(n,) float64: the values themselves, or the first column of a vector reward's (n, k)."""
    v = np.asarray(values, dtype=np.float64)
    return v if v.ndim == 1 else v.reshape(v.shape[0], -1)[:, 0]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if not math.isfinite(value) else repr(value)
    return str(value)


class MetricsRecorder:
    """``on_step`` callback writing one scored row per measurement to ``path`` (CSV, flushed).

    Args:
        path: the ``metrics.csv`` to create (refused if it exists: one run per folder).
        labels: the run's labels.
        r2_every: for model-free policies, fit the surrogate for R^2 every this many measurements.
        fractions: the top fractions scored as ``recall_top1`` and ``recall_top5``.
    """

    def __init__(self, path: str | Path, labels: RunLabels, r2_every: int = 5,
                 fractions: tuple[float, float] = (0.01, 0.05)) -> None:
        if int(r2_every) < 1:
            raise BenchConfigError(f"bench.r2_every={r2_every} must be >= 1")
        self.path = Path(path)
        if self.path.exists():
            raise BenchConfigError(f"{self.path} exists: a benchmark run needs a fresh output folder")
        self.labels = labels
        self.r2_every = int(r2_every)
        self.fractions = fractions
        self.n_rows = 0
        self._n_measured = 0
        self._last_r2_fit_at = 0
        self._fh: IO[str] | None = None
        self._writer: Any = None

    # ------------------------------------------------------------------ file
    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("w", newline="")
        self._writer = csv.writer(self._fh)
        self._writer.writerow(METRIC_COLUMNS)
        self._fh.flush()

    def close(self) -> None:
        """Close the file (idempotent); a recorder that saw no step still leaves the header."""
        if self._fh is None and not self.path.exists():
            self._open()
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    # ------------------------------------------------------------------ callback
    def __call__(self, exp: Experiment, rows: list[StepRow]) -> None:
        if exp.truth is None or exp.candidates is None:
            raise BenchConfigError(
                "the benchmark scores against a ground truth, but the driver gave none; use a driver "
                "with a ground truth, a drivers.GroundTruth (drivers.replay.ReplayDriver, the emulators)"
            )
        if self._fh is None:
            self._open()
        truth = _first_objective(exp.truth)
        maximize = exp.settings.maximize
        measured_all = np.asarray(exp.state.measured, dtype=np.int64)
        model_free = not getattr(exp.policy, "needs_model", True)
        for k, row in enumerate(rows):
            if math.isfinite(row.reward):
                self._n_measured += 1
            measured = measured_all[: self._n_measured]
            last_in_run = k == len(rows) - 1 and self._is_last(exp)
            r2 = self._r2(exp, measured, truth, model_free, last_in_run)
            t_parts = np.array([row.t_fit_s, row.t_predict_s, row.t_select_s], dtype=np.float64)
            t_decision = float(np.nansum(t_parts)) if np.isfinite(t_parts).any() else float("nan")
            has = measured.size > 0
            values = {
                "dataset": self.labels.dataset,
                "method": self.labels.method,
                "policy": self.labels.policy,
                "surrogate": self.labels.surrogate,
                "seed": self.labels.seed,
                "step": int(row.step) + 1,
                "n_measured": int(measured.size),
                "index": int(row.index),
                "phase": row.phase,
                "value": float(row.reward),
                "truth": float(truth[row.index]),
                "recall_top1": metrics.recall(measured, truth, self.fractions[0], maximize) if has else 0.0,
                "recall_top5": metrics.recall(measured, truth, self.fractions[1], maximize) if has else 0.0,
                "regret": metrics.simple_regret(measured, truth, maximize) if has else float("nan"),
                "r2": r2,
                "t_decision_s": t_decision,
            }
            self._writer.writerow([_fmt(values[c]) for c in METRIC_COLUMNS])
            self.n_rows += 1
        assert self._fh is not None
        self._fh.flush()

    @staticmethod
    def _is_last(exp: Experiment) -> bool:
        done = len(exp.state.measured) + len(exp.state.failed)
        return done >= exp.settings.steps

    def _r2(self, exp: Experiment, measured: np.ndarray, truth: np.ndarray, model_free: bool,
            last: bool) -> float:
        if not model_free:
            post = exp.last_posterior
            return metrics.r2_score(_first_objective(post.mean), truth) if post is not None else float("nan")
        n = int(measured.size)
        due = n >= 2 and n != self._last_r2_fit_at and (n % self.r2_every == 0 or last)
        if exp.surrogate is None or not due:
            return float("nan")
        self._last_r2_fit_at = n
        X = exp.surrogate_inputs()
        y = _first_objective(exp.state.y)[:n]
        try:
            exp.surrogate.fit(X[measured], y)
            post = exp.surrogate.posterior(X)
        except _FIT_ERRORS as err:
            log.warning("scoring fit of %s at %d measurements failed (%s); r2 = NaN",
                        type(exp.surrogate).__name__, n, err)
            return float("nan")
        return metrics.r2_score(_first_objective(post.mean), truth)
