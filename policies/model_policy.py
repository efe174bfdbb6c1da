"""Shared behaviour of the model-based policies: argument checks and the exploration fallback.

A model-based policy exploits the posterior only when it is informative. It explores instead, by
delegating to :class:`~policies.space_filling.SpaceFilling` (deterministic maximin, not random),
when the posterior is None, when ``posterior.degenerate`` is True, or when the policy itself cannot
score yet (LogEI with nothing measured). The decision is logged once per loop step and returned
as the :class:`~policies.protocol.Selection`'s reason (phase ``"acquisition"`` or ``"explore"``):

* ``"acquisition"``: the policy's own criterion chose;
* ``"acquisition (min_separation relaxed)"``: as above, but the batch had to be completed with
  candidates closer than ``min_separation_px``;
* ``"explore: degenerate posterior"``, ``"explore: no posterior"``, ``"explore: nothing measured"``.
"""

from __future__ import annotations

import logging

import numpy as np

from .errors import PolicyInputError
from .pool import check_q, selectable
from .posterior import AnyPosterior, MultiPosterior, Posterior
from .protocol import ACQUISITION_PHASE, EXPLORE_PHASE, PolicyBase, Selection, SelectionState
from .space_filling import SpaceFilling

__all__ = ["ModelPolicy", "ACQUISITION", "EXPLORE_DEGENERATE", "EXPLORE_NO_POSTERIOR", "single_objective"]

log = logging.getLogger(__name__)

ACQUISITION = "acquisition"
EXPLORE_DEGENERATE = "explore: degenerate posterior"
EXPLORE_NO_POSTERIOR = "explore: no posterior"


def single_objective(posterior: AnyPosterior, policy: object) -> Posterior:
    """``posterior`` itself when it is one objective's; a vector reward's :class:`MultiPosterior`
    raises :class:`~policies.errors.PolicyInputError` naming ``policy`` and the fix."""
    if isinstance(posterior, MultiPosterior):
        raise PolicyInputError(f"{type(policy).__name__} handles one objective; this run's reward returns "
                               f"{posterior.k}: use policy=ehvi or policy=scalarised")
    return posterior


class ModelPolicy(PolicyBase):
    """Base class: ``select`` runs the checks and the fallback, subclasses implement ``_choose``.

    ``needs_model`` is True: the loop fits the surrogate before calling ``select``.
    """

    def __init__(self) -> None:
        self._explorer = SpaceFilling()
        self._logged: tuple[int, str] | None = None

    # ------------------------------------------------------------------ subclass hooks
    def _explore_reason(self, posterior: AnyPosterior, state: SelectionState) -> str | None:
        """A reason to explore although the posterior is healthy, or None to exploit."""
        return None

    def _choose(self, posterior: AnyPosterior, state: SelectionState, pool: np.ndarray,
                q: int) -> tuple[np.ndarray, str]:
        """Pick ``min(q, len(pool))`` distinct indices from ``pool``; return them and the reason.
        A single-objective policy narrows ``posterior`` with :func:`single_objective`."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared logic
    def _record(self, state: SelectionState, picks: np.ndarray, reason: str) -> Selection:
        key = (int(state.step), reason)
        if reason != ACQUISITION and self._logged != key:
            self._logged = key
            action = "choosing by SpaceFilling" if reason.startswith("explore") else "batch completed"
            log.info("step %d: %s: %s; %s", state.step, type(self).__name__, reason, action)
        phase = EXPLORE_PHASE if reason.startswith("explore") else ACQUISITION_PHASE
        return Selection(np.asarray(picks, dtype=np.int64), reason, phase)

    def select(self, posterior: AnyPosterior | None, state: SelectionState, q: int = 1) -> Selection:
        """Choose (min(q, k),) distinct selectable indices (k = selectable candidates).

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
            return self._record(state, self._explorer.select(posterior, state, q).indices, reason)
        assert posterior is not None
        pool = selectable(state, posterior.n)
        picks, reason = self._choose(posterior, state, pool, q)
        return self._record(state, picks, reason)
