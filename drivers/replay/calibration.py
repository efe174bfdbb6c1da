"""Spatial calibration of a recorded grid: unit conversion, pixel-centre axes, nearest-pixel lookup.

Conventions (shared with :mod:`agent.candidates`):

* the value of pixel ``i`` is its centre, ``offset + i * scale``, and the field is centred on 0, so
  ``offset = -(n - 1) / 2 * scale``; the field spans ``[-n * scale / 2, n * scale / 2]``;
* pixel ``i`` covers the fraction ``[i / n, (i + 1) / n)`` of the frame (the last pixel also owns
  the closing edge ``1.0``);
* an uncalibrated recording uses units ``"px"`` with scale 1.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InvalidArgument
from ..frames import Axis

__all__ = [
    "LENGTH_UNITS_M",
    "UNCALIBRATED_UNITS",
    "metres_per_unit",
    "spatial_axes",
    "pixel_from_frac",
    "frac_from_value",
]

#: Length unit spelling -> metres per unit.
LENGTH_UNITS_M: dict[str, float] = {
    "m": 1.0,
    "mm": 1e-3,
    "um": 1e-6,
    "µm": 1e-6,  # U+00B5 micro sign
    "μm": 1e-6,  # U+03BC Greek small mu
    "micron": 1e-6,
    "microns": 1e-6,
    "nm": 1e-9,
    "å": 1e-10,
    "Å": 1e-10,
    "angstrom": 1e-10,
    "pm": 1e-12,
}

#: Unit strings that mean "no spatial calibration" (the axis is then in pixels).
UNCALIBRATED_UNITS = frozenset({"", "px", "pixel", "pixels", "<undefined>", "none", "undefined"})


def metres_per_unit(units: str) -> float | None:
    """Metres per one ``units`` (``"nm"`` -> 1e-9); ``None`` where the string means pixels.

    Raises:
        ValueError: the units are not a length (e.g. ``"1/nm"``); the caller names the field.
    """
    key = units.strip()
    if key.lower() in UNCALIBRATED_UNITS:
        return None
    if key in LENGTH_UNITS_M:
        return LENGTH_UNITS_M[key]
    if key.lower() in LENGTH_UNITS_M:
        return LENGTH_UNITS_M[key.lower()]
    raise ValueError(
        f"spatial units {units!r} are not a length; known: {sorted(set(LENGTH_UNITS_M))} "
        f"or {sorted(UNCALIBRATED_UNITS - {''})} for uncalibrated"
    )


def spatial_axes(shape_px: tuple[int, int], pixel_size_m: tuple[float, float] | None) -> tuple[Axis, Axis]:
    """The ``(y, x)`` axes of a ``shape_px = (ny, nx)`` grid, centred on 0, values at pixel centres.

    Args:
        shape_px: (ny, nx) pixels.
        pixel_size_m: (dy, dx) pixel pitch in metres, or ``None`` for an uncalibrated grid (units
            ``"px"``, scale 1).
    """
    ny, nx = int(shape_px[0]), int(shape_px[1])
    if pixel_size_m is None:
        units, (sy, sx) = "px", (1.0, 1.0)
    else:
        units, (sy, sx) = "m", (float(pixel_size_m[0]), float(pixel_size_m[1]))
    ay = Axis.uniform("y", units, -(ny - 1) / 2.0 * sy, sy, ny)
    ax = Axis.uniform("x", units, -(nx - 1) / 2.0 * sx, sx, nx)
    return ay, ax


def pixel_from_frac(frac: np.ndarray, n: int, field: str) -> np.ndarray:
    """Nearest pixel of fractions of a frame axis with ``n`` pixels.

    Args:
        frac: (...) float64 fractions in ``[0, 1]``; pixel ``i`` owns ``[i / n, (i + 1) / n)`` and
            ``1.0`` belongs to pixel ``n - 1``.
        n: number of pixels along the axis.
        field: argument name used in the error message.

    Returns:
        (...) int64 pixel indices.

    Raises:
        InvalidArgument: a fraction is NaN or outside ``[0, 1]`` (never clamped).
    """
    frac = np.asarray(frac, dtype=np.float64)
    bad = ~np.isfinite(frac) | (frac < 0.0) | (frac > 1.0)
    if np.any(bad):
        raise InvalidArgument(
            f"{field}={frac[bad].tolist()} is outside the recorded frame; fractions must lie in [0, 1]"
        )
    return np.minimum(np.floor(frac * n).astype(np.int64), n - 1)


def frac_from_value(value: np.ndarray, axis: Axis, pitch: float, field: str) -> np.ndarray:
    """Fraction of the frame of calibrated positions ``value`` (same units as ``axis``).

    Args:
        value: (...) float64 positions (metres, or pixels for an uncalibrated frame).
        axis: the frame axis (pixel centres, see :func:`spatial_axes`).
        pitch: its pixel pitch (> 0), in the axis units.
        field: argument name used in the error message.

    A position within 1e-9 of a pixel pitch outside the field edge (floating-point round-off) is
    taken as the edge; anything further out raises :class:`InvalidArgument`.
    """
    value = np.asarray(value, dtype=np.float64)
    n, scale = axis.size, float(pitch)
    if not math.isfinite(scale) or scale <= 0:
        raise InvalidArgument(f"{field}: axis {axis.name!r} has no usable pitch ({scale})")
    lo = axis.values[0] - scale / 2.0
    with np.errstate(invalid="ignore"):
        frac = (value - lo) / (n * scale)
        tol = 1e-9 / n
        edge_lo = (frac < 0.0) & (frac > -tol)
        edge_hi = (frac > 1.0) & (frac < 1.0 + tol)
    frac = np.where(edge_lo, 0.0, np.where(edge_hi, 1.0, frac))
    bad = ~np.isfinite(frac) | (frac < 0.0) | (frac > 1.0)
    if np.any(bad):
        half = n * scale / 2.0
        raise InvalidArgument(
            f"{field}={value[bad].tolist()} {axis.units} is outside the recorded field along "
            f"{axis.name} ([{-half:.6g}, {half:.6g}] {axis.units}, centred on 0)"
        )
    return frac
