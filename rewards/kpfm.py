"""KPFM reward: the contact potential difference from a frequency-shift vs bias parabola.

In nc-AFM Kelvin-probe spectroscopy the frequency shift follows ``df(V) = a (V - V0)**2 + c``; the
vertex ``V0`` is the local contact potential difference (volts). The fit is an ordinary
least-squares polynomial of degree 2 (on a centred, scaled bias for conditioning).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._config import positive, units_arg
from ._repr import format_repr
from .errors import RewardError, WindowOutsideAxis
from .protocol import RewardBase, Window
from .validation import check_spectrum
from .windows import parse_window, window_mask

__all__ = ["ContactPotential", "fit_parabola"]


def fit_parabola(bias_V: np.ndarray, df: np.ndarray) -> tuple[float, float, float]:
    """Least-squares ``df = a (V - V0)**2 + c``.

    Args:
        bias_V: (m,) float64, m >= 3, not all equal; any order.
        df: (m,) float64 frequency shift (any units).

    Returns:
        ``(a, V0, c)``; ``V0`` is ``nan`` when ``a == 0``.
    """
    centre = float(bias_V.mean())
    scale = float(np.ptp(bias_V)) / 2.0
    u = (bias_V - centre) / scale
    p2, p1, p0 = np.polyfit(u, df, 2)
    a = p2 / scale**2
    if p2 == 0.0:
        return 0.0, float("nan"), float(p0)
    u0 = -p1 / (2.0 * p2)
    return float(a), float(centre + scale * u0), float(p0 - p1**2 / (4.0 * p2))


class ContactPotential(RewardBase):
    """Vertex ``V0`` of ``df(V) = a (V - V0)**2 + c``: ``reward(df (n,), bias axis) -> float`` (V).

    Args:
        units: bias units expected on the axis.
        fit_window_V: ``[lo, hi]`` bias window to fit in (axis units), or ``None`` for every sample;
            at least 3 samples must fall in it.
        min_curvature: smallest accepted ``|a| * (span / 2)**2 / ptp(df)`` over the fitted samples (the
            parabola's rise over half the bias span, relative to the data's peak-to-peak); below it
            the curve is called flat (``a ~ 0``) and the vertex meaningless.

    Raises (on call):
        RewardError: ``a ~ 0`` (see ``min_curvature``), or the vertex lies outside the fitted bias
            range by more than that range. WindowOutsideAxis: fewer than 3 samples in the window.
    """

    def __init__(
        self, units: str = "V", fit_window_V: Sequence[float] | None = None, min_curvature: float = 0.01
    ) -> None:
        owner = "ContactPotential"
        self.units = units_arg(units, owner)
        self.fit_window_V = None if fit_window_V is None else parse_window(fit_window_V, "fit_window_V", owner)
        self.min_curvature = positive(min_curvature, "min_curvature", "ContactPotential", allow_zero=True)

    @property
    def windows(self) -> tuple[Window, ...]:
        return () if self.fit_window_V is None else (self.fit_window_V,)

    def value_units(self, axis_units: str, intensity_units: str) -> str:
        return axis_units

    def __call__(self, spectrum: np.ndarray, axis: Any) -> float:
        owner = "ContactPotential"
        v, df = check_spectrum(spectrum, axis, self.units, owner)
        if self.fit_window_V is not None:
            mask = window_mask(v, *self.fit_window_V)
            v, df = v[mask], df[mask]
        if v.size < 3 or not np.ptp(v) > 0:
            raise WindowOutsideAxis(
                f"{owner}: {v.size} sample(s) at distinct bias inside fit_window_V={self.fit_window_V}; the "
                "parabola needs at least 3, widen the window or check the axis units"
            )
        a, v0, _ = fit_parabola(v, df)
        lo, hi = float(v.min()), float(v.max())
        span = hi - lo
        spread = float(np.ptp(df))
        curvature = abs(a) * (span / 2.0) ** 2 / spread if spread > 0 else 0.0
        if not curvature > self.min_curvature or not np.isfinite(v0):
            raise RewardError(
                f"{owner}: df(V) is flat (relative curvature {curvature:.3g} <= min_curvature="
                f"{self.min_curvature:g}); no contact potential here (sweep a wider bias range)"
            )
        if v0 < lo - span or v0 > hi + span:
            raise RewardError(
                f"{owner}: the parabola's vertex {v0:.4g} {self.units} lies more than the bias range "
                f"[{lo:.4g}, {hi:.4g}] outside it; the sweep does not bracket the contact potential"
            )
        return float(v0)

    def __repr__(self) -> str:
        return format_repr(
            "ContactPotential",
            {"units": self.units, "fit_window_V": self.fit_window_V, "min_curvature": self.min_curvature},
        )
