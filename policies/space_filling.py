"""Maximin space-filling exploration: measure where the nearest measurement is farthest away."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .pool import check_q, measured_indices, pending_indices, selectable
from .posterior import AnyPosterior
from .protocol import BASELINE_PHASE, NoCandidatesLeft, PolicyBase, Selection, SelectionState

__all__ = ["SpaceFilling", "min_sq_distance_px"]

def min_sq_distance_px(points_px: np.ndarray, ref_px: np.ndarray) -> np.ndarray:
    """Squared distance from each point to its nearest reference point (k-d tree, exact distances).

    Args:
        points_px: (k, 2) float64 pixel (row, col) coordinates.
        ref_px: (r, 2) float64 reference coordinates, r >= 0.

    Returns:
        (k,) float64 squared pixel distances; +inf everywhere when ``r == 0``.
    """
    points = np.asarray(points_px, dtype=np.float64).reshape(-1, 2)
    ref = np.asarray(ref_px, dtype=np.float64).reshape(-1, 2)
    if ref.shape[0] == 0:
        return np.full(points.shape[0], np.inf)
    dist, _ = cKDTree(ref).query(points, k=1)
    return np.asarray(dist, dtype=np.float64) ** 2


def _grid_centre(yx_px: np.ndarray) -> np.ndarray:
    """(2,) centre of the candidates' bounding box in pixels."""
    return 0.5 * (yx_px.min(axis=0) + yx_px.max(axis=0))


def _argmax_ties(score: np.ndarray, rng: np.random.Generator) -> int:
    """Position of the maximum of ``score``; exact-ish ties broken uniformly with ``rng``."""
    best = float(score.max())
    tol = 1e-9 * max(1.0, abs(best))
    ties = np.flatnonzero(score >= best - tol)
    if ties.size == 1:
        return int(ties[0])
    return int(ties[rng.integers(ties.size)])


class SpaceFilling(PolicyBase):
    """Greedy maximin design over the candidate pixels (``state.yx_px``); never looks at a model.

    Each pick is the selectable candidate whose Euclidean pixel distance to the nearest measured,
    pending or already-picked candidate is largest. With nothing measured or pending, the first pick
    is the candidate nearest the centre of the grid's bounding box. Ties (e.g. the four centre
    candidates of an even grid) are broken uniformly with ``state.rng``; the generator is not
    touched when there is no tie. Deterministic apart from ties, so it is also the exploration
    fallback of the model-based policies. ``needs_model`` is False (the loop does not fit a
    surrogate for it); the reason is ``"space filling"``.
    """

    needs_model = False
    has_acquisition = True

    def __repr__(self) -> str:
        return "SpaceFilling()"

    def _reference(self, state: SelectionState, n: int) -> np.ndarray:
        ref = np.concatenate([measured_indices(state, n), pending_indices(state, n)])
        return np.unique(ref)

    def select(self, posterior: AnyPosterior | None, state: SelectionState, q: int = 1) -> Selection:
        """Choose (min(q, k),) indices greedily by maximin; k = selectable candidates.

        ``posterior`` is ignored (it may be None). Raises ``NoCandidatesLeft`` when nothing is
        selectable and ``PolicyConfigError`` for ``q < 1``.
        """
        q = check_q(q)
        pool = selectable(state, None if posterior is None else posterior.n)
        yx = np.asarray(state.yx_px, dtype=np.float64)
        n = yx.shape[0]
        ref = self._reference(state, n)
        pts = yx[pool]
        if ref.size:
            d2 = min_sq_distance_px(pts, yx[ref])
            score = d2.copy()
        else:
            d2 = np.full(pool.size, np.inf)
            score = -((pts - _grid_centre(yx)) ** 2).sum(axis=1)
        taken = np.zeros(pool.size, dtype=bool)
        picks: list[int] = []
        for _ in range(min(q, pool.size)):
            j = _argmax_ties(score, state.rng)
            picks.append(int(pool[j]))
            taken[j] = True
            np.minimum(d2, ((pts - pts[j]) ** 2).sum(axis=1), out=d2)
            score = np.where(taken, -np.inf, d2)
        return Selection(np.asarray(picks, dtype=np.int64), "space filling", BASELINE_PHASE)

    def acquisition(self, posterior: AnyPosterior | None, state: SelectionState) -> np.ndarray:
        """(n,) float64 maximin score: pixel distance to the nearest measured or pending candidate.

        With nothing measured or pending it is minus the distance to the grid centre (so the
        maximum is still the next pick). NaN at candidates that are not selectable.
        """
        try:
            pool = selectable(state, None if posterior is None else posterior.n)
        except NoCandidatesLeft:
            return np.full(np.asarray(state.available).shape[0], np.nan)
        yx = np.asarray(state.yx_px, dtype=np.float64)
        ref = self._reference(state, yx.shape[0])
        out = np.full(yx.shape[0], np.nan)
        if ref.size:
            out[pool] = np.sqrt(min_sq_distance_px(yx[pool], yx[ref]))
        else:
            out[pool] = -np.sqrt(((yx[pool] - _grid_centre(yx)) ** 2).sum(axis=1))
        return out
