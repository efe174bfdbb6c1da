"""``WeightedPolicy``: any acquisition weighted by a structure prior over the candidates.

Where a gate *removes* candidates, a prior *weighs* them: the few-shot score of each candidate's
patch (``agent.vision.FewShotCandidateScorer``, "looks like the examples I labelled") or the
closeness to a segmented particle (:class:`SegmentationWeights`); any
:class:`~policies.candidate_models.CandidatePrior`. The wrapped policy's acquisition is multiplied
by ``w ** power``: for a log acquisition (``log_acquisition``: log-EI, and a cost-aware log-EI)
``log value + power * log w``, otherwise the value above the worst one times ``w ** power``; the
same arithmetic as the cost-aware policy (:func:`policies.cost.per_unit_cost` with cost
``1 / w ** power``).

The weights are computed once per overview in :meth:`WeightedPolicy.prepare` (the loop calls it
after building the candidates, and again after every new overview or a resume). A policy without
acquisition values (random, raster) or a degenerate posterior falls back to the wrapped policy's
own choice (exploration), unweighted.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .candidate_models import CandidateModel, CandidatePrior, CandidateView, OverviewImage, Segmenter
from .cost import per_unit_cost
from .errors import PolicyConfigError, PolicyInputError
from .pool import check_q, check_range, selectable, top_q
from .posterior import AnyPosterior
from .protocol import ACQUISITION_PHASE, PolicyBase, Selection, SelectionState
from .restricted import candidate_weights, check_candidates, check_segmenter, segment_overview
from .wrapper import PolicyWrapper

__all__ = ["SegmentationWeights", "WeightedPolicy"]

log = logging.getLogger(__name__)


class SegmentationWeights(CandidatePrior):
    """Prior weights from a segmented overview: ``exp(-distance / scale_px)`` to the nearest
    particle pixel (1 on the particles), see :func:`~policies.restricted.candidate_weights`.

    Args:
        segmenter: a :class:`~policies.candidate_models.Segmenter` (e.g. a trained
            ``agent.vision.ParticleSegmenter``).
        scale_px: decay length in overview pixels (> 0; 8 px = 6.3 nm at the default 0.78 nm pixels).
    """

    def __init__(self, segmenter: Segmenter, scale_px: float = 8.0) -> None:
        self.segmenter = check_segmenter("SegmentationWeights", segmenter)
        self.scale_px = check_range("SegmentationWeights", "scale_px", scale_px, lo=0.0, lo_open=True)
        self.last_mask: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"SegmentationWeights(scale_px={self.scale_px})"

    def weights(self, candidates: CandidateView, overview: OverviewImage | None = None) -> np.ndarray:
        """(n,) float64 in [0, 1] over ``candidates``; needs the ``overview`` frame."""
        _, self.last_mask = segment_overview("SegmentationWeights", self.segmenter, overview)
        return candidate_weights(candidates, self.last_mask, self.scale_px)

    def describe(self) -> dict[str, Any]:
        return {"gate": type(self).__name__, "segmenter": self.segmenter.describe()}


class WeightedPolicy(PolicyWrapper):
    """Wrap ``policy`` so that its acquisition is weighted by a prior over the candidates.

    Args:
        policy: a policy with acquisition values (LogEI, UCB, MaxUncertainty, CostAware, ...);
            others are accepted but only ever explore unweighted.
        prior: a :class:`~policies.candidate_models.CandidatePrior` (weights in [0, 1]).
        power: exponent of the weights (0: no effect; larger: a stronger prior).
        floor: weights below this count as this (in (0, 1]), so no candidate becomes impossible.

    Attributes:
        weights: (n,) float64 ``clip(w, floor, 1) ** power`` of the current overview (None before
            ``prepare``).
    """

    #: built by the ``gate``/``prior`` config group around the experiment's policy: a mid-run
    #: ``set policy=...`` replaces :attr:`policy` and keeps the prior
    wraps_experiment_policy = True

    def __init__(self, policy: PolicyBase, prior: CandidatePrior, power: float = 1.0,
                 floor: float = 1e-3) -> None:
        super().__init__(policy)
        if not isinstance(prior, CandidatePrior):
            raise PolicyConfigError(f"WeightedPolicy: prior must be a policies.CandidatePrior "
                                    f"(weights(candidates, overview)), got {type(prior).__name__}")
        self.prior = prior
        self.power = check_range("WeightedPolicy", "power", power, lo=0.0)
        self.floor = check_range("WeightedPolicy", "floor", floor, lo=0.0, hi=1.0, lo_open=True)
        self.weights: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"WeightedPolicy({self.policy!r}, prior={type(self.prior).__name__}, power={self.power})"

    def prepare(self, candidates: CandidateView, overview: OverviewImage | None = None) -> None:
        """Compute the weights over ``candidates`` (once per overview) into :attr:`weights`."""
        candidates = check_candidates("WeightedPolicy.prepare", candidates)
        self.policy.prepare(candidates, overview)
        w = np.asarray(self.prior.weights(candidates, overview), dtype=np.float64)
        if w.shape != (candidates.n,) or not np.all(np.isfinite(w)):
            raise PolicyInputError(f"prior {type(self.prior).__name__} returned shape {w.shape} "
                                   f"(finite: {bool(np.all(np.isfinite(w)))}); expected ({candidates.n},) "
                                   "finite values in [0, 1]")
        self.weights = np.clip(w, self.floor, 1.0) ** self.power
        log.info("prior %s: weights median %.3g, %d of %d candidates above 0.5",
                 type(self.prior).__name__, float(np.median(self.weights)),
                 int(np.count_nonzero(self.weights > 0.5)), candidates.n)

    def design_weights(self) -> np.ndarray | None:
        """(n,) float64 prior weights for the loop's seed design (seed points are drawn near
        the space-filling points where the prior is high); None before :meth:`prepare`."""
        return None if self.weights is None else self.weights.copy()

    @property
    def event_kind(self) -> str:  # type: ignore[override]
        """``"prior"``: :meth:`describe` goes in the record as a ``prior`` event."""
        return "prior"

    def describe(self) -> dict[str, Any]:
        """The prior and its weights' spread, for the run's ``prior`` record event
        (``{"prior": model name, ...}``)."""
        info = dict(self.prior.describe())
        name = info.pop("gate", type(self.prior).__name__)
        w = self.weights
        counts = {} if w is None else {"weight_median": float(np.median(w)),
                                       "n_above_half": int(np.count_nonzero(w > 0.5)),
                                       "n_candidates": int(w.size)}
        return {"prior": name, **counts, **info}

    def models(self) -> tuple[CandidateModel, ...]:
        return (self.prior, *self.policy.models())

    def _require(self, state: SelectionState) -> np.ndarray:
        if self.weights is None:
            raise PolicyInputError("WeightedPolicy.prepare(candidates, overview) was not called: "
                                   "the loop must call it once the candidates are built")
        if np.shape(state.available) != self.weights.shape:
            raise PolicyInputError(f"state.available covers {np.shape(state.available)[0]} candidates but "
                                   f"the weights {self.weights.shape[0]}: call prepare with the current "
                                   "candidates")
        return self.weights

    def acquisition(self, posterior: AnyPosterior | None, state: SelectionState) -> np.ndarray | None:
        """The wrapped acquisition times the prior weights ((n,) float64; log when
        ``log_acquisition``), or None when it has none."""
        weights = self._require(state)
        values = self.policy.acquisition(posterior, state)
        if values is None:
            return None
        return per_unit_cost(values, 1.0 / weights, self.policy.log_acquisition)

    def select(self, posterior: AnyPosterior | None, state: SelectionState, q: int = 1) -> Selection:
        """The ``q`` selectable candidates of highest weighted acquisition; the wrapped policy's
        own choice, unweighted, without a usable posterior or acquisition values."""
        q = check_q(q)
        self._require(state)
        usable = posterior is not None and not posterior.degenerate
        values = self.acquisition(posterior, state) if usable else None
        if values is None:
            inner = self.policy.select(posterior, state, q)
            return inner.with_reason(f"{inner.reason or 'explore'} (unweighted)")
        assert posterior is not None
        picks = top_q(values, selectable(state, posterior.n), q)
        return Selection(picks, "acquisition x structure prior", ACQUISITION_PHASE, self.policy.costs(state))
