"""Argument checks shared by the vision components (private): each raises a typed error that names
the field and the fix."""

from __future__ import annotations

from typing import Any

import numpy as np

from agent.candidates import CandidateSet
from drivers import validation

from .errors import VisionConfigError, VisionInputError


def check_patches(patches: Any, name: str = "patches", window: int | None = None) -> np.ndarray:
    """Validate image patches: (n, h, w) finite numbers -> float32 (n, h, w), n >= 1.

    A single (h, w) patch is accepted and returned as (1, h, w). ``window`` (when given) is the side
    the patches must have (the model was trained on it).
    """
    arr = np.asarray(patches)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise VisionInputError(f"{name} must be a numeric array (n, h, w), got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[0] < 1 or arr.shape[1] < 1 or arr.shape[2] < 1:
        raise VisionInputError(
            f"{name} must be (n, h, w) with n >= 1 (e.g. CandidateSet.patches), got shape {arr.shape}")
    if window is not None and arr.shape[1:] != (window, window):
        raise VisionInputError(
            f"{name} are {arr.shape[1]}x{arr.shape[2]} px but the model was trained on {window}x{window}"
            f" px; build candidates with window_px={window} or retrain")
    arr = arr.astype(np.float32, copy=False)
    if not np.all(np.isfinite(arr)):
        raise VisionInputError(f"{name} hold NaN or infinite values; normalise the overview first")
    return arr


def check_labels(labels: Any, n: int, name: str = "labels") -> np.ndarray:
    """Validate binary labels: (n,) of bool or 0/1 -> bool (n,)."""
    arr = np.asarray(labels)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise VisionInputError(f"{name} must be (n,) = ({n},) one per patch, got shape {arr.shape}")
    if arr.dtype == np.bool_:
        return arr.copy()
    if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isin(arr, (0, 1))):
        raise VisionInputError(f"{name} must be bool or 0/1 (1 = worth measuring), got values "
                               f"{np.unique(arr)[:5].tolist()}")
    return arr.astype(bool)


def check_image(image: Any, name: str = "image") -> np.ndarray:
    """Validate a 2-D image: finite numbers -> float32 (ny, nx)."""
    arr = np.asarray(image)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise VisionInputError(f"{name} must be a numeric (ny, nx) array, got dtype {arr.dtype}")
    if arr.ndim != 2 or min(arr.shape) < 2:
        raise VisionInputError(f"{name} must be a 2-D (ny, nx) image, got shape {arr.shape}")
    arr = arr.astype(np.float32, copy=False)
    if not np.all(np.isfinite(arr)):
        raise VisionInputError(f"{name} holds NaN or infinite values")
    return arr


def check_mask(mask: Any, shape: tuple[int, ...] | None = None, name: str = "mask") -> np.ndarray:
    """Validate a boolean mask (bool or 0/1 numbers) of an optional required shape -> bool array."""
    return validation.bool_mask(name, mask, shape, error=VisionInputError)


def check_int(owner: str, name: str, value: Any, lo: int, hi: int | None = None) -> int:
    """An int in [lo, hi] (``hi`` None: no upper bound)."""
    return validation.integer(f"{owner}: {name}", value, lo, hi, error=VisionConfigError)


def check_float(owner: str, name: str, value: Any, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite float within optional bounds (open or closed)."""
    return validation.in_range(f"{owner}: {name}", value, lo, hi, lo_open=lo_open, hi_open=hi_open,
                               error=VisionConfigError)


def check_choice(owner: str, name: str, value: Any, choices: tuple[str, ...]) -> str:
    return validation.choice(f"{owner}: {name}", value, choices, error=VisionConfigError)


def as_candidate_set(owner: str, candidates: Any) -> CandidateSet:
    """``candidates`` itself when it is a candidate set; a clear error for anything else."""
    if not isinstance(candidates, CandidateSet):
        raise VisionInputError(f"{owner}: candidates must be an agent.candidates.CandidateSet, got "
                               f"{type(candidates).__name__}; build it with make_candidates(overview)")
    return candidates


def candidate_patches(owner: str, candidates: Any) -> np.ndarray:
    """The (n, w, w) float32 patches of a candidate set; a clear error for anything else."""
    return as_candidate_set(owner, candidates).patches
