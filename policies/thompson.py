"""Thompson sampling: one joint posterior draw per batch member, measure its maximum."""

from __future__ import annotations

import logging
import math
import numbers

import numpy as np

from .errors import PolicyConfigError, PolicyInputError
from .model_policy import ACQUISITION, ModelPolicy, single_objective
from .posterior import AnyPosterior, Posterior
from .protocol import SelectionState
from .ucb import upper_confidence_bound

__all__ = ["Thompson"]

log = logging.getLogger(__name__)

#: UCB weight used to keep the promising candidates in a restricted joint draw (two std).
_SCREEN_BETA = 4.0


class Thompson(ModelPolicy):
    """Thompson sampling over the selectable candidates.

    For a batch of ``q`` it asks ``posterior.sampler(indices, q, state.rng)`` for ``q`` joint draws
    of the latent function and takes the maximiser of each draw (minimiser for
    ``state.maximize = False``); when a draw's best candidate was already picked for this batch it
    takes that draw's next best, so the batch is distinct.

    Restricted joint draw: a joint draw costs O(m^3) in the number ``m`` of candidates drawn, so
    when more than ``n_candidates_joint`` candidates are selectable the draw covers only
    ``ceil(n_candidates_joint / 2)`` candidates with the highest UCB(beta=4) (``mean + 2 std``, in the
    direction of ``maximize``), plus ``n_candidates_joint`` minus that many drawn uniformly (with
    ``state.rng``) from the rest, so low-UCB regions keep a chance. ``n_candidates_joint`` is raised
    to ``q`` when ``q`` is larger.

    Fallback without a sampler (``posterior.sampler is None``): independent normal draws
    ``mean + std * N(0, 1)`` per candidate over all selectable candidates (no correlation; this
    over-explores compared with a joint draw). A warning is logged once per policy object.

    ``acquisition`` returns None (``has_acquisition`` False): a random draw is not an acquisition
    surface.

    Args:
        n_candidates_joint: the most candidates in one joint draw, >= 1.
    """

    def __init__(self, n_candidates_joint: int = 2000) -> None:
        super().__init__()
        if isinstance(n_candidates_joint, bool) or not isinstance(n_candidates_joint, numbers.Integral) \
                or int(n_candidates_joint) < 1:
            raise PolicyConfigError(f"Thompson: n_candidates_joint={n_candidates_joint!r} must be an "
                                    "integer >= 1 (the most candidates in one joint draw); use e.g. 2000")
        self.n_candidates_joint: int = int(n_candidates_joint)
        self._warned_no_sampler: bool = False

    def __repr__(self) -> str:
        return f"Thompson(n_candidates_joint={self.n_candidates_joint})"

    def _subset(self, posterior: Posterior, state: SelectionState, pool: np.ndarray, q: int) -> np.ndarray:
        """(m,) int64 sorted candidates of the joint draw (all of ``pool`` when small enough)."""
        m = max(self.n_candidates_joint, q)
        if pool.size <= m:
            return pool
        s = 1.0 if state.maximize else -1.0
        ucb = upper_confidence_bound(s * posterior.mean[pool], posterior.std[pool], _SCREEN_BETA)
        n_top = math.ceil(m / 2)
        order = np.argsort(-ucb, kind="stable")
        top = pool[order[:n_top]]
        rest = pool[order[n_top:]]
        rand = state.rng.choice(rest, size=m - n_top, replace=False)
        return np.sort(np.concatenate([top, rand])).astype(np.int64)

    def _draws(self, posterior: Posterior, state: SelectionState, pool: np.ndarray,
               q: int) -> tuple[np.ndarray, np.ndarray]:
        """((m,) int64 candidates, (q, m) float64 draws in reward units)."""
        if posterior.sampler is None:
            if not self._warned_no_sampler:
                self._warned_no_sampler = True
                log.warning("Thompson: the posterior has no joint sampler; drawing each candidate "
                            "independently from N(mean, std^2) (no correlation between candidates)")
            z = state.rng.standard_normal((q, pool.size))
            return pool, posterior.mean[pool] + posterior.std[pool] * z
        subset = self._subset(posterior, state, pool, q)
        draws = np.asarray(posterior.sampler(subset, q, state.rng), dtype=np.float64)
        if draws.shape != (q, subset.size):
            raise PolicyInputError(f"posterior.sampler returned shape {draws.shape}; expected "
                                   f"({q}, {subset.size}) = (n_samples, len(indices))")
        if not np.all(np.isfinite(draws)):
            raise PolicyInputError("posterior.sampler returned non-finite values; check the "
                                   "surrogate's covariance (add jitter)")
        return subset, draws

    def _choose(self, posterior: AnyPosterior, state: SelectionState, pool: np.ndarray,
                q: int) -> tuple[np.ndarray, str]:
        q = min(q, pool.size)
        cand, draws = self._draws(single_objective(posterior, self), state, pool, q)
        if not state.maximize:
            draws = -draws
        taken = np.zeros(cand.size, dtype=bool)
        picks = np.empty(q, dtype=np.int64)
        for j in range(q):
            row = np.where(taken, -np.inf, draws[j])
            k = int(np.argmax(row))
            taken[k] = True
            picks[j] = cand[k]
        return picks, ACQUISITION

