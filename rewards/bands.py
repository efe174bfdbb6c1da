"""Band rewards on a spectral axis (EELS low loss, plasmons): intensity, ratio, peak position.

All three integrate or search inside inclusive windows of axis values (see :mod:`rewards.windows`
for the conventions: trapezoidal integration of the piecewise-linear spectrum over exactly
``[lo, hi]``; non-uniform and descending axes accepted; a window that only partly overlaps the axis
is clipped to it). Windows and ``units`` are in the axis units, ``"eV"`` by default.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._config import choice, positive, units_arg
from ._repr import format_repr
from .errors import EmptySpectrum, RewardError, WindowOutsideAxis
from .protocol import RewardBase, Window, integral_units
from .validation import ascending, check_spectrum
from .windows import clip_window, integrate_window, parse_window, value_at, window_mask

__all__ = ["BandIntensity", "PeakRatio", "PeakPosition", "band_integral"]

_BACKGROUNDS = ("none", "linear")


def band_integral(
    x: np.ndarray,
    y: np.ndarray,
    window: tuple[float, float],
    background: str,
    field: str,
    owner: str,
    units: str = "",
) -> float:
    """Integral of ``y`` over ``window`` (clipped to the axis), optionally minus a linear background.

    Args:
        x: (n,) float64 strictly increasing axis values.
        y: (n,) float64 spectrum.
        window: ``(lo, hi)`` in axis units.
        background: ``"none"``, or ``"linear"``: subtract the straight line through the spectrum's
            (interpolated) values at the two ends of the clipped window.
        field, owner, units: for error messages.

    Returns:
        Spectrum units x axis units; may be negative with ``background="linear"``.
    """
    lo, hi = clip_window(x, window, field, owner, units)
    total = integrate_window(x, y, lo, hi)
    if background == "linear":
        total -= 0.5 * (hi - lo) * (value_at(x, y, lo) + value_at(x, y, hi))
    return float(total)


class BandIntensity(RewardBase):
    """Integrated intensity in one window: ``reward(spectrum (n,), axis) -> float``.

    Args:
        window_eV: ``[lo, hi]`` inclusive, in the axis units (eV unless ``units`` says otherwise).
        background: ``"none"`` or ``"linear"`` (line through the window's two end values removed).
        units: the axis units this reward expects.

    Returns (on call): spectrum units x axis units (e.g. counts x eV).
    """

    def __init__(self, window_eV: Sequence[float], background: str = "none", units: str = "eV") -> None:
        self.window_eV = parse_window(window_eV, "window_eV", "BandIntensity")
        self.background = choice(background, _BACKGROUNDS, "background", "BandIntensity")
        self.units = units_arg(units, "BandIntensity")

    @property
    def windows(self) -> tuple[Window, ...]:
        return (self.window_eV,)

    def value_units(self, axis_units: str, intensity_units: str) -> str:
        return integral_units(axis_units, intensity_units)

    def __call__(self, spectrum: np.ndarray, axis: Any) -> float:
        x, y = ascending(*check_spectrum(spectrum, axis, self.units, "BandIntensity"), "BandIntensity")
        return band_integral(x, y, self.window_eV, self.background, "window_eV", "BandIntensity", self.units)

    def __repr__(self) -> str:
        return format_repr(
            "BandIntensity", {"window_eV": self.window_eV, "background": self.background, "units": self.units}
        )


class PeakRatio(RewardBase):
    """Band A / band B: ``reward(spectrum (n,), axis) -> float`` (dimensionless).

    Args:
        window_a: ``[lo, hi]`` of the numerator band, axis units.
        window_b: ``[lo, hi]`` of the denominator band, axis units.
        background: ``"none"`` or ``"linear"``, applied to both bands as in :class:`BandIntensity`.
        units: the axis units this reward expects.

    Raises (on call):
        RewardError: band B integrates to <= 0 (the ratio would be meaningless or infinite).
    """

    def __init__(
        self,
        window_a: Sequence[float],
        window_b: Sequence[float],
        background: str = "none",
        units: str = "eV",
    ) -> None:
        self.window_a = parse_window(window_a, "window_a", "PeakRatio")
        self.window_b = parse_window(window_b, "window_b", "PeakRatio")
        self.background = choice(background, _BACKGROUNDS, "background", "PeakRatio")
        self.units = units_arg(units, "PeakRatio")

    @property
    def windows(self) -> tuple[Window, ...]:
        return (self.window_a, self.window_b)

    def value_units(self, axis_units: str, intensity_units: str) -> str:
        return "ratio"

    def __call__(self, spectrum: np.ndarray, axis: Any) -> float:
        x, y = ascending(*check_spectrum(spectrum, axis, self.units, "PeakRatio"), "PeakRatio")
        a = band_integral(x, y, self.window_a, self.background, "window_a", "PeakRatio", self.units)
        b = band_integral(x, y, self.window_b, self.background, "window_b", "PeakRatio", self.units)
        if not b > 0:
            raise RewardError(
                f"PeakRatio: band B (window_b=[{self.window_b[0]:g}, {self.window_b[1]:g}] {self.units}) "
                f"integrates to {b:.6g} <= 0, so A/B is undefined; move window_b onto a band with signal "
                "or use background='none'"
            )
        return float(a / b)

    def __repr__(self) -> str:
        return format_repr(
            "PeakRatio",
            {
                "window_a": self.window_a,
                "window_b": self.window_b,
                "background": self.background,
                "units": self.units,
            },
        )


def _parabola_vertex(x0: float, x1: float, x2: float, y0: float, y1: float, y2: float) -> float:
    """Abscissa of the vertex of the parabola through three points (any spacing)."""
    num = (x1 - x0) ** 2 * (y1 - y2) - (x1 - x2) ** 2 * (y1 - y0)
    den = (x1 - x0) * (y1 - y2) - (x1 - x2) * (y1 - y0)
    if den == 0.0:
        return float(x1)
    return float(x1 - 0.5 * num / den)


class PeakPosition(RewardBase):
    """Axis value of the peak inside a window: ``reward(spectrum (n,), axis) -> float`` (axis units).

    Args:
        window: ``[lo, hi]`` inclusive, axis units; it must hold at least 3 samples.
        units: the axis units this reward expects.
        method: how the sub-channel position is found, all relative to the window's samples:

            * ``"centroid"``: centroid of ``spectrum - half`` over the contiguous region around the
              maximum where the spectrum is above ``half = base + (max - base) / 2`` (``base`` = the
              window minimum); the region ends at the linearly interpolated half-maximum crossings
              (or at the window edge). Robust to noise; exact for a symmetric peak.
            * ``"max"``: vertex of the parabola through the maximum sample and its two neighbours.
            * ``"gauss"``: vertex of a least-squares parabola through ``log(spectrum)`` over the
              samples above half maximum (at least the maximum and its neighbours); exact for a
              Gaussian on zero background; needs positive counts there.

        min_snr: for spectra in counts: the maximum must stand this many Poisson standard
            deviations (``sqrt(counts)``) above the straight line through the window's two end
            values, or there is no peak to locate (``RewardError``: a failed measurement); without it a noise bump on a
            falling background (the zero-loss tail away from any particle) gives a position at
            the window edge. ``None``: no such check.

    Raises (on call):
        RewardError: the maximum sits on the first or last sample of the window (the peak is not
            inside it) or stands less than ``min_snr`` above the background; EmptySpectrum: the
            window is flat, or ``"gauss"`` meets non-positive counts.
    """

    def __init__(self, window: Sequence[float], units: str = "eV", method: str = "centroid",
                 min_snr: float | None = None) -> None:
        self.window = parse_window(window, "window", "PeakPosition")
        self.units = units_arg(units, "PeakPosition")
        self.method = choice(method, ("centroid", "max", "gauss"), "method", "PeakPosition")
        self.min_snr = None if min_snr is None else positive(min_snr, "min_snr", "PeakPosition", allow_zero=True)

    @property
    def windows(self) -> tuple[Window, ...]:
        return (self.window,)

    def value_units(self, axis_units: str, intensity_units: str) -> str:
        return axis_units

    def __call__(self, spectrum: np.ndarray, axis: Any) -> float:
        owner = "PeakPosition"
        x, y = ascending(*check_spectrum(spectrum, axis, self.units, owner), owner)
        lo, hi = clip_window(x, self.window, "window", owner, self.units)
        mask = window_mask(x, lo, hi)
        xs, ys = x[mask], y[mask]
        if xs.size < 3:
            raise WindowOutsideAxis(
                f"{owner}.window=[{self.window[0]:g}, {self.window[1]:g}] {self.units} holds only "
                f"{xs.size} sample(s) of the axis; widen it to at least 3 channels"
            )
        i = int(np.argmax(ys))
        base, peak = float(ys.min()), float(ys[i])
        if not peak > base:
            raise EmptySpectrum(f"{owner}: the spectrum is flat inside the window; there is no peak to locate")
        if i == 0 or i == xs.size - 1:
            raise RewardError(
                f"{owner}: the maximum lies on the window edge at {xs[i]:g} {self.units}, so the peak is "
                f"not inside window=[{self.window[0]:g}, {self.window[1]:g}]; widen or move the window"
            )
        if self.min_snr is not None:
            chord = ys[0] + (ys[-1] - ys[0]) * (xs[i] - xs[0]) / (xs[-1] - xs[0])
            height, sigma = peak - float(chord), math.sqrt(max(peak, 1.0))
            if height < self.min_snr * sigma:  # this spectrum has no peak (not: the window is empty)
                raise RewardError(
                    f"{owner}: no peak inside window=[{self.window[0]:g}, {self.window[1]:g}] {self.units}: "
                    f"the maximum at {xs[i]:g} stands {height / sigma:.2f} Poisson sigmas above the "
                    f"background line, below min_snr={self.min_snr:g}"
                )
        if self.method == "max":
            return _parabola_vertex(xs[i - 1], xs[i], xs[i + 1], ys[i - 1], ys[i], ys[i + 1])
        half = base + 0.5 * (peak - base)
        left = i
        while left > 0 and ys[left - 1] >= half:
            left -= 1
        right = i
        while right < xs.size - 1 and ys[right + 1] >= half:
            right += 1
        if self.method == "gauss":
            return self._gauss(xs, ys, i, left, right)
        return self._centroid(xs, ys, half, left, right)

    @staticmethod
    def _centroid(xs: np.ndarray, ys: np.ndarray, half: float, left: int, right: int) -> float:
        px = list(xs[left : right + 1])
        pw = list(ys[left : right + 1] - half)
        if left > 0:  # interpolated half-maximum crossing on the left
            x0, x1, y0, y1 = xs[left - 1], xs[left], ys[left - 1], ys[left]
            px.insert(0, x0 + (half - y0) * (x1 - x0) / (y1 - y0))
            pw.insert(0, 0.0)
        if right < xs.size - 1:
            x0, x1, y0, y1 = xs[right], xs[right + 1], ys[right], ys[right + 1]
            px.append(x0 + (half - y0) * (x1 - x0) / (y1 - y0))
            pw.append(0.0)
        px_a, pw_a = np.asarray(px), np.asarray(pw)
        h = np.diff(px_a)
        mass = float(np.sum(0.5 * h * (pw_a[:-1] + pw_a[1:])))
        # exact integral of x * w(x) for w linear on each segment
        x0, x1, w0, w1 = px_a[:-1], px_a[1:], pw_a[:-1], pw_a[1:]
        moment = float(np.sum(h / 6.0 * (x0 * (2 * w0 + w1) + x1 * (w0 + 2 * w1))))
        if not mass > 0:
            return float(xs[int(np.argmax(ys))])
        return moment / mass

    def _gauss(self, xs: np.ndarray, ys: np.ndarray, i: int, left: int, right: int) -> float:
        lo_i, hi_i = min(left, i - 1), max(right, i + 1)
        px, py = xs[lo_i : hi_i + 1], ys[lo_i : hi_i + 1]
        if not (py > 0).all():
            raise EmptySpectrum(
                "PeakPosition(method='gauss'): non-positive counts around the maximum; log-parabola fit "
                "impossible; use method='centroid' or subtract less background"
            )
        if px.size == 3:
            return _parabola_vertex(px[0], px[1], px[2], *np.log(py))
        centre, scale = float(px.mean()), float(np.ptp(px))
        a, b, _ = np.polyfit((px - centre) / scale, np.log(py), 2)
        if not a < 0:
            return _parabola_vertex(xs[i - 1], xs[i], xs[i + 1], *np.log(ys[i - 1 : i + 2]))
        return float(centre - scale * b / (2.0 * a))

    def __repr__(self) -> str:
        params: dict[str, object] = {"window": self.window, "units": self.units, "method": self.method}
        if self.min_snr is not None:
            params["min_snr"] = self.min_snr
        return format_repr("PeakPosition", params)
