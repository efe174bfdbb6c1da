"""Uniform random baseline."""

from __future__ import annotations

import numpy as np

from .pool import check_q, selectable
from .posterior import AnyPosterior
from .protocol import BASELINE_PHASE, PolicyBase, Selection, SelectionState

__all__ = ["RandomPolicy"]


class RandomPolicy(PolicyBase):
    """Choose uniformly among the selectable candidates, without replacement within a batch.

    All randomness comes from ``state.rng``: the same seed gives the same sequence. Never looks at a
    model (``needs_model = False``); ``acquisition`` returns None. The reason is ``"random"``.
    """

    needs_model = False

    def __repr__(self) -> str:
        return "RandomPolicy()"

    def select(self, posterior: AnyPosterior | None, state: SelectionState, q: int = 1) -> Selection:
        """Choose (min(q, k),) distinct indices uniformly from the k selectable ones."""
        q = check_q(q)
        pool = selectable(state, None if posterior is None else posterior.n)
        picks = state.rng.choice(pool, size=min(q, pool.size), replace=False)
        return Selection(np.asarray(picks, dtype=np.int64), "random", BASELINE_PHASE)
