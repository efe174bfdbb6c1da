"""``ScanSettings``: the settings every point-probe emulator shares, declared and validated once.

Every emulator constructor (:class:`drivers.emulator.PlasmonEmulator`,
:class:`drivers.emulator.CoreLossEmulator`, :class:`drivers.pfm.PFMEmulator`,
:class:`drivers.fourd.FourDSTEMEmulator`) takes these as flat keywords (``**scan:
Unpack[ScanKwargs]``), so ``driver.readout_s=0.01`` and ``driver.overview_fov_m=1e-7`` keep working
as Hydra overrides; what a keyword leaves out comes from the emulator's ``SCAN_DEFAULTS``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

from drivers.errors import InvalidArgument

from .clock import CLOCK_KINDS
from .validation import integer, pair, positive, shape

__all__ = ["ScanKwargs", "ScanSettings"]


class ScanKwargs(TypedDict, total=False):
    """The flat keywords of :class:`ScanSettings` as a constructor takes them (every one optional;
    ``overview_shape_px`` may be one int for a square, sequences may be lists)."""

    seed: int
    sample_extent_m: float
    default_exposure_s: float
    max_exposure_s: float
    readout_s: float
    settle_s: float
    overview_fov_m: float | None
    overview_shape_px: int | Sequence[int]
    overview_dwell_s: float
    max_dwell_s: float
    line_flyback_s: float
    max_overview_px: int
    clock: str
    drift_m_per_s: Sequence[float]


@dataclass(frozen=True)
class ScanSettings:
    """Sample, exposure, timing and overview settings of a point-probe emulator (SI units).

    The defaults are a STEM-EELS instrument's (:class:`drivers.emulator.PlasmonEmulator`); each
    emulator overrides some in its ``SCAN_DEFAULTS``. Construction validates every field and
    stores the cleaned value (``overview_shape_px`` as ``(ny, nx)``, ``drift_m_per_s`` as a
    ``(y, x)`` tuple); a bad one raises :class:`drivers.InvalidArgument` naming it, e.g.
    ``readout_s=-1 must be >= 0 s``.

    Attributes:
        seed: seed of the sample and of all noise (int >= 0).
        sample_extent_m: side of the square sample; also the largest field of view.
        default_exposure_s: exposure used by the ground-truth helpers when none is given
            (at most ``max_exposure_s``).
        max_exposure_s: longest single exposure; longer ones are refused.
        readout_s: readout time added to each spectrum (>= 0).
        settle_s: probe settling time added to each ``set_probe`` (>= 0).
        overview_fov_m: default overview field of view, at most ``sample_extent_m`` (``None``:
            the sample extent).
        overview_shape_px: default overview shape ``(ny, nx)`` (an int is a square), each side
            in ``[2, max_overview_px]``.
        overview_dwell_s: default overview pixel dwell time (at most ``max_dwell_s``).
        max_dwell_s: longest pixel dwell time accepted.
        line_flyback_s: scan flyback time per overview line (>= 0).
        max_overview_px: largest overview side accepted (pixels, in ``[2, 16384]``).
        clock: ``"virtual"`` (instant, deterministic) or ``"real"`` (really sleeps).
        drift_m_per_s: (y, x) sample drift velocity (metres per second of clock time).
    """

    seed: int = 0
    sample_extent_m: float = 200e-9
    default_exposure_s: float = 0.05
    max_exposure_s: float = 10.0
    readout_s: float = 0.005
    settle_s: float = 0.001
    overview_fov_m: float | None = None
    overview_shape_px: tuple[int, int] = (256, 256)
    overview_dwell_s: float = 4e-6
    max_dwell_s: float = 1e-3
    line_flyback_s: float = 20e-6
    max_overview_px: int = 4096
    clock: str = "virtual"
    drift_m_per_s: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        # In this order: a bound is checked after the field it refers to.
        clean = self._set
        clean("seed", integer("seed", self.seed, 0, 2**63 - 1))
        clean("sample_extent_m", positive("sample_extent_m", self.sample_extent_m, unit=" m"))
        clean("max_exposure_s", positive("max_exposure_s", self.max_exposure_s, unit=" s"))
        clean("default_exposure_s", positive("default_exposure_s", self.default_exposure_s,
                                             maximum=self.max_exposure_s, unit=" s"))
        clean("readout_s", positive("readout_s", self.readout_s, allow_zero=True, unit=" s"))
        clean("settle_s", positive("settle_s", self.settle_s, allow_zero=True, unit=" s"))
        clean("max_dwell_s", positive("max_dwell_s", self.max_dwell_s, unit=" s"))
        clean("overview_dwell_s", positive("overview_dwell_s", self.overview_dwell_s,
                                           maximum=self.max_dwell_s, unit=" s"))
        clean("line_flyback_s", positive("line_flyback_s", self.line_flyback_s, allow_zero=True,
                                         unit=" s"))
        clean("max_overview_px", integer("max_overview_px", self.max_overview_px, 2, 16384))
        clean("overview_shape_px", shape("overview_shape_px", self.overview_shape_px,
                                         self.max_overview_px))
        if self.overview_fov_m is not None:
            clean("overview_fov_m", positive("overview_fov_m", self.overview_fov_m,
                                             maximum=self.sample_extent_m, unit=" m"))
        if self.clock not in CLOCK_KINDS:
            raise InvalidArgument(f"clock={self.clock!r} is not known; use one of {list(CLOCK_KINDS)}")
        clean("drift_m_per_s", pair("drift_m_per_s", self.drift_m_per_s))

    def _set(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)  # a frozen dataclass stores its cleaned values here

    @property
    def fov_m(self) -> float:
        """The default overview field of view in metres (``overview_fov_m``, or the sample extent)."""
        return self.sample_extent_m if self.overview_fov_m is None else self.overview_fov_m
