"""Validation of surrogate constructor settings; every failure names the setting and the fix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from drivers import validation

from .errors import SurrogateConfigError

__all__ = ["bool_setting", "float_setting", "int_list", "int_setting"]


def int_setting(name: str, value: Any, minimum: int) -> int:
    """An integer >= ``minimum`` (bools refused)."""
    return validation.integer(name, value, minimum, error=SurrogateConfigError)


def float_setting(name: str, value: Any, minimum: float, strict: bool) -> float:
    """A finite float >= ``minimum`` (> when ``strict``); numeric text such as ``"1e-3"`` is read."""
    if isinstance(value, (bool, np.bool_)):
        raise SurrogateConfigError(f"{name}={value!r} must be a number")
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise SurrogateConfigError(f"{name}={value!r} must be a number") from exc
    return validation.in_range(name, v, minimum, lo_open=strict, error=SurrogateConfigError)


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
