"""Shared behaviour of the model-based policies: argument checks and the exploration fallback.

A model-based policy exploits the posterior only when it is informative. It explores instead, by
delegating to :class:`~policies.space_filling.SpaceFilling` (deterministic maximin, not random),
when the posterior is None, when ``posterior.degenerate`` is True, or when the policy itself cannot
score yet (LogEI with nothing measured). The decision is logged once per loop step and kept in
``last_reason``:

* ``"acquisition"``: the policy's own criterion chose;
* ``"acquisition (min_separation relaxed)"``: as above, but the batch had to be completed with
  candidates closer than ``min_separation_px``;
* ``"explore: degenerate posterior"``, ``"explore: no posterior"``, ``"explore: nothing measured"``.
"""

from __future__ import annotations

import logging

import numpy as np

from .pool import check_q, selectable
from .posterior import Posterior
from .protocol import SelectionState
from .space_filling import SpaceFilling

__all__ = ["ModelPolicy", "ACQUISITION", "EXPLORE_DEGENERATE", "EXPLORE_NO_POSTERIOR"]

log = logging.getLogger(__name__)

ACQUISITION = "acquisition"
EXPLORE_DEGENERATE = "explore: degenerate posterior"
EXPLORE_NO_POSTERIOR = "explore: no posterior"


class ModelPolicy:
    """Base class: ``select`` runs the checks and the fallback, subclasses implement ``_choose``.

    Attributes:
        needs_model: True (the loop fits the surrogate before calling ``select``).
        last_reason: why the last ``select`` chose what it chose (see the module docstring).
    """

    needs_model: bool = True

    def __init__(self) -> None:
        self.last_reason: str = ""
        self._explorer = SpaceFilling()
        self._logged: tuple[int, str] | None = None

    # ------------------------------------------------------------------ subclass hooks
    def _explore_reason(self, posterior: Posterior, state: SelectionState) -> str | None:
        """A reason to explore although the posterior is healthy, or None to exploit."""
        return None

    def _choose(self, posterior: Posterior, state: SelectionState, pool: np.ndarray,
                q: int) -> tuple[np.ndarray, str]:
        """Pick ``min(q, len(pool))`` distinct indices from ``pool``; return them and the reason."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared logic
    def _record(self, state: SelectionState, reason: str) -> None:
        self.last_reason = reason
        key = (int(state.step), reason)
        if reason != ACQUISITION and self._logged != key:
            self._logged = key
            action = "choosing by SpaceFilling" if reason.startswith("explore") else "batch completed"
            log.info("step %d: %s: %s; %s", state.step, type(self).__name__, reason, action)

    def select(self, posterior: Posterior | None, state: SelectionState, q: int = 1) -> np.ndarray:
        """Return (min(q, k),) int64 distinct selectable indices (k = selectable candidates).

        Raises:
            NoCandidatesLeft: nothing is available.
            PolicyConfigError: ``q`` is not an int >= 1.
            PolicyInputError: ``state`` and ``posterior`` do not fit together.
        """
        q = check_q(q)
        if posterior is None:
            reason: str | None = EXPLORE_NO_POSTERIOR
        else:
            selectable(state, posterior.n)  # validates before any fallback
            reason = EXPLORE_DEGENERATE if posterior.degenerate else self._explore_reason(posterior, state)
        if reason is not None:
            picks = self._explorer.select(posterior, state, q)
            self._record(state, reason)
            return picks
        assert posterior is not None
        pool = selectable(state, posterior.n)
        picks, reason = self._choose(posterior, state, pool, q)
        self._record(state, reason)
        return np.asarray(picks, dtype=np.int64)
