"""Upper confidence bound: ``mean + sqrt(beta) * std`` (botorch's ``beta`` convention)."""

from __future__ import annotations

import math

import numpy as np

from .analytic import AnalyticPolicy, signed
from .model_policy import single_objective
from .pool import check_nonnegative
from .posterior import AnyPosterior
from .protocol import SelectionState

__all__ = ["UCB", "upper_confidence_bound"]


def upper_confidence_bound(mean: np.ndarray, std: np.ndarray, beta: float) -> np.ndarray:
    """``mean + sqrt(beta) * std``: (k,) float64 in reward units.

    ``beta`` multiplies the *variance*, as in botorch's ``UpperConfidenceBound``: ``beta = 4`` means
    two standard deviations. (gpax's ``UCB(beta=...)`` uses the same convention.)
    """
    return np.asarray(mean, dtype=np.float64) + math.sqrt(beta) * np.asarray(std, dtype=np.float64)


class UCB(AnalyticPolicy):
    """Upper confidence bound, ``mean + sqrt(beta) * std``; for minimisation ``-mean + sqrt(beta) * std``
    (the negated lower confidence bound), so the acquisition is always "higher is better".

    ``beta = 0`` is pure exploitation (the best mean); a large ``beta`` approaches
    :class:`~policies.max_uncertainty.MaxUncertainty`.

    Args:
        beta: exploration weight >= 0 on the variance (std scaled by ``sqrt(beta)``).
        min_separation_px: batch spacing in overview pixels, >= 0 (see ``AnalyticPolicy``).
    """

    def __init__(self, beta: float = 2.0, min_separation_px: float = 0.0) -> None:
        super().__init__(min_separation_px=min_separation_px)
        self.beta = check_nonnegative("UCB", "beta", beta, "it weights the variance (std is scaled "
                                      "by sqrt(beta)); use e.g. beta=2.0, or 0 for the best mean")

    def __repr__(self) -> str:
        return f"UCB(beta={self.beta}, min_separation_px={self.min_separation_px})"

    def _values(self, posterior: AnyPosterior, state: SelectionState) -> np.ndarray:
        one = single_objective(posterior, self)
        mean, _ = signed(one, state)
        return upper_confidence_bound(mean, one.std, self.beta)
