"""Uniform random baseline."""

from __future__ import annotations

import numpy as np

from .pool import check_q, selectable
from .posterior import Posterior
from .protocol import SelectionState

__all__ = ["RandomPolicy"]


class RandomPolicy:
    """Choose uniformly among the selectable candidates, without replacement within a batch.

    All randomness comes from ``state.rng``: the same seed gives the same sequence. Never looks at a
    model (``needs_model = False``); ``acquisition`` returns None.

    Attributes:
        last_reason: ``"random"`` after a ``select``.
    """

    needs_model: bool = False

    def __init__(self) -> None:
        self.last_reason: str = ""

    def __repr__(self) -> str:
        return "RandomPolicy()"

    def select(self, posterior: Posterior | None, state: SelectionState, q: int = 1) -> np.ndarray:
        """Return (min(q, k),) int64 distinct indices drawn uniformly from the k selectable ones."""
        q = check_q(q)
        pool = selectable(state, None if posterior is None else posterior.n)
        picks = state.rng.choice(pool, size=min(q, pool.size), replace=False)
        self.last_reason = "random"
        return np.asarray(picks, dtype=np.int64)

    def acquisition(self, posterior: Posterior | None, state: SelectionState) -> None:
        """None: a random choice has no acquisition surface."""
        return None
