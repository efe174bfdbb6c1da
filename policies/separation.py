"""Greedy batch selection: best acquisition values first, kept a minimum pixel distance apart."""

from __future__ import annotations

import numpy as np

__all__ = ["greedy_separated"]


def greedy_separated(
    order: np.ndarray,
    yx_px: np.ndarray,
    pending: np.ndarray,
    q: int,
    min_separation_px: float,
) -> tuple[np.ndarray, bool]:
    """Pick up to ``q`` candidates from ``order`` (best first), keeping them apart.

    A candidate is accepted when its Euclidean pixel distance to every earlier pick and to every
    pending candidate is ``>= min_separation_px``; ``min_separation_px = 0`` gives the plain top-q.
    When the constraint leaves fewer than ``min(q, len(order))`` candidates, the batch is completed
    with the best remaining candidates regardless of distance (the batch size is kept) and the
    second return value is True.

    Args:
        order: (k,) int64 distinct candidate indices sorted from best to worst.
        yx_px: (n, 2) float64 pixel coordinates of all candidates.
        pending: (p,) int64 candidates being measured already.
        q: batch size >= 1.
        min_separation_px: minimum distance in pixels, >= 0.

    Returns:
        ((min(q, k),) int64 picks in acceptance order, relaxed: bool).
    """
    order = np.asarray(order, dtype=np.int64)
    n_out = min(int(q), order.size)
    if min_separation_px <= 0:
        return order[:n_out].copy(), False
    yx = np.asarray(yx_px, dtype=np.float64)
    pts = yx[order]
    lim2 = float(min_separation_px) ** 2
    ok = np.ones(order.size, dtype=bool)
    for p in np.asarray(pending, dtype=np.int64):
        ok &= ((pts - yx[p]) ** 2).sum(axis=1) >= lim2
    taken = np.zeros(order.size, dtype=bool)
    picks: list[int] = []
    while len(picks) < n_out:
        free = np.flatnonzero(ok & ~taken)
        if free.size == 0:
            break
        j = int(free[0])
        taken[j] = True
        picks.append(int(order[j]))
        ok &= ((pts - pts[j]) ** 2).sum(axis=1) >= lim2
    relaxed = len(picks) < n_out
    if relaxed:
        rest = order[~taken][: n_out - len(picks)]
        picks.extend(int(i) for i in rest)
    return np.asarray(picks, dtype=np.int64), relaxed
