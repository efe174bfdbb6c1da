"""``GatedPolicy``: any policy, restricted to the candidates a gate lets through.

A *gate* is a :class:`~policies.candidate_models.CandidateGate`: ``gate_mask(candidates, overview)
-> (n,) bool`` (True = may be measured), optionally with scores and a threshold. The image models
live in ``agent.vision`` (quality CNN on the survey patches, few-shot scorer); the segmentation
gates in :mod:`policies.restricted` and :mod:`policies.class_gate`. The gate's mask is computed once
per overview in :meth:`GatedPolicy.prepare`, which the loop calls after it builds the candidates
(again after every new overview, e.g. on resume); every ``select`` then hands the wrapped policy a
copy of the selection state with ``available &= gate_mask``.

The loop's seed design draws its space-filling points among the candidates the gate passes
(:meth:`GatedPolicy.design_weights`), so no seed acquisition lands where the gate refuses one.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from .candidate_models import CandidateGate, CandidateModel, CandidateView, OverviewImage
from .errors import PolicyConfigError, PolicyInputError
from .pool import check_choice, check_range
from .posterior import AnyPosterior
from .protocol import NoCandidatesLeft, PolicyBase, Selection, SelectionState
from .restricted import check_candidates
from .wrapper import PolicyWrapper

__all__ = ["ON_EMPTY", "GatedPolicy"]

log = logging.getLogger(__name__)

ON_EMPTY: tuple[str, ...] = ("stop", "ungated")
"""What :class:`GatedPolicy` does when the gate leaves no available candidate: ``"stop"`` raises
``NoCandidatesLeft`` (the loop ends the run, reason "no candidates left"); ``"ungated"`` logs a
warning and lets the wrapped policy choose among all available candidates."""


class GatedPolicy(PolicyWrapper):
    """Wrap ``policy`` so it only chooses candidates the ``gate`` lets through.

    Args:
        policy: any policy (:class:`~policies.protocol.PolicyBase`).
        gate: any :class:`~policies.candidate_models.CandidateGate`.
        threshold: override of the gate's own threshold, in [0, 1] (gates with scores: keep the
            candidates scoring at least this); None = the gate's own mask.
        on_empty: ``"stop"`` or ``"ungated"`` (see :data:`ON_EMPTY`).

    Attributes:
        mask: (n,) bool gate mask of the current overview (None before ``prepare``).
        scores: (n,) float64 gate scores when the gate has them, else None.
        n_candidates, n_passed, n_removed: candidates of the overview, let through, removed.
        last_n_removed: available candidates the gate removed at the latest ``select`` (the
            selection's reason says it too).
    """

    #: built by the ``gate`` config group around the experiment's policy: a mid-run
    #: ``set policy=...`` replaces :attr:`policy` and keeps the gate
    wraps_experiment_policy = True

    def __init__(self, policy: PolicyBase, gate: CandidateGate, threshold: float | None = None,
                 on_empty: str = "stop") -> None:
        super().__init__(policy)
        if not isinstance(gate, CandidateGate):
            raise PolicyConfigError(f"GatedPolicy: gate must be a policies.CandidateGate (gate_mask(candidates, "
                                    f"overview), gate_scores, prepare, describe), got {type(gate).__name__}")
        self.gate = gate
        self.threshold = (None if threshold is None
                          else check_range("GatedPolicy", "threshold", threshold, 0.0, 1.0))
        if self.threshold is not None and not gate.has_scores:
            raise PolicyConfigError(f"GatedPolicy: threshold={threshold} needs a gate with scores "
                                    f"(has_scores); {type(gate).__name__} has none: leave threshold=None")
        self.on_empty = check_choice("GatedPolicy", "on_empty", on_empty, ON_EMPTY)
        self.mask: np.ndarray | None = None
        self.scores: np.ndarray | None = None
        self.frame_id: str | None = None
        self.n_candidates = 0
        self.n_passed = 0
        self.n_removed = 0
        self.last_n_removed = 0

    def __repr__(self) -> str:
        return (f"GatedPolicy({self.policy!r}, gate={self.gate!r}, threshold={self.threshold}, "
                f"removed={self.n_removed}/{self.n_candidates})")

    def prepare(self, candidates: CandidateView, overview: OverviewImage | None = None) -> None:
        """Compute the gate mask over ``candidates`` (once per overview) into :attr:`mask`.

        Args:
            candidates: the loop's candidate set.
            overview: the overview frame the candidates come from (needed by the segmentation
                gates; others ignore it).
        """
        candidates = check_candidates("GatedPolicy.prepare", candidates)
        self.policy.prepare(candidates, overview)
        self.gate.prepare(candidates, overview)
        scores = self.gate.gate_scores(candidates) if self.gate.has_scores else None
        if scores is not None:
            scores = np.asarray(scores, dtype=np.float64)
        thr = self.threshold if self.threshold is not None else self.gate.threshold
        if scores is not None and thr is not None:
            mask = scores >= float(thr)  # the gate's own rule (score >= threshold), scored once
        else:
            mask = np.asarray(self.gate.gate_mask(candidates, overview))
        if mask.shape != (candidates.n,) or mask.dtype != np.bool_:
            raise PolicyInputError(f"gate {type(self.gate).__name__} returned a mask of dtype "
                                   f"{mask.dtype} shape {mask.shape}; expected ({candidates.n},) bool")
        self.mask, self.scores, self.frame_id = mask, scores, candidates.frame_id
        self.n_candidates = candidates.n
        self.n_passed = int(mask.sum())
        self.n_removed = self.n_candidates - self.n_passed
        log.info("gate %s lets %d of %d candidates through (%d removed)",
                 type(self.gate).__name__, self.n_passed, self.n_candidates, self.n_removed)

    def design_weights(self) -> np.ndarray | None:
        """(n,) float64 over the candidates for the loop's seed design: 1 where the gate passes, 0
        where it refuses (None before :meth:`prepare`, or when the gate passes nothing and
        ``on_empty="ungated"``)."""
        if self.mask is None or (not self.mask.any() and self.on_empty == "ungated"):
            return None
        return self.mask.astype(np.float64)

    @property
    def event_kind(self) -> str:  # type: ignore[override]
        """``"gate"``: :meth:`describe` goes in the record as a ``gate`` event."""
        return "gate"

    def describe(self) -> dict[str, Any]:
        """What the gate is and how good it was on its own validation data, with how many
        candidates it passes, for the run's ``gate`` record event."""
        info = dict(self.gate.describe())
        name = info.pop("gate", type(self.gate).__name__)
        return {"gate": name, "n_candidates": self.n_candidates, "n_passed": self.n_passed, **info}

    def models(self) -> tuple[CandidateModel, ...]:
        return (self.gate, *self.policy.models())

    def gated_state(self, state: SelectionState) -> SelectionState:
        """A copy of ``state`` whose ``available`` is ANDed with the gate mask."""
        if self.mask is None:
            raise PolicyInputError("GatedPolicy.prepare(candidates, overview) was not called: "
                                   "the loop must call it once the candidates are built")
        avail = np.asarray(state.available, dtype=bool)
        if avail.shape != self.mask.shape:
            raise PolicyInputError(f"state.available covers {avail.shape[0]} candidates but the "
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

    def select(self, posterior: AnyPosterior | None, state: SelectionState, q: int = 1) -> Selection:
        """The wrapped policy's choice among the available candidates that pass the gate; its
        reason gets the gate's count appended."""
        inner = self.policy.select(posterior, self.gated_state(state), q)
        return inner.with_reason(f"{inner.reason or 'acquisition'} (gate removed {self.last_n_removed})")

    def acquisition(self, posterior: AnyPosterior | None, state: SelectionState) -> np.ndarray | None:
        """The wrapped policy's acquisition values over the gated state (None if it has none)."""
        return self.policy.acquisition(posterior, self.gated_state(state))
