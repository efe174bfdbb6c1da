"""The ``Policy`` protocol: choose the next candidate(s) to measure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from .posterior import Posterior

__all__ = ["Policy", "SelectionState", "NoCandidatesLeft"]


class NoCandidatesLeft(RuntimeError):
    """Every candidate was measured (or vetoed) and re-measuring was not allowed."""


@dataclass
class SelectionState:
    """Everything a policy may look at besides the posterior.

    Args:
        available: (n,) bool, candidates the policy may choose (unmeasured unless re-measuring is
            allowed; vetoed or failed candidates removed).
        measured: (m,) int, candidate indices measured so far, in order.
        y_measured: (m,) float64, their reward values.
        grid_shape: (rows, cols) of the candidate grid (index = row * cols + col).
        yx_px: (n, 2) float64 pixel coordinates of each candidate in the overview.
        step: the loop step (0-based) the choice is for.
        rng: the experiment's random generator (policies must use it, never global state).
        maximize: True to look for high reward values.
        pending: (p,) int, candidates being acquired right now (pipelining): never chosen again.
        yx_m: (n, 2) float64 candidate positions in the overview calibration (metres on
            instruments), for travel costs.
        probe_index: the candidate the probe sits on now (the last measured or pending), or -1.
        local_dose_e_per_A2: (n,) float64 dose already deposited around each candidate, for
            dose-aware costs (zeros when the instrument reports no dose).
    """

    available: np.ndarray
    measured: np.ndarray
    y_measured: np.ndarray
    grid_shape: tuple[int, int]
    yx_px: np.ndarray
    step: int
    rng: np.random.Generator
    maximize: bool = True
    pending: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    yx_m: np.ndarray | None = None
    probe_index: int = -1
    local_dose_e_per_A2: np.ndarray | None = None

    @property
    def best_f(self) -> float:
        """Best observed value (in the direction of ``maximize``); -inf/inf when nothing measured."""
        if self.y_measured.ndim != 1:
            raise ValueError("best_f is defined for one objective; this run has several "
                             "(use a multi-objective policy: ehvi or scalarised)")
        if self.y_measured.size == 0:
            return -np.inf if self.maximize else np.inf
        return float(np.max(self.y_measured) if self.maximize else np.min(self.y_measured))


@runtime_checkable
class Policy(Protocol):
    #: False for baselines (random, raster) that never look at a model: the loop skips the fit.
    needs_model: bool

    def select(self, posterior: Posterior | None, state: SelectionState, q: int = 1) -> np.ndarray:
        """Return ``(q,)`` int candidate indices, all from ``state.available``, no repeats."""
        ...
