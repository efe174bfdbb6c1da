"""Argument checks of the emulators: :mod:`drivers.validation` raising :class:`drivers.InvalidArgument`
(each returns the cleaned value or raises naming the field and the accepted range), plus the
overview ``shape`` check that only the emulators need.
"""

from __future__ import annotations

import numpy as np

from drivers import validation
from drivers.errors import InvalidArgument
from drivers.validation import is_number

__all__ = ["finite", "integer", "is_number", "pair", "positive", "shape"]


def finite(name: str, value: object) -> float:
    """``value`` as a finite float."""
    return validation.finite(name, value, error=InvalidArgument)


def positive(name: str, value: object, maximum: float | None = None,
             allow_zero: bool = False, unit: str = "") -> float:
    """``value`` as a float ``> 0`` (``>= 0`` with ``allow_zero``) and ``<= maximum`` if given;
    ``unit`` (e.g. ``" s"``) is appended to the bounds in the message."""
    return validation.positive(name, value, allow_zero=allow_zero, maximum=maximum, unit=unit,
                               error=InvalidArgument)


def integer(name: str, value: object, lo: int, hi: int) -> int:
    """``value`` as an int in ``[lo, hi]`` (``bool`` refused)."""
    return validation.integer(name, value, lo, hi, error=InvalidArgument)


def pair(name: str, value: object) -> tuple[float, float]:
    """``value`` as a ``(y, x)`` pair of finite floats."""
    return validation.pair(name, value, error=InvalidArgument)


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
