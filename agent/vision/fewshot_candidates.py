"""Few-shot scores of the candidates: examples named by position on the overview.

:class:`FewShotCandidateScorer` wraps the patch-level :class:`~agent.vision.fewshot.FewShotScorer`
for the loop: the user names a few points (metres, the overview's calibration) showing the feature,
and a few without it; the first :meth:`~FewShotCandidateScorer.prepare` fits the scorer on the
patches of the nearest candidates, and every candidate then gets a score in [0, 1]. The score belongs
to a *patch*, not to a spectrum: it is not a :class:`rewards.Reward`. It serves as a *gate* (the
candidates scoring at least ``threshold`` may be measured: ``gate=fewshot``) or as a *prior* (the
acquisition weighted by the score: ``prior=fewshot``); labels sent during a run
(``autoscope-ctl RUN_DIR label``) reach it through :meth:`~FewShotCandidateScorer.update`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from agent.candidates import CandidateSet
from policies.candidate_models import CandidateGate, CandidatePrior, CandidateView, LabelledModel, OverviewImage

from ._checks import as_candidate_set, candidate_patches, check_float
from .errors import VisionConfigError, VisionInputError
from .fewshot import FewShotScorer

__all__ = ["FewShotCandidateScorer"]


class FewShotCandidateScorer(CandidateGate, CandidatePrior, LabelledModel):
    """The few-shot score of every candidate: a gate's scores or a prior's weights.

    The labelled examples are given as positions on the overview (metres, the overview's
    calibration), so a configuration can name them; the first :meth:`prepare` takes the patches of
    the nearest candidates as examples and the whole candidate set as the standardisation pool.
    Later overviews keep every example (those added online with :meth:`update` too) and only
    restandardise. Or pass a fitted ``scorer``.

    Args:
        positive_yx_m: (p, 2) metres of points showing the feature (p >= 1), or None with ``scorer``.
        negative_yx_m: (q, 2) metres of points without it (may be empty).
        threshold: gate threshold on the score (``gate_mask``; unused as a prior).
        scorer: a :class:`FewShotScorer` (already fitted when no positions are given); default one
            with default settings.
    """

    def __init__(self, positive_yx_m: Sequence[Sequence[float]] | None = None,
                 negative_yx_m: Sequence[Sequence[float]] | None = None, threshold: float = 0.5,
                 scorer: FewShotScorer | None = None) -> None:
        self.positive_yx_m = _points("positive_yx_m", positive_yx_m)
        self.negative_yx_m = _points("negative_yx_m", negative_yx_m)
        self.threshold = check_float("FewShotCandidateScorer", "threshold", threshold, 0.0, 1.0)
        if scorer is not None and not isinstance(scorer, FewShotScorer):
            raise VisionConfigError(f"FewShotCandidateScorer: scorer must be a FewShotScorer, got "
                                    f"{type(scorer).__name__}")
        if self.positive_yx_m.shape[0] == 0 and (scorer is None or scorer.n_positive == 0):
            raise VisionConfigError("FewShotCandidateScorer needs positive_yx_m (at least one (y, x) point "
                                    "in metres) or a fitted scorer")
        self.scorer = scorer if scorer is not None else FewShotScorer(threshold=self.threshold)
        self._prepared_for: CandidateView | None = None
        self._fitted = False

    def prepare(self, candidates: CandidateView,
                overview: OverviewImage | None = None) -> FewShotCandidateScorer:
        """Fit the scorer on the candidates nearest to the labelled positions (when positions were
        given) and standardise on all the candidates' patches. Called once per candidate set (a
        second call with the same set does nothing)."""
        cands = as_candidate_set("FewShotCandidateScorer.prepare", candidates)
        patches = cands.patches
        if self._prepared_for is candidates:
            return self
        if self.positive_yx_m.shape[0] and not self._fitted:
            pos = patches[_nearest(cands, self.positive_yx_m)]
            neg = patches[_nearest(cands, self.negative_yx_m)]
            self.scorer.fit(pos, neg, pool=patches)
            self._fitted = True
        else:  # a later overview: keep every example (online labels too), restandardise
            self.scorer.set_pool(patches)
        self._prepared_for = candidates
        return self

    def _ensure(self, candidates: CandidateView) -> None:
        if self._prepared_for is not candidates:
            self.prepare(candidates)

    def values(self, candidates: CandidateView) -> np.ndarray:
        """(n,) float64 in [0, 1]: the few-shot score of every candidate."""
        self._ensure(candidates)
        return self.scorer.score(candidate_patches("FewShotCandidateScorer.values", candidates))

    def as_map(self, candidates: CandidateSet) -> np.ndarray:
        """(rows, cols) float64 score map over the candidate grid."""
        return candidates.as_map(self.values(candidates))

    # ------------------------------------------------------------------ gate and prior protocols
    has_scores = True  # gate_scores = values; gate_mask == values >= threshold

    def gate_mask(self, candidates: CandidateView, overview: OverviewImage | None = None) -> np.ndarray:
        """(n,) bool: candidates scoring at least ``threshold`` (as a gate)."""
        return self.values(candidates) >= self.threshold

    def gate_scores(self, candidates: CandidateView) -> np.ndarray:
        """(n,) float64 in [0, 1]: :meth:`values` (as a gate)."""
        return self.values(candidates)

    def weights(self, candidates: CandidateView, overview: OverviewImage | None = None) -> np.ndarray:
        """(n,) float64 in [0, 1]: :meth:`values` after :meth:`prepare` (as a prior)."""
        self.prepare(candidates, overview)
        return self.values(candidates)

    def update(self, candidates: CandidateView, index: int, label: bool) -> FewShotCandidateScorer:
        """Add the user's label of candidate ``index`` online (:class:`~policies.LabelledModel`)."""
        cands = as_candidate_set("FewShotCandidateScorer.update", candidates)
        self._ensure(cands)
        if not 0 <= int(index) < cands.n:
            raise VisionInputError(f"index={index} is outside [0, {cands.n})")
        self.scorer.update(cands.patches[int(index)], bool(label))
        return self


def _points(name: str, value: Any) -> np.ndarray:
    if value is None:
        return np.zeros((0, 2))
    try:  # plain lists, arrays or Hydra ListConfigs of (y, x) pairs
        rows = [[float(v) for v in pair] for pair in value] if len(value) and not np.isscalar(
            value[0]) else [[float(v) for v in value]] if len(value) else []
    except (TypeError, ValueError):
        raise VisionConfigError(f"FewShotCandidateScorer: {name} must be a list of (y, x) metre pairs, "
                                f"got {value!r}") from None
    arr = np.asarray(rows, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 2))
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != 2 or not np.all(np.isfinite(arr)):
        raise VisionConfigError(f"FewShotCandidateScorer: {name} must be a list of finite (y, x) metre "
                                f"pairs, got shape {arr.shape}")
    return arr


def _nearest(candidates: CandidateSet, yx_m: np.ndarray) -> np.ndarray:
    if yx_m.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    d2 = ((candidates.yx_m[None, :, :] - yx_m[:, None, :]) ** 2).sum(-1)
    return np.argmin(d2, axis=1)
