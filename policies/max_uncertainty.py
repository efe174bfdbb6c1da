"""Pure exploration on the model: measure where the predictive std is largest."""

from __future__ import annotations

import numpy as np

from .analytic import AnalyticPolicy
from .model_policy import single_objective
from .posterior import AnyPosterior
from .protocol import SelectionState

__all__ = ["MaxUncertainty"]


class MaxUncertainty(AnalyticPolicy):
    """Choose the candidate with the largest predictive std (direction-free).

    The acquisition value is ``posterior.std`` (reward units); ties go to the lowest index.

    Args:
        min_separation_px: batch spacing in overview pixels, >= 0 (see ``AnalyticPolicy``).
    """

    def __init__(self, min_separation_px: float = 0.0) -> None:
        super().__init__(min_separation_px=min_separation_px)

    def __repr__(self) -> str:
        return f"MaxUncertainty(min_separation_px={self.min_separation_px})"

    def _values(self, posterior: AnyPosterior, state: SelectionState) -> np.ndarray:
        return single_objective(posterior, self).std.copy()
