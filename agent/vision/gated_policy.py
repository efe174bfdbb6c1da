"""``GatedPolicy``: any policy, restricted to the candidates a gate lets through.

A *gate* is any object with ``gate_mask(candidates, overview=None) -> (n,) bool`` (True = may be
measured): :class:`~agent.vision.gate.QualityGate` (CNN on the survey patches),
:class:`~agent.vision.fewshot.FewShotScorer` / :class:`~agent.vision.fewshot.FewShotReward`
(few-shot score above a threshold), :class:`~agent.vision.restrict.SegmentationGate` (region of the
segmented overview). The gate's mask is computed once per overview in :meth:`GatedPolicy.prepare`,
which the loop calls after it builds the candidates; every ``select`` then hands the wrapped policy
a copy of the selection state with ``available &= gate_mask``.

Hook the loop provides: after ``make_candidates``, ``if hasattr(policy, "prepare"):
policy.prepare(candidates, overview)`` (again after every new overview, e.g. on resume).
The loop's seed design draws its space-filling points among the candidates the gate passes
(:meth:`GatedPolicy.design_weights`), so no seed acquisition lands where the gate refuses one.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any, Protocol, runtime_checkable

import numpy as np

from agent.candidates import CandidateSet
from drivers.frames import Frame
from policies.posterior import Posterior
from policies.protocol import NoCandidatesLeft, SelectionState

from ._checks import check_choice, check_float
from .errors import VisionConfigError, VisionInputError, VisionNotFittedError

__all__ = ["ON_EMPTY", "CandidateGate", "GatedPolicy", "gate_description"]

log = logging.getLogger(__name__)

ON_EMPTY: tuple[str, ...] = ("stop", "ungated")
"""What :class:`GatedPolicy` does when the gate leaves no available candidate: ``"stop"`` raises
``NoCandidatesLeft`` (the loop ends the run, reason "no candidates left"); ``"ungated"`` logs a
warning and lets the wrapped policy choose among all available candidates."""


@runtime_checkable
class CandidateGate(Protocol):
    def gate_mask(self, candidates: CandidateSet, overview: Frame | None = None) -> np.ndarray:
        """(n,) bool over the candidates: True = may receive an expensive measurement."""
        ...


def _scores(gate: Any, candidates: CandidateSet) -> np.ndarray | None:
    """Continuous gate scores when the gate has them (``predict_proba`` or ``score``)."""
    for name in ("predict_proba", "score"):
        fn = getattr(gate, name, None)
        if callable(fn):
            return np.asarray(fn(candidates.patches), dtype=np.float64)
    values = getattr(gate, "values", None)
    if callable(values):
        return np.asarray(values(candidates), dtype=np.float64)
    return None


class GatedPolicy:
    """Wrap ``policy`` so it only chooses candidates the ``gate`` lets through.

    Args:
        policy: any :class:`policies.Policy`.
        gate: any :class:`CandidateGate`.
        threshold: override of the gate's own threshold (gates with ``predict_proba``, ``score``
            or ``values``: keep the candidates scoring at least this); None = the gate's own mask.
        on_empty: ``"stop"`` or ``"ungated"`` (see :data:`ON_EMPTY`).

    Attributes:
        mask: (n,) bool gate mask of the current overview (None before ``prepare``).
        scores: (n,) float64 gate scores when the gate has them, else None.
        n_candidates, n_passed, n_removed: candidates of the overview, let through, removed.
        last_n_removed: available candidates the gate removed at the latest ``select``.
        last_reason: the wrapped policy's reason, with the gate's count appended.
    """

    #: built by the ``gate`` config group around the experiment's policy: a mid-run
    #: ``set policy=...`` replaces :attr:`policy` and keeps the gate
    wraps_experiment_policy = True

    def __init__(self, policy: Any, gate: Any, threshold: float | None = None,
                 on_empty: str = "stop") -> None:
        if not callable(getattr(policy, "select", None)):
            raise VisionConfigError(f"GatedPolicy: policy must implement select(posterior, state, "
                                    f"q), got {type(policy).__name__}")
        if not callable(getattr(gate, "gate_mask", None)):
            raise VisionConfigError(f"GatedPolicy: gate must implement gate_mask(candidates, "
                                    f"overview), got {type(gate).__name__}")
        self.policy = policy
        self.gate = gate
        self.threshold = (None if threshold is None
                          else check_float("GatedPolicy", "threshold", threshold, 0.0, 1.0))
        if self.threshold is not None and not any(
                callable(getattr(gate, n, None)) for n in ("predict_proba", "score", "values")):
            raise VisionConfigError(f"GatedPolicy: threshold={threshold} needs a gate with scores "
                                    f"(predict_proba, score or values); {type(gate).__name__} has "
                                    "none: leave threshold=None")
        self.on_empty = check_choice("GatedPolicy", "on_empty", on_empty, ON_EMPTY)
        self.mask: np.ndarray | None = None
        self.scores: np.ndarray | None = None
        self.frame_id: str | None = None
        self.n_candidates = 0
        self.n_passed = 0
        self.n_removed = 0
        self.last_n_removed = 0
        self.last_reason = ""

    def __repr__(self) -> str:
        return (f"GatedPolicy({self.policy!r}, gate={self.gate!r}, threshold={self.threshold}, "
                f"removed={self.n_removed}/{self.n_candidates})")

    @property
    def needs_model(self) -> bool:
        return bool(getattr(self.policy, "needs_model", True))

    @property
    def last_cost_s(self) -> np.ndarray | None:
        """The wrapped (cost-aware) policy's costs of its latest choice, for the loop's record."""
        return getattr(self.policy, "last_cost_s", None)

    def prepare(self, candidates: CandidateSet, overview: Frame | None = None) -> np.ndarray:
        """Compute the gate mask over ``candidates`` (once per overview); returns it ((n,) bool).

        Args:
            candidates: the loop's candidate set.
            overview: the overview frame the candidates come from (needed by a
                ``SegmentationGate``; others ignore it).
        """
        if not isinstance(candidates, CandidateSet):
            raise VisionInputError(f"prepare needs an agent.candidates.CandidateSet, got "
                                   f"{type(candidates).__name__}")
        if hasattr(self.gate, "prepare"):
            self.gate.prepare(candidates, overview)
        scores = _scores(self.gate, candidates)
        thr = self.threshold if self.threshold is not None else getattr(self.gate, "threshold", None)
        if scores is not None and isinstance(thr, (int, float)):
            mask = scores >= float(thr)  # the gate's own rule (score >= threshold), scored once
        else:
            mask = np.asarray(self.gate.gate_mask(candidates, overview))
        if mask.shape != (candidates.n,) or mask.dtype != np.bool_:
            raise VisionInputError(f"gate {type(self.gate).__name__} returned a mask of dtype "
                                   f"{mask.dtype} shape {mask.shape}; expected ({candidates.n},) "
                                   "bool")
        self.mask, self.scores, self.frame_id = mask, scores, candidates.frame_id
        self.n_candidates = candidates.n
        self.n_passed = int(mask.sum())
        self.n_removed = self.n_candidates - self.n_passed
        log.info("gate %s lets %d of %d candidates through (%d removed)",
                 type(self.gate).__name__, self.n_passed, self.n_candidates, self.n_removed)
        return mask

    def design_weights(self) -> np.ndarray | None:
        """(n,) float64 over the candidates for the loop's seed design: 1 where the gate passes, 0
        where it refuses (None before :meth:`prepare`, or when the gate passes nothing and
        ``on_empty="ungated"``)."""
        if self.mask is None or (not self.mask.any() and self.on_empty == "ungated"):
            return None
        return self.mask.astype(np.float64)

    def describe(self) -> dict[str, Any]:
        """What the gate is and how good it was on its own validation data, for the run's record."""
        return gate_description(self.gate, n_candidates=self.n_candidates, n_passed=self.n_passed)

    def gated_state(self, state: SelectionState) -> SelectionState:
        """A copy of ``state`` whose ``available`` is ANDed with the gate mask."""
        if self.mask is None:
            raise VisionNotFittedError("GatedPolicy.prepare(candidates, overview) was not called: "
                                       "the loop must call it once the candidates are built")
        avail = np.asarray(state.available, dtype=bool)
        if avail.shape != self.mask.shape:
            raise VisionInputError(f"state.available covers {avail.shape[0]} candidates but the "
                                   f"gate mask {self.mask.shape[0]}: call prepare with the current "
                                   "candidates")
        gated = avail & self.mask
        self.last_n_removed = int(avail.sum() - gated.sum())
        pending = np.asarray(state.pending, dtype=np.int64)
        free = gated.copy()
        if pending.size:
            free[pending] = False
        if not free.any():
            if self.on_empty == "stop":
                raise NoCandidatesLeft(
                    f"the gate ({type(self.gate).__name__}) removed every available candidate "
                    f"({int(avail.sum())} available, {self.n_passed} of {self.n_candidates} pass "
                    "the gate); lower the threshold or use on_empty='ungated'")
            log.warning("gate removed every available candidate: choosing ungated")
            self.last_n_removed = 0
            return state
        return dataclasses.replace(state, available=gated)

    def select(self, posterior: Posterior | None, state: SelectionState, q: int = 1) -> np.ndarray:
        """The wrapped policy's choice among the available candidates that pass the gate."""
        picks = self.policy.select(posterior, self.gated_state(state), q)
        inner = getattr(self.policy, "last_reason", "") or "acquisition"
        self.last_reason = f"{inner} (gate removed {self.last_n_removed})"
        return picks

    def acquisition(self, posterior: Posterior | None, state: SelectionState) -> Any:
        """The wrapped policy's acquisition values over the gated state (None if it has none)."""
        fn = getattr(self.policy, "acquisition", None)
        return None if fn is None else fn(posterior, self.gated_state(state))


def gate_description(gate: Any, **counts: Any) -> dict[str, Any]:
    """Type, training time and validation figures of a gate or prior (and of the segmenter and
    classifier inside it), as JSON-ready numbers for a record event."""
    out: dict[str, Any] = {"gate": type(gate).__name__, **counts}
    val = getattr(gate, "val_metrics", None)
    if isinstance(val, dict) and val:  # QualityGate: its own validation specimens
        out["validation"] = {k: float(v) for k, v in val.items()}
        out["beta"] = float(getattr(gate, "beta", float("nan")))
    for name in ("segmenter", "classifier"):
        part = getattr(gate, name, None)
        if part is None:
            continue
        info: dict[str, Any] = {"type": type(part).__name__}
        t = getattr(part, "train_time_s", None)
        if isinstance(t, float) and not math.isnan(t):
            info["train_time_s"] = t
        metrics = getattr(part, "train_metrics", None)
        if isinstance(metrics, dict) and metrics:
            info["train_metrics"] = {k: float(v) for k, v in metrics.items()}
        out[name] = info
    t = getattr(gate, "train_time_s", None)
    if isinstance(t, float) and not math.isnan(t):
        out["train_time_s"] = t
    return out
