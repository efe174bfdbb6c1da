"""The run's guardians, composed: budgets (steps, wall time, total dose), the failure streak,
sample drift and the dose per area (:mod:`agent.guardians` holds the drift and dose trackers)."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from drivers.frames import Frame

from ..candidates import CandidateSet
from ..guardians import DoseGuardian, DriftGuardian
from ..settings import ExperimentSettings
from .measurer import MeasurementFailed, Measurer
from .state import LoopState, StopFlag, StopReason
from .store import RunStore

__all__ = ["Guardians"]

log = logging.getLogger(__name__)


class Guardians:
    """Watch a run and step in.

    Args:
        settings: ``steps``, ``wall_time_s``, ``max_total_dose_e``, ``max_consecutive_failures``,
            ``drift_every``, ``max_dose_e_per_A2``, ``dose_radius_m``.
        state: the loop state.
        store: where trips are recorded.
        stop: tripped guardians request a stop here.
    """

    def __init__(self, settings: ExperimentSettings, state: LoopState, store: RunStore, stop: StopFlag) -> None:
        self.settings = settings
        self.state = state
        self.store = store
        self.stop = stop
        self.t_start = time.perf_counter()
        self.drift: DriftGuardian | None = None
        self.dose: DoseGuardian | None = None
        self.candidates: CandidateSet | None = None

    def attach(self, candidates: CandidateSet) -> None:
        """Candidates exist: start drift tracking (if configured) and dose accounting (always: cost-aware
        policies read the local dose; the per-area limit is off unless set)."""
        s = self.settings
        self.candidates = candidates
        self.drift = DriftGuardian(s.drift_every) if s.drift_every else None
        limit = s.max_dose_e_per_A2 if s.max_dose_e_per_A2 is not None else math.inf
        self.dose = DoseGuardian(candidates.yx_m, limit, s.dose_radius_m)

    # ---------------------------------------------------------------- budgets
    def budget_exhausted(self, n_inflight: int, any_available: bool) -> str:
        """The stop reason of a spent budget, or ''. ``n_inflight`` acquisitions still count."""
        s, st = self.settings, self.state
        if st.n_done + n_inflight >= s.steps:
            return StopReason.BUDGET
        if s.wall_time_s is not None and time.perf_counter() - self.t_start >= s.wall_time_s:
            return StopReason.WALL_TIME
        if s.max_total_dose_e is not None:
            # the next spectrum (and those in flight) must fit: a dose budget is never overshot
            per_spectrum = st.total_dose_e / st.n_rows if st.n_rows else 0.0
            if st.total_dose_e + per_spectrum * (1 + n_inflight) > s.max_total_dose_e:
                return StopReason.DOSE
        if not any_available and not st.forced:
            return StopReason.EXHAUSTED
        return ""

    def count_failure(self, usable: bool) -> None:
        """K unusable measurements in a row (``experiment.max_consecutive_failures``) stop the run:
        an instrument or reward that keeps failing must not burn the whole dose budget."""
        st, k = self.state, self.settings.max_consecutive_failures
        st.consecutive_failures = 0 if usable else st.consecutive_failures + 1
        if k and st.consecutive_failures >= k and not self.stop.is_set():
            self.store.event("failing_measurements", step=st.step, consecutive=st.consecutive_failures)
            log.error("%d unusable measurements in a row: stopping", st.consecutive_failures)
            self.stop.request(f"{StopReason.FAILING}: {st.consecutive_failures} unusable in a row")

    # ---------------------------------------------------------------- dose
    def account_dose(self, index: int, dose_e_per_A2: float) -> None:
        """One measurement's dose per area counts around candidate ``index``; newly damaged candidates
        are recorded (``dose_limit``)."""
        assert self.dose is not None and self.candidates is not None
        for j in self.dose.add(tuple(self.candidates.yx_m[index]), dose_e_per_A2):
            self.store.event("dose_limit", index=int(j), step=self.state.step)

    def checkpoint_extra(self) -> dict[str, Any]:
        return {"dose_local": self.dose.local_dose} if self.dose is not None else {}

    def restore(self, extra: dict[str, Any]) -> None:
        if self.dose is not None and "dose_local" in extra:
            self.dose.local_dose = np.asarray(extra["dose_local"], dtype=np.float64)

    # ---------------------------------------------------------------- drift
    def drift_due(self, n_inflight: int = 0) -> bool:
        return self.drift is not None and self.drift.due(self.state.n_done + n_inflight)

    def probe_fraction(self, index: int) -> tuple[float, float] | None:
        """Where to place the probe for candidate ``index`` (fraction of the overview frame, drift
        added); None when drift carried it out of the field."""
        cand = self.candidates
        assert cand is not None
        f = cand.yx_frac[index].copy()
        if self.drift is not None:
            f += np.asarray(self.state.drift_px) / np.asarray(cand.image_shape, dtype=np.float64)
        if np.any(f < 0) or np.any(f > 1):
            return None
        return float(f[0]), float(f[1])

    def correct_drift(self, measurer: Measurer, reference: Frame) -> None:
        """Acquire a new overview and register it against ``reference`` (the run's first overview)."""
        assert self.drift is not None
        try:
            frame = measurer.acquire_overview()
        except MeasurementFailed as err:
            self.store.event("drift_check_failed", message=str(err))
            return
        self.track(reference, frame, self.state.n_done)
        self.store.event("drift", n_done=self.state.n_done, dy_px=self.state.drift_px[0],
                         dx_px=self.state.drift_px[1], frame_id=frame.frame_id)
        measurer.probe_frame_id = frame.frame_id

    def track(self, reference: Frame, fresh: Frame, n_done: int) -> None:
        """Update the drift from a new overview (no-op without drift tracking)."""
        if self.drift is not None:
            dy, dx = self.drift.update(n_done, reference.data, fresh.data)
            self.state.drift_px = [dy, dx]
