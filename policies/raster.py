"""Raster-scan baseline: the next candidate in row or serpentine order over the grid."""

from __future__ import annotations

import numpy as np

from .errors import PolicyConfigError, PolicyInputError
from .pool import check_q, measured_indices, selectable
from .posterior import AnyPosterior
from .protocol import BASELINE_PHASE, PolicyBase, Selection, SelectionState

__all__ = ["Raster", "raster_order"]

_ORDERS = ("row", "serpentine")


def raster_order(grid_shape: tuple[int, int], order: str = "row") -> np.ndarray:
    """(rows * cols,) int64 candidate indices in scan order (index = row * cols + col).

    ``"row"``: every row left to right, top to bottom. ``"serpentine"``: even rows (0, 2, ...) left
    to right, odd rows right to left (the probe never jumps back across the frame).
    """
    if order not in _ORDERS:
        raise PolicyConfigError(f"Raster: order={order!r} is not known; use 'row' or 'serpentine'")
    rows, cols = (int(v) for v in grid_shape)
    idx = np.arange(rows * cols, dtype=np.int64).reshape(rows, cols)
    if order == "serpentine":
        idx[1::2] = idx[1::2, ::-1]
    return idx.ravel()


class Raster(PolicyBase):
    """Measure the candidates in raster order over ``state.grid_shape``; never looks at a model.

    Each call returns the first ``q`` selectable candidates in scan order (see :func:`raster_order`),
    skipping unavailable and pending ones. When re-measuring is allowed (measured candidates stay
    available) the candidates measured fewest times come first, so the scan sweeps the grid again
    instead of repeating its first point. ``acquisition`` returns None; ``needs_model`` is False;
    the reason is ``"raster"``.

    Args:
        order: ``"row"`` or ``"serpentine"``.
    """

    needs_model = False

    def __init__(self, order: str = "row") -> None:
        if order not in _ORDERS:
            raise PolicyConfigError(f"Raster: order={order!r} is not known; use 'row' or 'serpentine'")
        self.order = order

    def __repr__(self) -> str:
        return f"Raster(order={self.order!r})"

    def select(self, posterior: AnyPosterior | None, state: SelectionState, q: int = 1) -> Selection:
        """Choose (min(q, k),) indices: the next k selectable candidates in scan order."""
        q = check_q(q)
        pool = selectable(state, None if posterior is None else posterior.n)
        n = int(np.asarray(state.available).shape[0])
        rows, cols = (int(v) for v in state.grid_shape)
        if rows < 1 or cols < 1 or rows * cols != n:
            raise PolicyInputError(f"state.grid_shape={tuple(state.grid_shape)} does not cover the {n} "
                                   "candidates; pass the candidate set's (rows, cols)")
        rank = np.empty(n, dtype=np.int64)
        rank[raster_order((rows, cols), self.order)] = np.arange(n)
        times = np.bincount(measured_indices(state, n), minlength=n)
        key = np.lexsort((rank[pool], times[pool]))
        return Selection(pool[key[:q]].astype(np.int64), "raster", BASELINE_PHASE)
