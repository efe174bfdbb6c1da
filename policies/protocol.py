"""The policy contract: what a policy is given, what it returns and every member the loop may use.

* :class:`SelectionState`: everything a policy may look at besides the posterior;
* :class:`Selection`: what ``select`` returns (the chosen indices, why, in which phase, at what cost);
* :class:`PolicyBase`: the base class every policy derives from; it declares the whole contract,
  each optional member with its default (a policy overrides what it has);
* :class:`Policy`: the same contract as a ``Protocol``, for type hints.

The loop calls nothing else on a policy, and never probes for members.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from drivers.errors import AutoscopeError

from .posterior import AnyPosterior

if TYPE_CHECKING:
    from .candidate_models import CandidateModel, CandidateView, OverviewImage

__all__ = ["Policy", "PolicyBase", "Selection", "SelectionState", "NoCandidatesLeft",
           "PHASES", "ACQUISITION_PHASE", "EXPLORE_PHASE", "BASELINE_PHASE"]

ACQUISITION_PHASE = "acquisition"
EXPLORE_PHASE = "explore"
BASELINE_PHASE = "baseline"
PHASES: tuple[str, ...] = (ACQUISITION_PHASE, EXPLORE_PHASE, BASELINE_PHASE)
"""``"acquisition"``: the policy's own criterion chose; ``"explore"``: a model-based policy fell
back to exploration (no or degenerate posterior, nothing measured); ``"baseline"``: a model-free
policy (random, raster, space filling) chose."""


class NoCandidatesLeft(AutoscopeError, RuntimeError):
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


@dataclass(frozen=True)
class Selection:
    """What ``select`` returns.

    Args:
        indices: (q,) int64 chosen candidate indices, distinct, all selectable.
        reason: why, in words (``"acquisition"``, ``"explore: no posterior"``,
            ``"random (gate removed 3)"``...): it goes in the run's log and record.
        phase: one of :data:`PHASES`.
        costs_s: (n,) float64 cost in seconds of measuring each candidate next (a cost-aware
            policy), or None when the policy does not weigh costs.
    """

    indices: np.ndarray
    reason: str
    phase: str = ACQUISITION_PHASE
    costs_s: np.ndarray | None = None

    def __post_init__(self) -> None:
        idx = np.asarray(self.indices)
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            raise ValueError(f"Selection.indices must be a (q,) int array, got dtype {idx.dtype} "
                             f"shape {idx.shape}")
        object.__setattr__(self, "indices", idx.astype(np.int64))
        if self.phase not in PHASES:
            raise ValueError(f"Selection.phase={self.phase!r} is not one of {PHASES}")
        if self.costs_s is not None:
            costs = np.asarray(self.costs_s, dtype=np.float64)
            if costs.ndim != 1:
                raise ValueError(f"Selection.costs_s must be (n,) seconds per candidate, got shape "
                                 f"{costs.shape}")
            object.__setattr__(self, "costs_s", costs)

    @property
    def chosen_costs_s(self) -> np.ndarray | None:
        """(q,) float64 costs in seconds of the chosen candidates, or None without costs."""
        return None if self.costs_s is None else self.costs_s[self.indices]

    def with_reason(self, reason: str) -> Selection:
        """The same choice with another reason (a wrapper annotating its inner policy's)."""
        return Selection(self.indices, reason, self.phase, self.costs_s)


class PolicyBase:
    """Base class of every policy: the whole contract, each optional member with its default.

    Class attributes (flags the loop and the wrappers read; wrappers forward them):
        needs_model: False for baselines (random, raster, space filling) that never look at a
            model: the loop skips the fit.
        log_acquisition: True when :meth:`acquisition` returns log values (log-EI), as botorch's
            ``_log``: weighting by a cost or a prior then adds ``-log cost`` instead of dividing.
        has_acquisition: True when :meth:`acquisition` returns values (for a cost or a prior to
            weigh); False for random, raster and Thompson sampling.
        wraps_experiment_policy: True for a gate or prior wrapped around the experiment's policy:
            a mid-run ``set policy=...`` swaps what it wraps (see :meth:`switch_policy`).
        event_kind: the record event :meth:`describe` is written under: ``"gate"`` (a gate's mask
            decides what may be measured) or ``"prior"`` (a prior's weights, nothing excluded).
    """

    needs_model: bool = True
    log_acquisition: bool = False
    has_acquisition: bool = False
    wraps_experiment_policy: bool = False
    event_kind: str = "gate"

    def select(self, posterior: AnyPosterior | None, state: SelectionState, q: int = 1) -> Selection:
        """Choose ``min(q, k)`` distinct selectable candidates (k = selectable ones).

        Raises:
            NoCandidatesLeft: nothing is selectable.
        """
        raise NotImplementedError

    def acquisition(self, posterior: AnyPosterior | None, state: SelectionState) -> np.ndarray | None:
        """(n,) float64 acquisition values (higher is better; log when ``log_acquisition``), NaN
        where not selectable; None when the policy has none (or cannot score yet)."""
        return None

    def costs(self, state: SelectionState) -> np.ndarray | None:
        """(n,) float64 cost in seconds of measuring each candidate next; None without costs."""
        return None

    def prepare(self, candidates: CandidateView, overview: OverviewImage | None = None) -> None:
        """Look at a new candidate set once (a gate scoring every patch); called by the loop after
        the candidates are built, again after every new overview and on resume. Default: nothing."""
        return None

    def design_weights(self) -> np.ndarray | None:
        """(n,) float64 weights >= 0 over the candidates for the loop's seed design (0 = never a
        seed point), or None for no preference."""
        return None

    def describe(self) -> dict[str, Any] | None:
        """What the gate or prior of this policy is, JSON-ready, for the record event named by
        :attr:`event_kind`; None when there is nothing to record."""
        return None

    def models(self) -> tuple[CandidateModel, ...]:
        """The image models inside (gates, priors), outermost first; () for a plain policy."""
        return ()

    def switch_policy(self, policy: PolicyBase) -> PolicyBase:
        """The policy to use after the user switched the experiment's policy to ``policy``
        mid-run: ``policy`` itself, or (a gate or prior wrapper) this wrapper around it."""
        return policy


@runtime_checkable
class Policy(Protocol):
    """The contract of :class:`PolicyBase` as a protocol (see there for each member)."""

    needs_model: bool
    log_acquisition: bool
    has_acquisition: bool
    wraps_experiment_policy: bool
    event_kind: str

    def select(self, posterior: AnyPosterior | None, state: SelectionState, q: int = 1) -> Selection:
        ...

    def acquisition(self, posterior: AnyPosterior | None, state: SelectionState) -> np.ndarray | None:
        ...

    def costs(self, state: SelectionState) -> np.ndarray | None:
        ...

    def prepare(self, candidates: CandidateView, overview: OverviewImage | None = None) -> None:
        ...

    def design_weights(self) -> np.ndarray | None:
        ...

    def describe(self) -> dict[str, Any] | None:
        ...

    def models(self) -> tuple[CandidateModel, ...]:
        ...

    def switch_policy(self, policy: PolicyBase) -> PolicyBase:
        ...
