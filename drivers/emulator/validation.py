"""Argument checks shared by the emulators: each returns the cleaned value or raises
:class:`drivers.InvalidArgument` naming the field and the accepted range.
"""

from __future__ import annotations

import math

import numpy as np

from drivers.errors import InvalidArgument

__all__ = ["finite", "integer", "is_number", "pair", "positive", "shape"]


def is_number(value: object) -> bool:
    """True for a real Python or NumPy number (``bool`` excluded)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def finite(name: str, value: object) -> float:
    """``value`` as a finite float."""
    if not is_number(value) or not math.isfinite(float(value)):  # type: ignore[arg-type]
        raise InvalidArgument(f"{name}={value!r} must be a finite number")
    return float(value)  # type: ignore[arg-type]


def positive(name: str, value: object, maximum: float | None = None,
             allow_zero: bool = False, unit: str = "") -> float:
    """``value`` as a float ``> 0`` (``>= 0`` with ``allow_zero``) and ``<= maximum`` if given;
    ``unit`` (e.g. ``" s"``) is appended to the bounds in the message."""
    v = finite(name, value)
    if v < 0.0 or (v == 0.0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidArgument(f"{name}={value!r} must be {bound}{unit}")
    if maximum is not None and v > maximum:
        raise InvalidArgument(f"{name}={value!r} exceeds the maximum {maximum!r}{unit}; "
                              f"pass a value <= {maximum!r}")
    return v


def integer(name: str, value: object, lo: int, hi: int) -> int:
    """``value`` as an int in ``[lo, hi]`` (``bool`` refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidArgument(f"{name}={value!r} must be an integer in [{lo}, {hi}]")
    if not lo <= int(value) <= hi:
        raise InvalidArgument(f"{name}={value!r} must lie in [{lo}, {hi}]")
    return int(value)


def pair(name: str, value: object) -> tuple[float, float]:
    """``value`` as a ``(y, x)`` pair of finite floats."""
    try:
        items = [float(v) for v in value]  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise InvalidArgument(f"{name}={value!r} must be a (y, x) pair of numbers") from None
    if len(items) != 2 or not all(math.isfinite(v) for v in items):
        raise InvalidArgument(f"{name}={value!r} must be a (y, x) pair of finite numbers")
    return items[0], items[1]


def shape(name: str, value: object, hi: int) -> tuple[int, int]:
    """``value`` (an int for a square, or ``(ny, nx)``) as ``(ny, nx)`` pixels, each in
    ``[2, hi]``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        items: list[object] = [value, value]
    else:
        try:
            items = list(value)  # type: ignore[call-overload]
        except TypeError:
            raise InvalidArgument(f"{name}={value!r} must be (ny, nx) pixels") from None
    if len(items) != 2:
        raise InvalidArgument(f"{name}={value!r} must be (ny, nx) pixels (two integers)")
    return integer(f"{name}[0]", items[0], 2, hi), integer(f"{name}[1]", items[1], 2, hi)
