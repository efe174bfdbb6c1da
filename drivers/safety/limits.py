"""``SafetyLimits``: the numbers the safety layer enforces (all SI units; ``None`` = no limit)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from drivers import validation
from drivers.errors import InvalidArgument

__all__ = ["SafetyLimits", "ANGSTROM2_PER_M2"]

ANGSTROM2_PER_M2 = 1e20


def _limit(name: str, value: Any, allow_none: bool) -> float | None:
    """A positive limit; ``+inf`` is accepted (no limit, as ``None`` where that is allowed), NaN never."""
    if value is None and allow_none:
        return None
    return validation.positive(f"SafetyLimits.{name}", value, allow_inf=True, coerce=True, error=InvalidArgument,
                               fix="use null for no limit" if allow_none else "")


@dataclass(frozen=True)
class SafetyLimits:
    """Limits of one session.

    Args:
        max_exposure_s: longest spectrum exposure (seconds).
        max_dwell_s: longest overview dwell per pixel (seconds).
        max_total_dose_e: electrons the session may put on the sample in all (``None``: no budget).
        max_dose_per_area_e_per_A2: electrons per square angstrom any spot may receive, summed over
            overviews (dose spread over the field of view) and spectra (dose spread over the probe
            area) (``None``: no budget).
        probe_diameter_m: probe diameter (metres); a spectrum's dose counts over ``pi d^2 / 4`` and
            spots closer than this share one dose cell.
        max_fov_m: largest overview field of view (metres; ``None``: the driver's own limit).
        stage_limits_m: ``((y_min, y_max), (x_min, x_max))`` metres of cumulative stage travel from
            where the session started (``None``: no stage limit).
        beam_current_A: probe current (A) for dose estimates when the driver does not report
            ``dose_e``; ``None``: ask the driver's ``state()["beam_current_A"]``.
        default_timeout_s: timeout of a blocking call that gives none (seconds); for an
            acquisition, the allowance on top of ``timeout_factor`` times its declared duration.
        timeout_factor: an acquisition that gives no ``timeout_s`` gets ``default_timeout_s +
            timeout_factor * duration``, the duration the driver declares
            (``acquisition_time_s``) or ``dwell x pixels`` / the exposure; ``None``: a fixed
            ``default_timeout_s`` (an acquisition longer than it is refused). At least 1.
        timeout_grace_s: extra time the worker thread waits after a call's own ``timeout_s`` before
            declaring it hung (the driver's own Timeout wins when it honours its argument).
    """

    max_exposure_s: float = 10.0
    max_dwell_s: float = 1e-3
    max_total_dose_e: float | None = None
    max_dose_per_area_e_per_A2: float | None = None
    probe_diameter_m: float = 1e-9
    max_fov_m: float | None = None
    stage_limits_m: Sequence[Sequence[float]] | None = None
    beam_current_A: float | None = None
    default_timeout_s: float = 60.0
    timeout_grace_s: float = 0.5
    timeout_factor: float | None = 1.5

    def __post_init__(self) -> None:
        for name in ("max_exposure_s", "max_dwell_s", "probe_diameter_m", "default_timeout_s"):
            object.__setattr__(self, name, _limit(name, getattr(self, name), allow_none=False))
        for name in ("max_total_dose_e", "max_dose_per_area_e_per_A2", "max_fov_m", "beam_current_A"):
            object.__setattr__(self, name, _limit(name, getattr(self, name), allow_none=True))
        grace = validation.nonnegative("SafetyLimits.timeout_grace_s", self.timeout_grace_s, allow_inf=True,
                                       coerce=True, error=InvalidArgument)
        object.__setattr__(self, "timeout_grace_s", grace)
        if self.timeout_factor is not None:
            factor = validation.in_range(
                "SafetyLimits.timeout_factor", self.timeout_factor, 1.0, coerce=True, error=InvalidArgument,
                fix="give a number >= 1 (a shorter timeout fails every acquisition) or null (a fixed timeout)")
            object.__setattr__(self, "timeout_factor", factor)
        if self.stage_limits_m is not None:
            try:
                (y0, y1), (x0, x1) = self.stage_limits_m
                bounds = ((float(y0), float(y1)), (float(x0), float(x1)))
            except (TypeError, ValueError) as exc:
                raise InvalidArgument(
                    "SafetyLimits.stage_limits_m must be ((y_min, y_max), (x_min, x_max)) in metres, "
                    f"got {self.stage_limits_m!r}"
                ) from exc
            for lo, hi in bounds:
                if not (math.isfinite(lo) and math.isfinite(hi) and lo <= 0.0 <= hi):
                    raise InvalidArgument(
                        "SafetyLimits.stage_limits_m: each (min, max) must be finite and contain 0 "
                        f"(the start position), got {self.stage_limits_m!r}"
                    )
            object.__setattr__(self, "stage_limits_m", bounds)

    @property
    def probe_area_A2(self) -> float:
        """Probe area in square angstroms (``pi d^2 / 4``)."""
        return math.pi * self.probe_diameter_m**2 / 4 * ANGSTROM2_PER_M2

    @property
    def needs_dose(self) -> bool:
        """True when a dose budget is set (the beam current must then be known)."""
        return self.max_total_dose_e is not None or self.max_dose_per_area_e_per_A2 is not None
