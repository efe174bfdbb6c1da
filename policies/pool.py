"""The pool of candidates a policy may choose from, with the checks every policy shares.

A candidate is *selectable* when ``state.available`` is True and it is not in ``state.pending``
(a pending candidate is being measured already; the loop normally marks it unavailable too, this
makes sure a batch never repeats it).
"""

from __future__ import annotations

import numbers

import numpy as np

from drivers import validation

from .errors import PolicyConfigError, PolicyInputError
from .protocol import NoCandidatesLeft, SelectionState

__all__ = ["check_q", "check_nonnegative", "check_range", "check_choice", "selectable", "pending_indices",
           "measured_indices", "top_q"]


def check_q(q: int) -> int:
    """Validate the batch size ``q`` (an int >= 1) and return it as a Python int."""
    if isinstance(q, bool) or not isinstance(q, numbers.Integral):
        raise PolicyConfigError(f"q={q!r} must be an integer >= 1 (the number of candidates per batch)")
    if int(q) < 1:
        raise PolicyConfigError(f"q={q} must be >= 1 (the number of candidates per batch); use q=1")
    return int(q)


def check_nonnegative(owner: str, name: str, value: float, hint: str) -> float:
    """Validate a finite, non-negative float setting; the error names ``owner.name`` and ``hint``."""
    return validation.nonnegative(f"{owner}: {name}", value, error=PolicyConfigError, fix=hint)


def check_range(owner: str, name: str, value: float, lo: float, hi: float | None = None,
                lo_open: bool = False) -> float:
    """Validate a finite float in ``[lo, hi]`` (``(lo, hi]`` when ``lo_open``; no upper bound when
    ``hi`` is None); the error names ``owner.name`` and the allowed interval."""
    return validation.in_range(f"{owner}: {name}", value, lo, hi, lo_open=lo_open, error=PolicyConfigError)


def check_choice(owner: str, name: str, value: str, choices: tuple[str, ...]) -> str:
    """Validate that ``value`` is one of ``choices``; the error lists them."""
    return validation.choice(f"{owner}: {name}", value, choices, error=PolicyConfigError)


def _indices(field: str, values: np.ndarray, n: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise PolicyInputError(f"state.{field} must be a 1-D array of int candidate indices, "
                               f"got dtype {arr.dtype} shape {arr.shape}")
    if arr.min() < 0 or arr.max() >= n:
        raise PolicyInputError(f"state.{field} holds indices outside [0, {n}): "
                               f"min {arr.min()}, max {arr.max()}")
    return arr.astype(np.int64)


def measured_indices(state: SelectionState, n: int) -> np.ndarray:
    """(m,) int64 measured candidate indices, checked against ``n`` candidates."""
    return _indices("measured", state.measured, n)


def pending_indices(state: SelectionState, n: int) -> np.ndarray:
    """(p,) int64 pending candidate indices, checked against ``n`` candidates."""
    return _indices("pending", state.pending, n)


def selectable(state: SelectionState, n: int | None = None) -> np.ndarray:
    """Check ``state`` and return the (k,) int64 sorted indices a policy may choose.

    Args:
        state: the selection state; ``available`` must be an (n,) bool mask and ``yx_px`` (n, 2).
        n: the number of candidates the posterior covers (None for baselines without a posterior).

    Raises:
        PolicyInputError: mismatched lengths or dtypes, indices out of range.
        NoCandidatesLeft: nothing is available (after removing pending candidates).
    """
    avail = np.asarray(state.available)
    if avail.ndim != 1 or avail.dtype != np.bool_:
        raise PolicyInputError(f"state.available must be an (n,) bool mask, got dtype {avail.dtype} "
                               f"shape {avail.shape}; build it with np.zeros(n, dtype=bool)")
    n_state = int(avail.shape[0])
    if n is not None and n != n_state:
        raise PolicyInputError(f"state.available covers {n_state} candidates but the posterior covers {n}; "
                               "predict the posterior over the whole candidate set")
    yx = np.asarray(state.yx_px)
    if yx.shape != (n_state, 2):
        raise PolicyInputError(f"state.yx_px must have shape ({n_state}, 2) (one (row, col) pixel per "
                               f"candidate), got {yx.shape}")
    _indices("measured", state.measured, n_state)
    pending = pending_indices(state, n_state)
    mask = avail.copy()
    mask[pending] = False
    pool = np.flatnonzero(mask).astype(np.int64)
    if pool.size == 0:
        raise NoCandidatesLeft(f"no candidate is available ({n_state} candidates, "
                               f"{int(avail.sum())} available, {pending.size} pending)")
    return pool


def top_q(values: np.ndarray, pool: np.ndarray, q: int) -> np.ndarray:
    """(min(q, len(pool)),) int64: the candidates of ``pool`` with the highest ``values`` ((n,)
    over all candidates), non-finite values last, ties in pool order."""
    v = np.asarray(values, dtype=np.float64)[pool]
    v = np.where(np.isfinite(v), v, -np.inf)
    return np.asarray(pool[np.argsort(-v, kind="stable")[:q]], dtype=np.int64)
