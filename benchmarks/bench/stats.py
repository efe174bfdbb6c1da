"""Mean and Student-t confidence interval over seeds."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

__all__ = ["Interval", "t_interval"]


@dataclass(frozen=True)
class Interval:
    """Mean of ``n`` finite values and its two-sided confidence interval ``[lo, hi]``.

    ``lo``/``hi`` are NaN when ``n < 2`` (no spread to estimate); every field is NaN when ``n == 0``.
    """

    mean: float
    lo: float
    hi: float
    n: int
    confidence: float = 0.95

    @property
    def half_width(self) -> float:
        return 0.5 * (self.hi - self.lo)

    def format(self, digits: int = 3) -> str:
        """``"0.412 [0.301, 0.523]"``; ``"0.412"`` when n = 1; ``"n/a"`` when n = 0."""
        if self.n == 0:
            return "n/a"
        if self.n == 1 or not math.isfinite(self.lo):
            return f"{self.mean:.{digits}g}"
        return f"{self.mean:.{digits}g} [{self.lo:.{digits}g}, {self.hi:.{digits}g}]"


def t_interval(values: Iterable[float], confidence: float = 0.95) -> Interval:
    """Mean and Student-t interval ``mean +- t_{(1+c)/2, n-1} * s / sqrt(n)`` of the finite ``values``.

    Args:
        values: per-seed results (NaN and None are dropped).
        confidence: two-sided level in (0, 1).
    """
    from scipy import stats

    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence} must lie in (0, 1), e.g. 0.95")
    v = np.asarray([np.nan if x is None else x for x in values], dtype=np.float64)
    v = v[np.isfinite(v)]
    n = int(v.size)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, confidence)
    mean = float(v.mean())
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1, confidence)
    half = float(stats.t.ppf(0.5 + confidence / 2.0, n - 1) * v.std(ddof=1) / math.sqrt(n))
    return Interval(mean, mean - half, mean + half, n, confidence)
