"""Validation of surrogate constructor settings; every failure names the setting and the fix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import SurrogateConfigError

__all__ = ["bool_setting", "float_setting", "int_list", "int_setting"]


def int_setting(name: str, value: Any, minimum: int) -> int:
    """An integer >= ``minimum`` (bools refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise SurrogateConfigError(f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)


def float_setting(name: str, value: Any, minimum: float, strict: bool) -> float:
    """A finite float >= ``minimum`` (> when ``strict``)."""
    if isinstance(value, (bool, np.bool_)):
        raise SurrogateConfigError(f"{name}={value!r} must be a number")
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise SurrogateConfigError(f"{name}={value!r} must be a number") from exc
    if not np.isfinite(v) or v < minimum or (strict and v == minimum):
        op = ">" if strict else ">="
        raise SurrogateConfigError(f"{name}={value!r} must be a finite number {op} {minimum:g}")
    return v


def bool_setting(name: str, value: Any) -> bool:
    """A real boolean (``"false"`` strings are refused rather than read as True)."""
    if not isinstance(value, (bool, np.bool_)):
        raise SurrogateConfigError(f"{name}={value!r} must be true or false")
    return bool(value)


def int_list(name: str, value: Sequence[int], allow_empty: bool) -> tuple[int, ...]:
    """A list of positive integers (a Hydra ``ListConfig`` is fine)."""
    if isinstance(value, (str, bytes)):
        raise SurrogateConfigError(f"{name}={value!r} must be a list of positive integers")
    try:
        out = tuple(int(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise SurrogateConfigError(f"{name}={value!r} must be a list of positive integers") from exc
    if any(v < 1 for v in out) or (not out and not allow_empty):
        what = "a non-empty list" if not allow_empty else "a list"
        raise SurrogateConfigError(f"{name}={list(out)} must be {what} of positive integers")
    return out
