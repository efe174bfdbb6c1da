"""4D-STEM reward: the centre-of-mass (CoM) shift of a diffraction pattern, in mrad.

The experiment loop carries 1-D spectra only, so a 4D-STEM pattern ``(ky, kx)`` arrives flattened
row-major to ``(ky * kx,)`` (see :mod:`drivers.fourd.patterns`). :class:`CoMShift` restores the
2-D pattern and returns its intensity-weighted centre of mass relative to a reference pixel, scaled
by the camera pitch:

    CoM_y = sum(I * iy) / sum(I) - c_y,   CoM_x = sum(I * ix) / sum(I) - c_x   (pixels)

times ``k_mrad_per_px``. The reference ``(c_y, c_x)`` defaults to the camera's geometric centre
``((ky - 1) / 2, (kx - 1) / 2)``, where the undeflected beam lands on the emulator's camera (on an
instrument, pass the vacuum pattern's CoM as ``centre_px``). In the phase-object approximation the
CoM shift is the beam deflection, proportional to the projected in-plane field (differential phase
contrast).

Where the calibration comes from (first that applies):

* pattern shape: the ``pattern_shape`` argument; else ``axis.pattern_shape`` (the emulator's
  :class:`drivers.fourd.PatternAxis` carries it); else a square ``sqrt(n) x sqrt(n)`` camera
  (:class:`WrongAxis` when ``n`` is not a perfect square);
* pitch: the ``k_mrad_per_px`` argument; else ``axis.k_mrad_per_px``; else :class:`WrongAxis`
  (there is no safe default for an angle).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._config import choice, positive, units_arg
from ._repr import format_repr
from .errors import EmptySpectrum, InvalidRewardConfig, WrongAxis
from .protocol import RewardBase
from .validation import check_spectrum

__all__ = ["CoMShift", "centre_of_mass_px", "COM_COMPONENTS"]

COM_COMPONENTS: tuple[str, ...] = ("magnitude", "y", "x")


def centre_of_mass_px(pattern: np.ndarray) -> tuple[float, float]:
    """Intensity-weighted centre of mass ``(cy, cx)`` in pixel indices of a ``(ky, kx)`` pattern.

    Raises:
        EmptySpectrum: the pattern's total intensity is not positive.
    """
    p = np.asarray(pattern, dtype=np.float64)
    total = float(p.sum())
    if not total > 0.0:
        raise EmptySpectrum(f"CoMShift: the pattern's total intensity is {total:.6g}; a centre of "
                            "mass needs a positive total (is the beam blanked or the camera dark?)")
    cy = float(p.sum(axis=1) @ np.arange(p.shape[0], dtype=np.float64)) / total
    cx = float(p.sum(axis=0) @ np.arange(p.shape[1], dtype=np.float64)) / total
    return cy, cx


def _shape_arg(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        items = list(value)
    except TypeError:
        items = []
    if (len(items) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer))
                               for v in items) or min(items) < 1):
        raise InvalidRewardConfig(f"CoMShift.pattern_shape must be null or [ky, kx] (two positive "
                                  f"integers), got {value!r}")
    return int(items[0]), int(items[1])


def _centre_arg(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        items = [float(v) for v in value]
    except (TypeError, ValueError):
        items = []
    if len(items) != 2 or not all(math.isfinite(v) for v in items):
        raise InvalidRewardConfig(f"CoMShift.centre_px must be null or [cy, cx] (two finite "
                                  f"numbers, pixel indices), got {value!r}")
    return items[0], items[1]


class CoMShift(RewardBase):
    """Centre-of-mass shift of a flattened diffraction pattern: ``reward(pattern (n,), axis) ->
    float`` (mrad). See the module docstring for the formula and the calibration lookup.

    Args:
        component: ``"magnitude"`` (``hypot(CoM_y, CoM_x)``, >= 0), ``"y"`` or ``"x"`` (signed).
        pattern_shape: ``[ky, kx]`` of the flattened pattern, or ``None`` (from the axis, else a
            square camera).
        k_mrad_per_px: camera pitch (mrad per pixel), or ``None`` (from the axis).
        centre_px: reference ``[cy, cx]`` in pixel indices (may be fractional), or ``None`` (the
            camera centre).
        units: units expected on the flattened pattern's axis (the emulator's is ``"px"``).

    Raises (on call): WrongAxis (shape does not match the data, no pitch), EmptySpectrum (total
    intensity not positive, NaN / infinite values).
    """

    def __init__(
        self,
        component: str = "magnitude",
        pattern_shape: Sequence[int] | None = None,
        k_mrad_per_px: float | None = None,
        centre_px: Sequence[float] | None = None,
        units: str = "px",
    ) -> None:
        self.component = choice(component, COM_COMPONENTS, "component", "CoMShift")
        self.pattern_shape = _shape_arg(pattern_shape)
        self.k_mrad_per_px = (None if k_mrad_per_px is None
                              else positive(k_mrad_per_px, "k_mrad_per_px", "CoMShift"))
        self.centre_px = _centre_arg(centre_px)
        self.units = units_arg(units, "CoMShift")

    def value_units(self, axis_units: str, intensity_units: str) -> str:
        return "mrad"

    def _shape(self, n: int, axis: Any) -> tuple[int, int]:
        shape = self.pattern_shape
        source = "pattern_shape"
        if shape is None and getattr(axis, "pattern_shape", None) is not None:
            ky, kx = (int(v) for v in axis.pattern_shape)
            shape, source = (ky, kx), "axis.pattern_shape"
        if shape is None:
            side = math.isqrt(n)
            if side * side != n:
                raise WrongAxis(f"CoMShift: {n} values are not a square camera and neither "
                                "pattern_shape nor axis.pattern_shape says the shape; set "
                                "pattern_shape=[ky, kx]")
            return side, side
        if shape[0] * shape[1] != n:
            raise WrongAxis(f"CoMShift: {source}={list(shape)} holds {shape[0] * shape[1]} pixels "
                            f"but the pattern has {n}; pass the matching pattern_shape")
        return shape[0], shape[1]

    def _pitch(self, axis: Any) -> float:
        if self.k_mrad_per_px is not None:
            return self.k_mrad_per_px
        pitch = getattr(axis, "k_mrad_per_px", None)
        if pitch is None or not math.isfinite(float(pitch)) or not float(pitch) > 0:
            raise WrongAxis("CoMShift: the axis carries no k_mrad_per_px calibration; set "
                            "k_mrad_per_px (mrad per camera pixel) in the reward's config")
        return float(pitch)

    def shift_mrad(self, spectrum: np.ndarray, axis: Any) -> tuple[float, float]:
        """``(CoM_y, CoM_x)`` in mrad of the flattened pattern (both components)."""
        _, flat = check_spectrum(spectrum, axis, self.units, "CoMShift")
        ky, kx = self._shape(flat.size, axis)
        pitch = self._pitch(axis)
        cy, cx = centre_of_mass_px(flat.reshape(ky, kx))
        ry, rx = self.centre_px if self.centre_px is not None else (0.5 * (ky - 1), 0.5 * (kx - 1))
        return (cy - ry) * pitch, (cx - rx) * pitch

    def __call__(self, spectrum: np.ndarray, axis: Any) -> float:
        dy, dx = self.shift_mrad(spectrum, axis)
        if self.component == "y":
            return float(dy)
        if self.component == "x":
            return float(dx)
        return float(math.hypot(dy, dx))

    def __repr__(self) -> str:
        return format_repr("CoMShift", {
            "component": self.component, "pattern_shape": self.pattern_shape,
            "k_mrad_per_px": self.k_mrad_per_px, "centre_px": self.centre_px, "units": self.units,
        })
