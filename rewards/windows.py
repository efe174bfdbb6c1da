"""Windows on a spectral axis and integration over them.

Conventions (shared by every reward in this package)
----------------------------------------------------
* A window is an inclusive ``[lo, hi]`` interval of axis *values* (eV, keV, V), not of channel
  indices; ``lo < hi``.
* A window that does not overlap the axis raises :class:`WindowOutsideAxis`; a window that overlaps
  it only in part is clipped to the axis range (the clipped interval is what gets integrated).
* Integration is trapezoidal over the actual axis values: the spectrum is taken as the
  piecewise-linear curve through its samples and integrated exactly from ``lo`` to ``hi``, with the
  values at ``lo`` and ``hi`` linearly interpolated. This handles non-uniform and (after
  :func:`rewards.validation.ascending`) descending axes, and it moves continuously with the window.
  The result is in spectrum units x axis units (counts x eV): a spectrum of counts per channel on a
  uniform axis integrates to (counts in the window) x (channel width), so ratios of two windows are
  ratios of counts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InvalidRewardConfig, WindowOutsideAxis

__all__ = ["parse_window", "clip_window", "integrate_window", "value_at", "window_mask"]


def parse_window(value: Any, field: str, owner: str = "reward") -> tuple[float, float]:
    """Turn a config value (list, tuple, Hydra ListConfig) into a ``(lo, hi)`` pair of floats.

    Raises:
        InvalidRewardConfig: not two finite numbers with ``lo < hi``.
    """
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise InvalidRewardConfig(
            f"{owner}.{field} must be a list [lo, hi] of two numbers in axis units, got {value!r}"
        )
    items = list(value)
    if len(items) != 2:
        raise InvalidRewardConfig(
            f"{owner}.{field} must hold exactly two numbers [lo, hi], got {len(items)}: {items!r}"
        )
    try:
        lo, hi = float(items[0]), float(items[1])
    except (TypeError, ValueError) as exc:
        raise InvalidRewardConfig(f"{owner}.{field} must hold numbers, got {items!r}") from exc
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise InvalidRewardConfig(f"{owner}.{field} must be finite, got [{lo}, {hi}]")
    if not lo < hi:
        raise InvalidRewardConfig(
            f"{owner}.{field} must satisfy lo < hi, got [{lo}, {hi}]; write the smaller value first"
        )
    return lo, hi


def clip_window(
    x: np.ndarray, window: tuple[float, float], field: str, owner: str = "reward", units: str = ""
) -> tuple[float, float]:
    """Clip ``window`` to the range of the increasing axis ``x`` ((n,) float64).

    Raises:
        WindowOutsideAxis: the window and the axis range share no interval of positive length.
    """
    lo, hi = window
    a, b = float(x[0]), float(x[-1])
    clo, chi = max(lo, a), min(hi, b)
    if not chi > clo:
        u = f" {units}" if units else ""
        raise WindowOutsideAxis(
            f"{owner}.{field}=[{lo:g}, {hi:g}]{u} does not overlap the axis range "
            f"[{a:g}, {b:g}]{u}; move the window inside the axis or check the units"
        )
    return clo, chi


def value_at(x: np.ndarray, y: np.ndarray, v: float) -> float:
    """Spectrum linearly interpolated at axis value ``v`` (``x`` increasing, (n,) float64)."""
    return float(np.interp(v, x, y))


def window_mask(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """(n,) bool: samples whose axis value lies in the inclusive window ``[lo, hi]``."""
    return (x >= lo) & (x <= hi)


def integrate_window(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Exact integral of the piecewise-linear spectrum over ``[lo, hi]``.

    Args:
        x: (n,) float64 strictly increasing axis values; ``[lo, hi]`` must lie within its range
            (use :func:`clip_window` first).
        y: (n,) float64 spectrum.

    Returns:
        The integral in spectrum units x axis units.
    """
    inside = (x > lo) & (x < hi)
    xs = np.concatenate(([lo], x[inside], [hi]))
    ys = np.concatenate(([value_at(x, y, lo)], y[inside], [value_at(x, y, hi)]))
    return float(np.trapezoid(ys, xs))
