"""``DoseLedger``: electrons put on the sample in a session, in total and per area.

Accounting model (deliberately conservative):

* every overview spreads its dose over its field of view, ``dose_e / fov_m**2``; overviews are
  assumed to overlap, so their area doses add into one *background* that every spot carries;
* every spectrum puts its dose on the probe area ``pi d^2 / 4`` at the probe position; positions are
  binned into cells of one probe diameter (sample coordinates: the probe position in the overview
  frame plus the stage travel of the session), and a cell's doses add up;
* the dose per area of a spot is background + its cell; an overview is checked against the most
  dosed cell, since it scans over all of them.
"""

from __future__ import annotations

import math
import threading
from typing import Any

from drivers.errors import SafetyInterlock

from .limits import ANGSTROM2_PER_M2, SafetyLimits

__all__ = ["DoseLedger", "ELEMENTARY_CHARGE_C"]

ELEMENTARY_CHARGE_C = 1.602176634e-19

_Cell = tuple[int, int] | None


class DoseLedger:
    """Running dose totals checked against :class:`SafetyLimits` budgets (thread-safe)."""

    def __init__(self, limits: SafetyLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self.total_e = 0.0
        self.background_e_per_A2 = 0.0
        self._cells: dict[_Cell, float] = {}

    def cell_of(self, yx_m: tuple[float, float] | None) -> _Cell:
        """Dose cell of a sample position (metres); ``None`` when the position is unknown."""
        if yx_m is None:
            return None
        d = self.limits.probe_diameter_m
        return (math.floor(yx_m[0] / d), math.floor(yx_m[1] / d))

    def spot_e_per_A2(self, cell: _Cell) -> float:
        with self._lock:
            return self.background_e_per_A2 + self._cells.get(cell, 0.0)

    def max_spot_e_per_A2(self) -> float:
        with self._lock:
            return self.background_e_per_A2 + max(self._cells.values(), default=0.0)

    def _check_total(self, planned_e: float, what: str) -> None:
        budget = self.limits.max_total_dose_e
        if budget is not None and self.total_e + planned_e > budget:
            raise SafetyInterlock(
                f"{what}: total dose budget exhausted ({self.total_e:.3g} e used + {planned_e:.3g} e planned "
                f"> max_total_dose_e={budget:.3g} e)"
            )

    def check_spectrum(self, planned_e: float, yx_m: tuple[float, float] | None) -> None:
        """Refuse (``SafetyInterlock``) a spectrum that would overrun a budget."""
        with self._lock:
            self._check_total(planned_e, "acquire_spectrum")
            budget = self.limits.max_dose_per_area_e_per_A2
            if budget is not None:
                cell = self.cell_of(yx_m)
                now = self.background_e_per_A2 + self._cells.get(cell, 0.0)
                planned = planned_e / self.limits.probe_area_A2
                if now + planned > budget:
                    raise SafetyInterlock(
                        f"acquire_spectrum: dose per area budget exhausted at probe position {yx_m} "
                        f"({now:.3g} + {planned:.3g} planned > max_dose_per_area_e_per_A2={budget:.3g} e/A^2)"
                    )

    def check_overview(self, planned_e: float, fov_m: float | None) -> None:
        """Refuse (``SafetyInterlock``) an overview that would overrun a budget."""
        with self._lock:
            self._check_total(planned_e, "acquire_overview")
            budget = self.limits.max_dose_per_area_e_per_A2
            if budget is not None and fov_m is not None:
                worst = self.background_e_per_A2 + max(self._cells.values(), default=0.0)
                planned = planned_e / (fov_m**2 * ANGSTROM2_PER_M2)
                if worst + planned > budget:
                    raise SafetyInterlock(
                        f"acquire_overview: dose per area budget exhausted ({worst:.3g} + {planned:.3g} planned "
                        f"> max_dose_per_area_e_per_A2={budget:.3g} e/A^2)"
                    )

    def record_spectrum(self, dose_e: float, yx_m: tuple[float, float] | None) -> None:
        with self._lock:
            self.total_e += dose_e
            cell = self.cell_of(yx_m)
            self._cells[cell] = self._cells.get(cell, 0.0) + dose_e / self.limits.probe_area_A2

    def record_overview(self, dose_e: float, fov_m: float | None) -> None:
        with self._lock:
            self.total_e += dose_e
            if fov_m is not None and fov_m > 0:
                self.background_e_per_A2 += dose_e / (fov_m**2 * ANGSTROM2_PER_M2)

    def summary(self) -> dict[str, Any]:
        with self._lock:
            budget = self.limits.max_total_dose_e
            return {
                "total_dose_e": self.total_e,
                "dose_budget_left_e": None if budget is None else max(0.0, budget - self.total_e),
                "background_e_per_A2": self.background_e_per_A2,
                "max_spot_e_per_A2": self.background_e_per_A2 + max(self._cells.values(), default=0.0),
            }
