"""Validation of surrogate inputs: patches, coordinates, targets and candidate indices.

Every check raises :class:`~agent.surrogates.errors.SurrogateInputError` (a ``ValueError``) whose
message names the calling method, the offending argument and what to pass instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import SurrogateInputError

__all__ = ["as_patches", "as_coords", "as_targets", "as_indices"]


def _as_float_array(value: Any, dtype: type, owner: str, field: str) -> np.ndarray:
    if value is None:
        raise SurrogateInputError(f"{owner}: {field} is None; pass a numeric array")
    try:
        arr: np.ndarray = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise SurrogateInputError(f"{owner}: {field} is not a numeric array ({exc})") from exc
    return arr


def as_patches(
    X: Any, owner: str, field: str = "X", patch_shape: tuple[int, int] | None = None
) -> np.ndarray:
    """Check image patches and return them as a C-contiguous ``(n, h, w)`` float32 array.

    Args:
        X: (n, h, w) patches, any real dtype, already normalised; n >= 1, all values finite.
        owner: ``"Class.method"`` for the message.
        field: the argument name for the message.
        patch_shape: the (h, w) the model was built for, or None to accept any.
    """
    arr = _as_float_array(X, np.float32, owner, field)
    if arr.ndim != 3:
        raise SurrogateInputError(
            f"{owner}: {field} must be 3-D image patches (n, h, w), got shape {arr.shape}; "
            "pass CandidateSet.patches (or patches[indices])"
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1 or arr.shape[2] < 1:
        raise SurrogateInputError(f"{owner}: {field} has an empty axis, shape {arr.shape}")
    if patch_shape is not None and tuple(arr.shape[1:]) != tuple(patch_shape):
        raise SurrogateInputError(
            f"{owner}: {field} patches are {tuple(arr.shape[1:])} pixels but the model was fitted "
            f"on {tuple(patch_shape)}; use the same candidates.window_px as the fit"
        )
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise SurrogateInputError(f"{owner}: {field} holds {bad} NaN/inf values; patches must be finite")
    return np.ascontiguousarray(arr)


def as_coords(X: Any, owner: str, field: str = "X", tol: float = 1e-9) -> np.ndarray:
    """Check probe coordinates and return them as ``(n, 2)`` float64 in [0, 1].

    Args:
        X: (n, 2) positions scaled to [0, 1] (``CandidateSet.coords01``), n >= 1, finite.
        tol: values up to ``tol`` outside [0, 1] are accepted (and clipped).
    """
    arr = _as_float_array(X, np.float64, owner, field)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 1:
        raise SurrogateInputError(
            f"{owner}: {field} must be (n, 2) probe coordinates in [0, 1], got shape {arr.shape}; "
            "pass CandidateSet.coords01"
        )
    if not np.all(np.isfinite(arr)):
        raise SurrogateInputError(f"{owner}: {field} holds NaN/inf coordinates")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -tol or hi > 1.0 + tol:
        raise SurrogateInputError(
            f"{owner}: {field} spans [{lo:.4g}, {hi:.4g}] but coordinates must lie in [0, 1]; "
            "scale positions by the overview size (CandidateSet.coords01)"
        )
    return np.clip(arr, 0.0, 1.0)


def as_targets(y: Any, n: int, owner: str, field: str = "y") -> np.ndarray:
    """Check targets and return them as ``(n,)`` float64.

    Args:
        y: (n,) reward values (an (n, 1) column is accepted), finite.
        n: the number of inputs they belong to.
    """
    arr = _as_float_array(y, np.float64, owner, field)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise SurrogateInputError(
            f"{owner}: {field} must be 1-D (n,) targets, got shape {arr.shape}"
        )
    if arr.shape[0] != n:
        raise SurrogateInputError(
            f"{owner}: {field} has {arr.shape[0]} values but X has {n} rows; pass one target per input"
        )
    if not np.all(np.isfinite(arr)):
        bad = np.flatnonzero(~np.isfinite(arr))
        raise SurrogateInputError(
            f"{owner}: {field} holds NaN/inf at positions {bad[:10].tolist()}; drop failed "
            "measurements before fitting"
        )
    return arr.copy()


def as_indices(indices: Any, m: int, owner: str, field: str = "indices") -> np.ndarray:
    """Check candidate indices for a joint sampler: (k,) integers in [0, m), k >= 1."""
    arr = np.asarray(indices)
    if arr.ndim != 1 or arr.shape[0] < 1:
        raise SurrogateInputError(f"{owner}: {field} must be a non-empty 1-D index array, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise SurrogateInputError(f"{owner}: {field} must hold integers, got dtype {arr.dtype}")
    if int(arr.min()) < 0 or int(arr.max()) >= m:
        raise SurrogateInputError(
            f"{owner}: {field} must lie in [0, {m}) (the candidates of this posterior), "
            f"got [{int(arr.min())}, {int(arr.max())}]"
        )
    return arr.astype(np.int64)
