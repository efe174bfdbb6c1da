"""Checks of plain settings shared by every package: each returns the cleaned value or raises a
one-line error naming the field, the value given and the fix.

Every check takes ``error`` (the class to raise, default :class:`drivers.errors.ConfigurationError`)
so a package keeps its own typed error (``InvalidArgument`` in drivers, ``InvalidRewardConfig`` in
rewards, ``PolicyConfigError`` in policies, ...), and ``fix`` (text appended after ``"; "``, e.g.
``"use a value such as 0.05"``). ``field`` is the name a user would type (``"experiment.exposure_s"``,
``"SafetyLimits.max_exposure_s"``). This module imports nothing from the project but
:mod:`drivers.errors`, so every package may use it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .errors import ConfigurationError

__all__ = [
    "is_number",
    "finite",
    "positive",
    "nonnegative",
    "probability",
    "in_range",
    "integer",
    "choice",
    "pair",
    "array_shape",
    "bool_mask",
]

ErrorType = type[Exception]


def _fail(error: ErrorType, text: str, fix: str) -> Exception:
    return error(f"{text}; {fix}" if fix else text)


def is_number(value: object) -> bool:
    """True for a real Python or NumPy number (``bool`` excluded)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _as_float(value: Any, coerce: bool) -> float | None:
    """``value`` as a float, or None when it is not a number (``coerce``: whatever ``float()``
    reads, numeric text and 0-d arrays included; never a bool)."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if is_number(value):
        return float(value)
    if coerce:
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    return None


def finite(field: str, value: Any, *, coerce: bool = False, error: ErrorType = ConfigurationError,
           fix: str = "") -> float:
    """``value`` as a finite float (``bool``, NaN and +-inf refused; text too unless ``coerce``)."""
    v = _as_float(value, coerce)
    if v is None or not math.isfinite(v):
        raise _fail(error, f"{field}={value!r} must be a finite number", fix)
    return v


def positive(field: str, value: Any, *, allow_zero: bool = False, allow_inf: bool = False,
             maximum: float | None = None, unit: str = "", coerce: bool = False,
             error: ErrorType = ConfigurationError, fix: str = "") -> float:
    """``value`` as a finite float ``> 0`` (``>= 0`` with ``allow_zero``), ``<= maximum`` if given;
    ``allow_inf``: ``+inf`` passes too (a limit that means "no limit"; NaN and ``-inf`` never do);
    ``unit`` (e.g. ``" s"``) follows the bound in the message; ``coerce`` also reads numeric text."""
    bound = ">= 0" if allow_zero else "> 0"
    v = _as_float(value, coerce)
    if v is None or math.isnan(v) or (math.isinf(v) and not (allow_inf and v > 0)):
        kind = "a number" if allow_inf else "a finite number"
        raise _fail(error, f"{field}={value!r} must be {kind} {bound}{unit}", fix)
    if v < 0.0 or (v == 0.0 and not allow_zero):
        raise _fail(error, f"{field}={value!r} must be {bound}{unit}", fix)
    if maximum is not None and v > maximum:
        raise _fail(error, f"{field}={value!r} exceeds the maximum {maximum!r}{unit}",
                    fix or f"give a value <= {maximum!r}")
    return v


def nonnegative(field: str, value: Any, *, allow_inf: bool = False, unit: str = "", coerce: bool = False,
                error: ErrorType = ConfigurationError, fix: str = "") -> float:
    """``value`` as a finite float ``>= 0`` (``allow_inf``: ``+inf`` too)."""
    return positive(field, value, allow_zero=True, allow_inf=allow_inf, unit=unit, coerce=coerce, error=error,
                    fix=fix)


def in_range(field: str, value: Any, lo: float | None = None, hi: float | None = None, *,
             lo_open: bool = False, hi_open: bool = False, coerce: bool = False,
             error: ErrorType = ConfigurationError, fix: str = "") -> float:
    """``value`` as a finite float within ``lo``/``hi`` (``None``: unbounded; ``*_open``: the bound
    itself is refused)."""
    v = finite(field, value, coerce=coerce, error=error, fix=fix)
    bad_lo = lo is not None and (v <= lo if lo_open else v < lo)
    bad_hi = hi is not None and (v >= hi if hi_open else v > hi)
    if bad_lo or bad_hi:
        raise _fail(error, f"{field}={value!r} must {_bounds(lo, hi, lo_open, hi_open)}", fix)
    return v


def _bounds(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    """``"be > 0"``, ``"be <= 1"`` or ``"lie in [0, 1)"``."""
    if hi is None:
        return f"be {'>' if lo_open else '>='} {lo:g}" if lo is not None else "be a number"
    if lo is None:
        return f"be {'<' if hi_open else '<='} {hi:g}"
    return f"lie in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"


def probability(field: str, value: Any, *, lo_open: bool = False, hi_open: bool = False,
                error: ErrorType = ConfigurationError, fix: str = "") -> float:
    """``value`` as a float in ``[0, 1]`` (ends refused with ``lo_open``/``hi_open``)."""
    return in_range(field, value, 0.0, 1.0, lo_open=lo_open, hi_open=hi_open, error=error, fix=fix)


def integer(field: str, value: Any, lo: int | None = None, hi: int | None = None, *,
            error: ErrorType = ConfigurationError, fix: str = "") -> int:
    """``value`` as an int in ``[lo, hi]`` (``None``: unbounded; ``bool`` and ``2.0`` refused)."""
    if lo is not None and hi is not None:
        bound = f"in [{lo}, {hi}]"
    elif lo is not None:
        bound = f">= {lo}"
    elif hi is not None:
        bound = f"<= {hi}"
    else:
        bound = ""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise _fail(error, f"{field}={value!r} must be an integer {bound}".rstrip(), fix)
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise _fail(error, f"{field}={value!r} must be {bound}", fix)
    return v


def choice(field: str, value: Any, options: Iterable[str], *, error: ErrorType = ConfigurationError,
           fix: str = "") -> str:
    """``value`` if it is one of the strings ``options``; the message lists them."""
    allowed = tuple(options)
    if not isinstance(value, str) or value not in allowed:
        raise _fail(error, f"{field}={value!r} is not known", fix or f"use one of {list(allowed)}")
    return value


def pair(field: str, value: Any, *, error: ErrorType = ConfigurationError, fix: str = "") -> tuple[float, float]:
    """``value`` as a ``(y, x)`` pair of finite floats."""
    try:
        items = [float(v) for v in value]
    except (TypeError, ValueError):
        raise _fail(error, f"{field}={value!r} must be a (y, x) pair of numbers", fix) from None
    if len(items) != 2 or not all(math.isfinite(v) for v in items):
        raise _fail(error, f"{field}={value!r} must be a (y, x) pair of finite numbers", fix)
    return items[0], items[1]


def array_shape(field: str, value: Any, shape: Sequence[int | None], *, dtype: Any = np.float64,
                finite_values: bool = True, error: ErrorType = ConfigurationError,
                fix: str = "") -> np.ndarray:
    """``value`` as an array of ``dtype`` whose shape matches ``shape`` (``None`` matches any length
    along that axis); with ``finite_values`` NaN/inf are refused."""
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise _fail(error, f"{field} must be an array of {np.dtype(dtype).name}", fix) from None
    want = "(" + ", ".join("n" if n is None else str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"
    if arr.ndim != len(shape) or any(n is not None and n != m for n, m in zip(shape, arr.shape)):
        raise _fail(error, f"{field} has shape {arr.shape}, expected {want}", fix)
    if finite_values and np.issubdtype(arr.dtype, np.inexact) and not np.all(np.isfinite(arr)):
        raise _fail(error, f"{field} holds NaN or infinite values", fix or "drop or repair those entries")
    return arr


def bool_mask(field: str, value: Any, shape: Sequence[int] | None = None, *,
              error: ErrorType = ConfigurationError, fix: str = "") -> np.ndarray:
    """``value`` as a bool array (bool or 0/1 numbers), of ``shape`` when one is given."""
    arr = np.asarray(value)
    if shape is not None and arr.shape != tuple(shape):
        raise _fail(error, f"{field} must have shape {tuple(shape)}, got {arr.shape}", fix)
    if arr.dtype == np.bool_:
        return arr
    if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isin(arr, (0, 1))):
        raise _fail(error, f"{field} must be bool or 0/1, got dtype {arr.dtype}", fix)
    return arr.astype(bool)
