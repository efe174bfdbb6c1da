"""Pareto fronts and hypervolumes in two objectives (maximisation), vectorised with numpy."""

from __future__ import annotations

import numpy as np

__all__ = ["pareto_mask", "hypervolume_2d", "hypervolume_improvement_2d", "default_reference"]


def pareto_mask(Y: np.ndarray) -> np.ndarray:
    """(m,) bool: rows of ``Y (m, k)`` not dominated by any other row (maximisation; NaN rows never)."""
    Y = np.asarray(Y, dtype=np.float64)
    ok = np.all(np.isfinite(Y), axis=1)
    mask = ok.copy()
    for i in np.flatnonzero(ok):
        others = Y[ok]
        dominated = np.any(np.all(others >= Y[i], axis=1) & np.any(others > Y[i], axis=1))
        mask[i] = not dominated
    return mask


def _front_sorted(front: np.ndarray, ref: np.ndarray) -> np.ndarray:
    F = np.asarray(front, dtype=np.float64).reshape(-1, 2)
    F = F[np.all(np.isfinite(F), axis=1) & np.all(F > ref, axis=1)]
    if F.size == 0:
        return F
    F = F[pareto_mask(F)]
    F = np.unique(F, axis=0)
    return F[np.argsort(F[:, 0])]  # first objective ascending -> second descending


def hypervolume_2d(Y: np.ndarray, ref: np.ndarray) -> float:
    """Area dominated by the rows of ``Y (m, 2)`` and bounded below by ``ref (2,)``."""
    ref = np.asarray(ref, dtype=np.float64)
    F = _front_sorted(Y, ref)
    if F.size == 0:
        return 0.0
    # slabs: between consecutive first-objective values the height is the next point's second value
    left = np.concatenate([[ref[0]], F[:-1, 0]])
    return float(np.sum((F[:, 0] - left) * (F[:, 1] - ref[1])))


def hypervolume_improvement_2d(P: np.ndarray, front: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Hypervolume each point of ``P (..., 2)`` would add to ``front (m, 2)`` (reference ``ref``).

    Exact: the region dominated by a point p is ``[ref, p]``; the front already covers, over each
    interval of the first objective, everything below its staircase height.
    """
    ref = np.asarray(ref, dtype=np.float64)
    P = np.asarray(P, dtype=np.float64)
    F = _front_sorted(front, ref)
    lo = np.concatenate([[ref[0]], F[:, 0]])  # staircase intervals [lo_j, hi_j) and heights h_j
    hi = np.concatenate([F[:, 0], [np.inf]])
    h = np.concatenate([F[:, 1], [ref[1]]])
    p1 = P[..., 0:1]
    p2 = P[..., 1:2]
    width = np.clip(np.minimum(p1, hi) - lo, 0.0, None)
    height = np.clip(p2 - h, 0.0, None)
    return np.sum(width * height, axis=-1)


def default_reference(Y: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """A reference point just below the observed minima: ``min - margin * range`` per objective."""
    Y = np.asarray(Y, dtype=np.float64)
    Y = Y[np.all(np.isfinite(Y), axis=1)]
    lo, hi = Y.min(axis=0), Y.max(axis=0)
    span = np.where(hi > lo, hi - lo, np.maximum(np.abs(lo), 1.0))
    return lo - margin * span
