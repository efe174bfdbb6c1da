"""``WeightedPolicy``: any acquisition weighted by a structure prior over the candidates.

Where a gate *removes* candidates, a prior *weighs* them: the few-shot score of each candidate's
patch (:class:`~agent.vision.fewshot.FewShotReward`, "looks like the examples I labelled") or the
closeness to a segmented particle (:class:`SegmentationWeights`). The wrapped policy's acquisition
is multiplied by ``w ** power`` (for log-EI: ``log EI + power * log w``), with the same arithmetic as
the cost-aware policy (:func:`policies.per_unit_cost` with cost ``1 / w ** power``).

The weights are computed once per overview in :meth:`WeightedPolicy.prepare` (the loop calls it
after building the candidates, and again after every new overview or a resume). A policy without
acquisition values (random, raster) or a degenerate posterior falls back to the wrapped policy's
own choice (exploration), unweighted.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from agent.candidates import CandidateSet
from drivers.frames import Frame
from policies import LogEI, per_unit_cost
from policies.pool import check_q, selectable, top_q
from policies.posterior import Posterior
from policies.protocol import SelectionState

from ._checks import check_float
from .errors import VisionConfigError, VisionInputError, VisionNotFittedError
from .restrict import candidate_weights, segment_overview

__all__ = ["SegmentationWeights", "WeightedPolicy"]

log = logging.getLogger(__name__)


class SegmentationWeights:
    """Prior weights from a segmented overview: ``exp(-distance / scale_px)`` to the nearest
    particle pixel (1 on the particles), see :func:`~agent.vision.restrict.candidate_weights`.

    Args:
        segmenter: anything with ``predict(image) -> (ny, nx) bool`` (e.g. a trained
            :class:`~agent.vision.segmentation.ParticleSegmenter`).
        scale_px: decay length in overview pixels (> 0; 8 px = 6.3 nm at the default 0.78 nm pixels).
    """

    def __init__(self, segmenter: Any, scale_px: float = 8.0) -> None:
        if not callable(getattr(segmenter, "predict", None)):
            raise VisionConfigError(f"SegmentationWeights: segmenter must have predict(image) -> "
                                    f"(ny, nx) bool, got {type(segmenter).__name__}")
        self.segmenter = segmenter
        self.scale_px = check_float("SegmentationWeights", "scale_px", scale_px, lo=0.0, lo_open=True)
        self.last_mask: np.ndarray | None = None

    def weights(self, candidates: CandidateSet, overview: Frame | None = None) -> np.ndarray:
        """(n,) float64 in [0, 1] over ``candidates``; needs the ``overview`` frame."""
        _, self.last_mask = segment_overview("SegmentationWeights", self.segmenter, overview)
        return candidate_weights(candidates, self.last_mask, self.scale_px)


def _prior_values(source: Any, candidates: CandidateSet, overview: Frame | None) -> np.ndarray:
    if callable(getattr(source, "weights", None)):
        return np.asarray(source.weights(candidates, overview), dtype=np.float64)
    if callable(getattr(source, "prepare", None)):
        source.prepare(candidates, overview)
    return np.asarray(source.values(candidates), dtype=np.float64)


class WeightedPolicy:
    """Wrap ``policy`` so that its acquisition is weighted by a prior over the candidates.

    Args:
        policy: a policy with ``acquisition(posterior, state)`` (LogEI, UCB, MaxUncertainty,
            CostAware, ...); others are accepted but only ever explore unweighted.
        prior: ``weights(candidates, overview) -> (n,)`` (:class:`SegmentationWeights`) or
            ``values(candidates) -> (n,)`` (:class:`~agent.vision.fewshot.FewShotReward`), in [0, 1].
        power: exponent of the weights (0: no effect; larger: a stronger prior).
        floor: weights below this count as this (> 0), so no candidate becomes impossible.

    Attributes:
        weights: (n,) float64 ``clip(w, floor, 1) ** power`` of the current overview (None before
            ``prepare``).
        last_reason: the reason of the latest ``select``.
        last_cost_s: the wrapped cost-aware policy's costs of the chosen candidates (when it has
            ``costs``), for the loop's record.
    """

    #: built by the ``gate`` config group around the experiment's policy: a mid-run
    #: ``set policy=...`` replaces :attr:`policy` and keeps the prior
    wraps_experiment_policy = True

    def __init__(self, policy: Any, prior: Any, power: float = 1.0, floor: float = 1e-3) -> None:
        if not callable(getattr(policy, "select", None)):
            raise VisionConfigError(f"WeightedPolicy: policy must implement select(posterior, state, q), "
                                    f"got {type(policy).__name__}")
        if not (callable(getattr(prior, "weights", None)) or callable(getattr(prior, "values", None))):
            raise VisionConfigError(f"WeightedPolicy: prior must have weights(candidates, overview) or "
                                    f"values(candidates), got {type(prior).__name__}")
        self.policy = policy
        self.prior = prior
        self.power = check_float("WeightedPolicy", "power", power, lo=0.0)
        self.floor = check_float("WeightedPolicy", "floor", floor, lo=0.0, hi=1.0, lo_open=True)
        self.weights: np.ndarray | None = None
        self.last_reason = ""
        self.last_cost_s: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"WeightedPolicy({self.policy!r}, prior={type(self.prior).__name__}, power={self.power})"

    @property
    def needs_model(self) -> bool:
        return bool(getattr(self.policy, "needs_model", True))

    def prepare(self, candidates: CandidateSet, overview: Frame | None = None) -> np.ndarray:
        """Compute the weights over ``candidates`` (once per overview); returns them ((n,) float64)."""
        if not isinstance(candidates, CandidateSet):
            raise VisionInputError(f"prepare needs an agent.candidates.CandidateSet, got "
                                   f"{type(candidates).__name__}")
        inner_prepare = getattr(self.policy, "prepare", None)
        if callable(inner_prepare):
            inner_prepare(candidates, overview)
        w = _prior_values(self.prior, candidates, overview)
        if w.shape != (candidates.n,) or not np.all(np.isfinite(w)):
            raise VisionInputError(f"prior {type(self.prior).__name__} returned shape {w.shape} "
                                   f"(finite: {bool(np.all(np.isfinite(w)))}); expected ({candidates.n},) "
                                   "finite values in [0, 1]")
        self.weights = np.clip(w, self.floor, 1.0) ** self.power
        log.info("prior %s: weights median %.3g, %d of %d candidates above 0.5",
                 type(self.prior).__name__, float(np.median(self.weights)),
                 int(np.count_nonzero(self.weights > 0.5)), candidates.n)
        return self.weights

    def design_weights(self) -> np.ndarray | None:
        """(n,) float64 prior weights for the loop's seed design (seed points are drawn near
        the space-filling points where the prior is high); None before :meth:`prepare`."""
        return None if self.weights is None else self.weights.copy()

    def describe(self) -> dict[str, Any]:
        """The prior and its weights' spread, for the run's record."""
        from .gated_policy import gate_description

        w = self.weights
        counts = {} if w is None else {"weight_median": float(np.median(w)),
                                       "n_above_half": int(np.count_nonzero(w > 0.5)),
                                       "n_candidates": int(w.size)}
        return gate_description(self.prior, **counts)

    def _require(self, state: SelectionState) -> np.ndarray:
        if self.weights is None:
            raise VisionNotFittedError("WeightedPolicy.prepare(candidates, overview) was not called: "
                                       "the loop must call it once the candidates are built")
        if np.shape(state.available) != self.weights.shape:
            raise VisionInputError(f"state.available covers {np.shape(state.available)[0]} candidates but "
                                   f"the weights {self.weights.shape[0]}: call prepare with the current "
                                   "candidates")
        return self.weights

    def acquisition(self, posterior: Posterior | None, state: SelectionState) -> np.ndarray | None:
        """The wrapped acquisition times the prior weights ((n,) float64), or None when it has none."""
        weights = self._require(state)
        fn = getattr(self.policy, "acquisition", None)
        values = None if fn is None else fn(posterior, state)
        if values is None:
            return None
        return per_unit_cost(values, 1.0 / weights, isinstance(self.policy, LogEI))

    def select(self, posterior: Posterior | None, state: SelectionState, q: int = 1) -> np.ndarray:
        """The ``q`` selectable candidates of highest weighted acquisition ((q,) int64)."""
        q = check_q(q)
        self._require(state)
        usable = posterior is not None and not posterior.degenerate
        values = self.acquisition(posterior, state) if usable else None
        if values is None:
            picks = np.asarray(self.policy.select(posterior, state, q), dtype=np.int64)
            self.last_reason = f"{getattr(self.policy, 'last_reason', '') or 'explore'} (unweighted)"
        else:
            assert posterior is not None
            picks = top_q(values, selectable(state, posterior.n), q)
            self.last_reason = "acquisition x structure prior"
        costs = getattr(self.policy, "costs", None)
        self.last_cost_s = np.asarray(costs(state))[picks] if callable(costs) else None
        return picks
