"""EELS core-loss rewards: background-subtracted edge intensity and the ratio of two edges.

The pre-edge background is the power law ``A * E**-r`` fitted by least squares to
``log(counts)`` against ``log(E)`` over the pre-edge window; it is extrapolated under the edge and
subtracted sample by sample, and the remainder is integrated trapezoidally over
``[edge_onset_eV, edge_onset_eV + integration_width_eV]`` (window ends interpolated, see
:mod:`rewards.windows`). Result: counts x eV (for counts per channel on a uniform axis, divide by
the channel width to get counts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._config import positive, units_arg
from ._repr import format_repr
from .errors import EmptySpectrum, InvalidRewardConfig, RewardError, WindowOutsideAxis
from .protocol import RewardBase, Window, integral_units
from .validation import ascending, check_spectrum
from .windows import clip_window, integrate_window, parse_window, window_mask

__all__ = ["EdgeIntensity", "EdgeRatio", "fit_power_law"]


def fit_power_law(energy_eV: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """Least-squares fit of ``counts = A * energy_eV**-r`` in log-log space.

    Args:
        energy_eV: (m,) float64, all > 0, m >= 2.
        counts: (m,) float64, all > 0.

    Returns:
        ``(A, r)``.
    """
    slope, intercept = np.polyfit(np.log(energy_eV), np.log(counts), 1)
    return float(np.exp(intercept)), float(-slope)


class EdgeIntensity(RewardBase):
    """Background-subtracted intensity of one core-loss edge: ``reward(spectrum (n,), axis) -> float``.

    Args:
        edge_onset_eV: edge onset energy (axis units); integration starts here.
        pre_edge_eV: ``[lo, hi]`` window below the onset for the power-law fit; ``lo > 0``,
            ``hi <= edge_onset_eV``; it must hold at least 3 samples with positive counts.
        integration_width_eV: width of the integration window above the onset.
        units: the axis units this reward expects (energies must be in these units).

    Returns (on call): counts x eV; may be negative if the background is over-estimated.

    Raises (on call):
        WindowOutsideAxis: fewer than 3 samples in the pre-edge window, or the integration window
            outside the axis. EmptySpectrum: a pre-edge sample with counts <= 0 (no power law).
    """

    def __init__(
        self,
        edge_onset_eV: float,
        pre_edge_eV: Sequence[float],
        integration_width_eV: float,
        units: str = "eV",
    ) -> None:
        owner = "EdgeIntensity"
        self.edge_onset_eV = positive(edge_onset_eV, "edge_onset_eV", owner)
        self.pre_edge_eV = parse_window(pre_edge_eV, "pre_edge_eV", owner)
        self.integration_width_eV = positive(integration_width_eV, "integration_width_eV", owner)
        self.units = units_arg(units, owner)
        if self.pre_edge_eV[0] <= 0:
            raise InvalidRewardConfig(
                f"{owner}.pre_edge_eV must start above 0 eV (log-log fit), got {list(self.pre_edge_eV)}"
            )
        if self.pre_edge_eV[1] > self.edge_onset_eV:
            raise InvalidRewardConfig(
                f"{owner}.pre_edge_eV={list(self.pre_edge_eV)} must end at or below edge_onset_eV="
                f"{self.edge_onset_eV:g}; the background fit must not include the edge"
            )

    @property
    def windows(self) -> tuple[Window, ...]:
        """The pre-edge fit window, then the integration window ``[onset, onset + width]``."""
        return (self.pre_edge_eV, (self.edge_onset_eV, self.edge_onset_eV + self.integration_width_eV))

    def value_units(self, axis_units: str, intensity_units: str) -> str:
        return integral_units(axis_units, intensity_units)

    def __call__(self, spectrum: np.ndarray, axis: Any) -> float:
        owner = "EdgeIntensity"
        x, y = ascending(*check_spectrum(spectrum, axis, self.units, owner), owner)
        lo, hi = clip_window(x, self.pre_edge_eV, "pre_edge_eV", owner, self.units)
        mask = window_mask(x, lo, hi)
        if int(mask.sum()) < 3:
            raise WindowOutsideAxis(
                f"{owner}.pre_edge_eV={list(self.pre_edge_eV)} holds {int(mask.sum())} sample(s); the "
                "power-law fit needs at least 3, widen it"
            )
        pre_x, pre_y = x[mask], y[mask]
        if not (pre_y > 0).all():
            raise EmptySpectrum(
                f"{owner}: {int((pre_y <= 0).sum())} pre-edge sample(s) have counts <= 0, so no power law "
                f"fits pre_edge_eV={list(self.pre_edge_eV)}; count longer or move the window"
            )
        amplitude, r = fit_power_law(pre_x, pre_y)
        window = (self.edge_onset_eV, self.edge_onset_eV + self.integration_width_eV)
        a, b = clip_window(x, window, "integration window [onset, onset + width]", owner, self.units)
        signal = y - amplitude * np.power(np.maximum(x, lo), -r)  # x < lo never enters [a, b]
        return integrate_window(x, signal, a, b)

    def __repr__(self) -> str:
        return format_repr(
            "EdgeIntensity",
            {
                "edge_onset_eV": self.edge_onset_eV,
                "pre_edge_eV": self.pre_edge_eV,
                "integration_width_eV": self.integration_width_eV,
                "units": self.units,
            },
        )


def _edge(value: Any, field: str, units: str) -> EdgeIntensity:
    if isinstance(value, EdgeIntensity):
        return value
    if not isinstance(value, Mapping):
        raise InvalidRewardConfig(
            f"EdgeRatio.{field} must be a mapping with edge_onset_eV, pre_edge_eV, integration_width_eV; "
            f"got {value!r}"
        )
    allowed = {"edge_onset_eV", "pre_edge_eV", "integration_width_eV"}
    extra = set(value) - allowed
    missing = allowed - set(value)
    if extra or missing:
        raise InvalidRewardConfig(
            f"EdgeRatio.{field}: unknown keys {sorted(extra)}, missing keys {sorted(missing)}; "
            f"give exactly {sorted(allowed)}"
        )
    return EdgeIntensity(value["edge_onset_eV"], value["pre_edge_eV"], value["integration_width_eV"], units)


class EdgeRatio(RewardBase):
    """Edge A / edge B, each an :class:`EdgeIntensity`: ``reward(spectrum (n,), axis) -> float``.

    Args:
        edge_a: ``{edge_onset_eV, pre_edge_eV, integration_width_eV}`` of the numerator edge (or an
            :class:`EdgeIntensity`).
        edge_b: the same for the denominator edge.
        units: the axis units both edges expect.

    Raises (on call):
        RewardError: edge B's intensity is <= 0.
    """

    def __init__(self, edge_a: Mapping[str, Any] | EdgeIntensity, edge_b: Mapping[str, Any] | EdgeIntensity,
                 units: str = "eV") -> None:
        self.units = units_arg(units, "EdgeRatio")
        self.edge_a = _edge(edge_a, "edge_a", self.units)
        self.edge_b = _edge(edge_b, "edge_b", self.units)

    @property
    def windows(self) -> tuple[Window, ...]:
        return self.edge_a.windows + self.edge_b.windows

    def value_units(self, axis_units: str, intensity_units: str) -> str:
        return "ratio"

    def __call__(self, spectrum: np.ndarray, axis: Any) -> float:
        a = self.edge_a(spectrum, axis)
        b = self.edge_b(spectrum, axis)
        if not b > 0:
            raise RewardError(
                f"EdgeRatio: edge B (onset {self.edge_b.edge_onset_eV:g} {self.units}) has intensity {b:.6g} "
                "<= 0 above its background; the ratio is undefined (count longer or check the edge)"
            )
        return float(a / b)

    def __repr__(self) -> str:
        return f"EdgeRatio(edge_a={self.edge_a!r}, edge_b={self.edge_b!r}, units={self.units!r})"
