"""EDS reward: net X-ray line intensities and an element fraction.

Line energies come from exspy's maintained element database (``exspy.material.elements``, e.g.
``elements.Fe.Atomic_properties.Xray_lines.Ka`` -> ``energy (keV)`` 6.4039); nothing is typed in
here. exspy (the ``replay`` extra) is imported when an :class:`ElementFraction` is built, not when
:mod:`rewards` is imported.

Net line intensity
------------------
For a line at energy ``E`` (keV) the line window is ``[E - w/2, E + w/2]``. Its width ``w`` is either
fixed (``width_keV``) or ``width_fwhm`` times the detector FWHM at ``E``, from the Fiori & Newbury
(1978) relation ``FWHM(E)^2 = FWHM(Mn Ka)^2 + 2.5 eV x (E - E(Mn Ka))`` (``resolution_MnKa_eV``
sets the detector; ``E(Mn Ka)`` is read from the database). With ``background="linear"`` two side
windows of width ``side_width x w`` sit ``side_gap x w`` outside each edge of the line window; the
straight line through their mean levels (at their centres) is integrated under the line window and
subtracted. A side window clipped away by the axis end is dropped (one side left: a constant
level). Integration follows :mod:`rewards.windows` (trapezoidal, exact window ends); the integral
is divided by the local channel width to give counts. Negative net counts are clipped to 0.

Known limitation: a side window can fall on a neighbouring line (e.g. Mg Ka / Al Ka / Si Ka, or a
K-beta line): narrow ``width_fwhm`` / ``side_width`` or pick explicit lines if that happens.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._config import choice, positive, units_arg
from ._repr import format_repr
from .errors import EmptySpectrum, InvalidRewardConfig, WindowOutsideAxis
from .protocol import RewardBase, Window
from .validation import ascending, check_spectrum
from .windows import clip_window, integrate_window

__all__ = ["ElementFraction", "xray_line_energy_keV", "detector_fwhm_keV"]

_FAMILIES = {"K": "Ka", "L": "La", "M": "Ma"}
_SYMBOL = re.compile(r"^[A-Z][a-z]?$")
_LINE = re.compile(r"^([A-Z][a-z]?)_([A-Za-z0-9]+)$")
_FANO_SLOPE_EV = 2.5  # Fiori & Newbury: FWHM^2 grows by 2.5 eV per eV of X-ray energy


def _elements() -> Any:
    try:
        from exspy.material import elements
    except ImportError as exc:  # pragma: no cover - exspy is installed with the replay extra
        raise InvalidRewardConfig(
            "ElementFraction needs exspy's element database; install the replay extra "
            "(pip install 'autoscope[replay]')"
        ) from exc
    return elements


def xray_line_energy_keV(element: str, line: str) -> float:
    """Energy (keV) of X-ray line ``line`` (e.g. ``"Ka"``) of ``element`` (e.g. ``"Fe"``), from exspy.

    Raises:
        InvalidRewardConfig: unknown element symbol, or the database has no such line for it.
    """
    if not isinstance(element, str) or not _SYMBOL.match(element):
        raise InvalidRewardConfig(f"element {element!r} is not a chemical symbol such as 'Fe'")
    db = _elements()
    if not db.has_item(f"{element}.Atomic_properties.Xray_lines"):
        raise InvalidRewardConfig(f"element {element!r} has no X-ray lines in exspy's database; check the symbol")
    path = f"{element}.Atomic_properties.Xray_lines.{line}"
    if not db.has_item(path):
        known = sorted(db.get_item(f"{element}.Atomic_properties.Xray_lines").keys())
        raise InvalidRewardConfig(f"line {element}_{line} is not in exspy's database; {element} has {known}")
    return float(db.get_item(f"{path}.energy (keV)"))


def detector_fwhm_keV(energy_keV: float, resolution_MnKa_eV: float = 130.0) -> float:
    """Detector FWHM (keV) at ``energy_keV`` for a detector of ``resolution_MnKa_eV`` at Mn Ka."""
    e_mn_eV = 1000.0 * xray_line_energy_keV("Mn", "Ka")
    fwhm_sq = resolution_MnKa_eV**2 + _FANO_SLOPE_EV * (1000.0 * energy_keV - e_mn_eV)
    if fwhm_sq <= 0:
        raise InvalidRewardConfig(
            f"detector FWHM undefined at {energy_keV:g} keV for resolution_MnKa_eV={resolution_MnKa_eV:g}; "
            "raise resolution_MnKa_eV or give width_keV"
        )
    return math.sqrt(fwhm_sq) / 1000.0


def _as_list(value: Any, field: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    try:
        items = [str(v) for v in value]
    except TypeError as exc:
        raise InvalidRewardConfig(f"ElementFraction.{field} must be a list of strings, got {value!r}") from exc
    return items


class ElementFraction(RewardBase):
    """Net line counts of the numerator elements over those of the denominator elements.

    ``reward(spectrum (n,) counts per channel, axis in keV) -> float`` (dimensionless; in [0, 1]
    when every numerator element is also in the denominator).

    Args:
        numerator: element symbols summed on top, e.g. ``["Fe"]``.
        denominator: element symbols summed below, e.g. ``["Fe", "Mg", "Si"]``.
        lines: which line each element uses: a family ``"K"`` / ``"L"`` / ``"M"`` (its alpha line:
            Ka, La, Ma) for every element, and/or explicit lines ``"Fe_Ka"``; a list may mix one
            family (the default for the rest) with explicit lines, e.g. ``["L", "Ti_Ka"]``.
        width_keV: fixed line-window width in keV; ``None`` uses ``width_fwhm`` x detector FWHM.
        width_fwhm: line-window width in detector FWHMs (when ``width_keV`` is ``None``).
        resolution_MnKa_eV: detector FWHM at Mn Ka in eV (about 125-140 for SDDs).
        background: ``"linear"`` (side windows) or ``"none"``.
        side_gap: gap between the line window and each side window, in line-window widths.
        side_width: width of each side window, in line-window widths.
        units: the axis units this reward expects.

    Raises:
        InvalidRewardConfig (construction): unknown element or line, empty element list, a
            numerator/denominator element without a line.
        WindowOutsideAxis (call): a line window outside the axis, or no side window inside it.
        EmptySpectrum (call): the denominator's net counts are 0.
    """

    def __init__(
        self,
        numerator: Sequence[str] = ("Fe",),
        denominator: Sequence[str] = ("Fe", "Mg", "Si"),
        lines: str | Sequence[str] = "K",
        width_keV: float | None = None,
        width_fwhm: float = 2.0,
        resolution_MnKa_eV: float = 130.0,
        background: str = "linear",
        side_gap: float = 0.5,
        side_width: float = 0.5,
        units: str = "keV",
    ) -> None:
        owner = "ElementFraction"
        self.numerator = _as_list(numerator, "numerator")
        self.denominator = _as_list(denominator, "denominator")
        if not self.numerator or not self.denominator:
            raise InvalidRewardConfig(f"{owner}: numerator and denominator must each name at least one element")
        self.lines = _as_list(lines, "lines")
        self.width_keV = None if width_keV is None else positive(width_keV, "width_keV", owner)
        self.width_fwhm = positive(width_fwhm, "width_fwhm", owner)
        self.resolution_MnKa_eV = positive(resolution_MnKa_eV, "resolution_MnKa_eV", owner)
        self.background = choice(background, ("linear", "none"), "background", owner)
        self.side_gap = positive(side_gap, "side_gap", owner, allow_zero=True)
        self.side_width = positive(side_width, "side_width", owner)
        self.units = units_arg(units, owner)

        family: str | None = None
        explicit: dict[str, str] = {}
        for item in self.lines:
            if item in _FAMILIES:
                if family is not None and family != item:
                    raise InvalidRewardConfig(f"{owner}.lines names two families ({family}, {item}); keep one")
                family = item
                continue
            match = _LINE.match(item)
            if match is None:
                raise InvalidRewardConfig(
                    f"{owner}.lines entry {item!r} is neither a family ('K', 'L', 'M') nor a line like 'Fe_Ka'"
                )
            explicit[match.group(1)] = match.group(2)
        # resolve every element once: (line name, energy keV, window width keV)
        self._lines: dict[str, tuple[str, float, float]] = {}
        for element in dict.fromkeys(self.numerator + self.denominator):
            if element in explicit:
                line = explicit[element]
            elif family is not None:
                line = _FAMILIES[family]
            else:
                raise InvalidRewardConfig(
                    f"{owner}: element {element!r} has no line in lines={self.lines}; add '{element}_Ka' "
                    "(or a family 'K')"
                )
            energy = xray_line_energy_keV(element, line)
            width = self.width_keV
            if width is None:
                width = self.width_fwhm * detector_fwhm_keV(energy, self.resolution_MnKa_eV)
            self._lines[element] = (line, energy, width)

    @property
    def windows(self) -> tuple[Window, ...]:
        """The line windows (keV), in the order of :meth:`line_windows_keV`."""
        return tuple(self.line_windows_keV().values())

    def value_units(self, axis_units: str, intensity_units: str) -> str:
        return "fraction"

    def line_windows_keV(self) -> dict[str, tuple[float, float]]:
        """``{"Fe_Ka": (lo, hi), ...}``: the line windows this reward integrates (keV)."""
        return {f"{el}_{line}": (e - w / 2, e + w / 2) for el, (line, e, w) in self._lines.items()}

    def net_counts(self, spectrum: np.ndarray, axis: Any) -> dict[str, float]:
        """Background-subtracted counts of each element's line, clipped at 0: ``{"Fe": 123.4, ...}``."""
        owner = "ElementFraction"
        x, y = ascending(*check_spectrum(spectrum, axis, self.units, owner), owner)
        if x.size < 2:
            raise WindowOutsideAxis(f"{owner}: the axis has a single channel; no line window fits")
        mids, widths = 0.5 * (x[:-1] + x[1:]), np.diff(x)
        return {el: self._net(x, y, mids, widths, el, *spec) for el, spec in self._lines.items()}

    def _net(
        self,
        x: np.ndarray,
        y: np.ndarray,
        mids: np.ndarray,
        widths: np.ndarray,
        element: str,
        line: str,
        energy: float,
        width: float,
    ) -> float:
        owner, name = "ElementFraction", f"{element}_{line} window"
        lo, hi = clip_window(x, (energy - width / 2, energy + width / 2), name, owner, self.units)
        net = integrate_window(x, y, lo, hi)
        if self.background == "linear":
            gap, side = self.side_gap * width, self.side_width * width
            levels: list[tuple[float, float]] = []
            for a, b in ((energy - width / 2 - gap - side, energy - width / 2 - gap),
                         (energy + width / 2 + gap, energy + width / 2 + gap + side)):
                ca, cb = max(a, x[0]), min(b, x[-1])
                if cb > ca:
                    levels.append((0.5 * (ca + cb), integrate_window(x, y, ca, cb) / (cb - ca)))
            if not levels:
                raise WindowOutsideAxis(
                    f"{owner}: both background side windows of {element}_{line} ({energy:g} keV) lie "
                    "outside the axis; use background='none' or a narrower window"
                )
            if len(levels) == 1:
                bg_mid = levels[0][1]
            else:
                (xa, ya), (xb, yb) = levels
                bg_mid = ya + (yb - ya) * (0.5 * (lo + hi) - xa) / (xb - xa)
            net -= bg_mid * (hi - lo)
        channel = float(np.interp(energy, mids, widths))
        return max(net / channel, 0.0)

    def __call__(self, spectrum: np.ndarray, axis: Any) -> float:
        counts = self.net_counts(spectrum, axis)
        top = sum(counts[el] for el in self.numerator)
        bottom = sum(counts[el] for el in self.denominator)
        if not bottom > 0:
            raise EmptySpectrum(
                f"ElementFraction: the denominator elements {self.denominator} have no net counts above "
                "background; the fraction is undefined here (count longer or pick other elements)"
            )
        return float(top / bottom)

    def __repr__(self) -> str:
        return format_repr(
            "ElementFraction",
            {
                "numerator": self.numerator,
                "denominator": self.denominator,
                "lines": self.lines,
                "width_keV": self.width_keV,
                "width_fwhm": self.width_fwhm,
                "resolution_MnKa_eV": self.resolution_MnKa_eV,
                "background": self.background,
                "side_gap": self.side_gap,
                "side_width": self.side_width,
                "units": self.units,
            },
        )
