"""A decision: which candidates to measure next, why, and what the model predicted for them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from policies.posterior import AnyPosterior

__all__ = ["Decision", "Phase", "AnyPosterior"]

#: How a candidate was chosen; stored as the record's ``phase``.
Phase = Literal["seed", "forced", "policy"]


@dataclass(frozen=True)
class Decision:
    """The decider's answer to "what next?".

    Args:
        indices: ``(q,)`` int64 candidate indices, in the order to measure them.
        phase: ``"seed"`` (the space-filling design), ``"forced"`` (queued by the user) or
            ``"policy"`` (the policy's choice, or deterministic exploration before a model exists).
        reason: one line for the record (the policy's own reason where it gives one).
        posterior: the model's prediction over every candidate when one was used, else None.
        t_fit_s, t_predict_s, t_select_s: seconds spent fitting, predicting and selecting (NaN
            when not done).
        cost_s: per chosen candidate, the cost in seconds a cost-aware policy charged for it.
    """

    indices: np.ndarray
    phase: Phase
    reason: str
    posterior: AnyPosterior | None = None
    t_fit_s: float = float("nan")
    t_predict_s: float = float("nan")
    t_select_s: float = float("nan")
    cost_s: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "indices", np.asarray(self.indices, dtype=np.int64).reshape(-1))
