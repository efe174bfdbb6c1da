"""Base class of the analytic (closed-form, per-candidate) acquisition policies."""

from __future__ import annotations

import numpy as np

from .model_policy import ACQUISITION, ModelPolicy
from .pool import check_nonnegative, pending_indices, selectable
from .posterior import AnyPosterior, Posterior
from .protocol import NoCandidatesLeft, SelectionState
from .separation import greedy_separated

__all__ = ["AnalyticPolicy", "signed"]


def signed(posterior: Posterior, state: SelectionState) -> tuple[np.ndarray, float]:
    """Mean and best observed value in the "higher is better" direction.

    Returns ``(mean, best_f)`` as ``((n,) float64, float)``; both are negated when
    ``state.maximize`` is False, so every acquisition can maximise.
    """
    s = 1.0 if state.maximize else -1.0
    return s * posterior.mean, s * state.best_f


class AnalyticPolicy(ModelPolicy):
    """A policy that scores every candidate independently and takes the best.

    Batches (``q > 1``) are greedy: best acquisition value first, each next member the best one at
    least ``min_separation_px`` pixels from the earlier members and from ``state.pending``
    (``0`` = plain top-q). Ties in the acquisition value go to the lowest candidate index.

    Args:
        min_separation_px: minimum Euclidean pixel distance (overview pixels) between batch members
            and from pending candidates, >= 0.
    """

    has_acquisition = True

    def __init__(self, min_separation_px: float = 0.0) -> None:
        super().__init__()
        self.min_separation_px = check_nonnegative(
            type(self).__name__, "min_separation_px", min_separation_px,
            "use 0 for a plain top-q batch or a distance in overview pixels")

    def _values(self, posterior: AnyPosterior, state: SelectionState) -> np.ndarray:
        """(n,) float64 acquisition values at every candidate, higher is better (may hold -inf)."""
        raise NotImplementedError

    def _choose(self, posterior: AnyPosterior, state: SelectionState, pool: np.ndarray,
                q: int) -> tuple[np.ndarray, str]:
        values = self._values(posterior, state)[pool]
        order = pool[np.argsort(-values, kind="stable")]
        pending = pending_indices(state, posterior.n)
        picks, relaxed = greedy_separated(order, np.asarray(state.yx_px, dtype=np.float64), pending, q,
                                          self.min_separation_px)
        return picks, ACQUISITION + " (min_separation relaxed)" if relaxed else ACQUISITION

    def acquisition(self, posterior: AnyPosterior | None, state: SelectionState) -> np.ndarray | None:
        """(n,) float64 acquisition values (higher is better), NaN where not selectable.

        None when there is no posterior or the policy cannot score yet (see ``_explore_reason``).
        Computed even for a degenerate posterior (it is only a picture then).
        """
        if posterior is None or self._explore_reason(posterior, state) is not None:
            return None
        out = np.full(posterior.n, np.nan)
        try:
            pool = selectable(state, posterior.n)
        except NoCandidatesLeft:
            return out
        out[pool] = self._values(posterior, state)[pool]
        return out
