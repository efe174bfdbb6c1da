"""The measurer: place the probe, acquire with retries, check the spectrum, score it, build the row.

Every call to the instrument goes through :meth:`Measurer.retry`: transient faults (timeouts,
instrument errors, lost connections) are retried with exponential backoff, each recorded as a
``fault`` event; refusals (``InvalidArgument``, ``SafetyInterlock``) are not retried. An
acquisition never raises for a fault: it returns an :class:`Acquisition` whose ``status`` says what
happened.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np

from drivers.errors import (
    Aborted,
    AutoscopeError,
    ConnectionLost,
    DriverError,
    InstrumentError,
    InvalidArgument,
    SafetyInterlock,
    Timeout,
)
from drivers.frames import Axis, Frame
from drivers.protocol import Driver
from rewards import RewardBase, as_reward, evaluate_one
from rewards.errors import RewardError

from ..candidates import CandidateSet
from ..record import StepRow
from ..reward_info import RewardInfo, reward_info
from ..settings import ExperimentSettings
from .decision import Decision
from .state import LoopState, StopFlag
from .store import RunStore

__all__ = ["Measurer", "Acquisition", "Status", "MeasurementFailed", "SpectrumRejected", "TRANSIENT",
           "Reward"]

log = logging.getLogger(__name__)

#: Faults worth another try (with backoff); refusals (InvalidArgument, SafetyInterlock) are not.
TRANSIENT = (Timeout, InstrumentError, ConnectionLost)

#: ``reward(spectrum (c,), axis) -> float or (k,)``
Reward = Callable[[np.ndarray, Axis], Any]

T = TypeVar("T")


class MeasurementFailed(AutoscopeError, RuntimeError):
    """A candidate could not be measured after every retry."""


class SpectrumRejected(InstrumentError):
    """The instrument returned an unusable spectrum (NaN, wrong shape, saturated): retried."""


class Status(enum.Enum):
    MEASURED = "measured"  # a new spectrum (``frame``; ``row`` once journaled)
    REPLAYED = "replayed"  # a journaled row taken again after a resume (``row``)
    FAILED = "failed"  # the candidate could not be measured (``error``): skipped
    INTERLOCK = "interlock"  # the safety layer refused (``error``): the run stops
    ABORTED = "aborted"  # a stop request interrupted the acquisition (``error``)


@dataclass(frozen=True)
class Acquisition:
    """The result of measuring one candidate.

    Args:
        index: the candidate.
        status: what happened (see :class:`Status`).
        frame: the spectrum frame ``(c,)`` for ``MEASURED``.
        row: the journaled row (``REPLAYED``, or ``MEASURED`` after :meth:`RunStore.secure`).
        error: the fault for ``FAILED``, ``INTERLOCK``, ``ABORTED``.
        span_s: ``(start, end)`` of the instrument calls in ``time.perf_counter`` seconds (NaN when
            nothing was asked of the instrument).
    """

    index: int
    status: Status
    frame: Frame | None = None
    row: StepRow | None = None
    error: Exception | None = None
    span_s: tuple[float, float] = (float("nan"), float("nan"))

    def secured(self, row: StepRow) -> Acquisition:
        return replace(self, row=row)


class Measurer:
    """Talks to the instrument for the loop.

    Args:
        driver: the instrument (or emulator, or replay), usually behind the safety layer.
        reward: scores a spectrum (see :data:`Reward`).
        settings: exposure, detector, retries, backoff, overview settings.
        store: where faults and reward failures are recorded.
        state: the loop state (``step`` for events, ``last_index`` for travel).
        stop: a stop request aborts retries.
    """

    def __init__(self, driver: Driver, reward: Reward, settings: ExperimentSettings, store: RunStore,
                 state: LoopState, stop: StopFlag) -> None:
        self.driver = driver
        self.reward = reward
        self.settings = settings
        self.store = store
        self.state = state
        self.stop = stop
        #: the spectra's axis, from the first spectrum (or the record on resume): later spectra must match
        self.signal_axis: Axis | None = None
        #: the overview frame probe positions refer to (a new one after every drift check)
        self.probe_frame_id = ""

    @property
    def reward(self) -> RewardBase:
        return self._reward

    @reward.setter
    def reward(self, reward: Reward) -> None:
        # the one place a reward is taken (construction and mid-run switch): a bare function gets the
        # protocol's declared defaults here, so nothing downstream probes the object
        self._reward = as_reward(reward)

    def describe_reward(self) -> RewardInfo:
        """The reward's name, value units and windows for this instrument's spectra (the axis and
        intensity units of ``settings.detector`` from the driver's capabilities)."""
        try:
            caps = self.driver.capabilities()
        except DriverError as err:
            log.warning("the driver declares no capabilities (%s): the reward's units assume counts", err)
            return reward_info(self.reward, "", "counts")
        detector = self.settings.detector
        return reward_info(self.reward, str(caps.signal_units.get(detector, "")), caps.intensity_units_of(detector))

    # ---------------------------------------------------------------- instrument calls
    def retry(self, what: str, call: Callable[[], T]) -> T:
        """Call with retries and exponential backoff on transient faults; every fault recorded.

        Times the call: a returned :class:`Frame` gets the last successful duration as ``wall_s``.
        Raises ``MeasurementFailed`` after the last retry (the transient fault itself before the
        record exists), ``Aborted`` when a stop was requested (not for the overview).
        """
        s = self.settings
        for attempt in range(s.max_retries + 1):
            if self.stop.is_set() and what != "acquire_overview":
                raise Aborted(f"{what}: stop requested")
            t0 = time.perf_counter()
            try:
                out = call()
            except TRANSIENT as err:
                self.store.event("fault", verb=what, attempt=attempt, error=type(err).__name__,
                                 message=str(err), step=self.state.step)
                log.warning("%s failed (%s: %s), attempt %d", what, type(err).__name__, err, attempt + 1)
                if attempt == s.max_retries:
                    if not self.store.is_open:
                        raise
                    raise MeasurementFailed(f"{what}: {type(err).__name__}: {err}") from err
                time.sleep(s.retry_backoff_s * (2**attempt))
                continue
            if isinstance(out, Frame):
                md = dict(out.metadata)
                md["wall_s"] = time.perf_counter() - t0
                return Frame(out.data, out.axes, out.frame_id, md)  # type: ignore[return-value]
            return out
        raise AssertionError("unreachable")

    def acquire_overview(self) -> Frame:
        """The overview image ``(ny, nx)`` with the configured field, shape, dwell and detector."""
        ov = self.settings.overview
        shape = None if ov.shape_px is None else (int(ov.shape_px[0]), int(ov.shape_px[1]))

        def call() -> Frame:
            return self.driver.acquire_overview(ov.fov_m, shape, ov.dwell_s, ov.detector)

        return self.retry("acquire_overview", call)

    def acquire(self, index: int, yx_frac: tuple[float, float] | None) -> Acquisition:
        """Place the probe at ``yx_frac`` (fraction of the probe frame; None: drifted out of the field)
        and acquire a checked spectrum. Never raises for a fault."""
        if yx_frac is None:
            return Acquisition(index, Status.FAILED,
                               error=InvalidArgument(f"candidate {index} drifted out of the field of view"))
        t0 = time.perf_counter()
        frame_id = self.probe_frame_id
        try:
            self.retry("set_probe", lambda: self.driver.set_probe(frame_id, yx_frac=yx_frac))
            frame = self.retry("acquire_spectrum", self._acquire_checked)
        except (MeasurementFailed, InvalidArgument) as err:
            return Acquisition(index, Status.FAILED, error=err, span_s=(t0, time.perf_counter()))
        except SafetyInterlock as err:
            return Acquisition(index, Status.INTERLOCK, error=err, span_s=(t0, time.perf_counter()))
        except Aborted as err:
            return Acquisition(index, Status.ABORTED, error=err, span_s=(t0, time.perf_counter()))
        return Acquisition(index, Status.MEASURED, frame=frame, span_s=(t0, time.perf_counter()))

    def _acquire_checked(self) -> Frame:
        frame = self.driver.acquire_spectrum(self.settings.exposure_s, self.settings.detector)
        self.check_spectrum(frame)
        return frame

    def check_spectrum(self, frame: Frame) -> None:
        """``SpectrumRejected`` for a spectrum that is not 1-D, has the wrong channel count, holds
        NaN/inf, or saturated the detector (``metadata["saturation_counts"]``)."""
        data = np.asarray(frame.data)
        if data.ndim != 1:
            raise SpectrumRejected(f"spectrum has shape {data.shape}, expected 1-D")
        if self.signal_axis is not None and data.shape[0] != self.signal_axis.size:
            raise SpectrumRejected(f"spectrum has {data.shape[0]} channels, expected {self.signal_axis.size}")
        if not np.all(np.isfinite(data)):
            raise SpectrumRejected("spectrum holds NaN or infinite values")
        sat = frame.metadata.get("saturation_counts")
        if sat is not None and np.count_nonzero(data >= float(sat)) > 0:
            raise SpectrumRejected(f"detector saturated ({np.count_nonzero(data >= float(sat))} channels)")

    # ---------------------------------------------------------------- scoring and rows
    def score(self, index: int, spectrum: np.ndarray, axis: Axis) -> tuple[float, np.ndarray]:
        """``(reward, objectives)``: the first value and, for a vector reward, all k (else ``(0,)``).
        A failing reward gives NaN and a ``reward_failed`` event: the spectrum is kept."""
        try:
            out = evaluate_one(self.reward, spectrum, axis)
        except RewardError as err:
            self.store.event("reward_failed", step=self.state.step, index=index, message=str(err))
            log.warning("reward failed at candidate %d (spectrum kept): %s", index, err)
            return float("nan"), np.zeros(0)
        return float(out[0]), (out if out.size > 1 else np.zeros(0))

    def build_row(self, index: int, decision: Decision, frame: Frame, candidates: CandidateSet) -> StepRow:
        """The record row of a new spectrum of candidate ``index`` chosen by ``decision``."""
        spectrum = np.asarray(frame.data, dtype=np.float64)
        axis = frame.signal_axis
        if self.signal_axis is None:
            self.signal_axis = axis
        value, objectives = self.score(index, spectrum, axis)
        md, post, last = frame.metadata, decision.posterior, self.state.last_index
        return StepRow(
            step=self.state.step,
            index=index,
            phase=decision.phase,
            yx_px=(int(candidates.yx_px[index, 0]), int(candidates.yx_px[index, 1])),
            yx_m=(float(candidates.yx_m[index, 0]), float(candidates.yx_m[index, 1])),
            reward=value,
            pred_mean=float(np.ravel(post.mean[index])[0]) if post is not None else float("nan"),
            pred_std=float(np.ravel(post.std[index])[0]) if post is not None else float("nan"),
            t_acquire_s=float(md.get("wall_s", float("nan"))),
            t_fit_s=decision.t_fit_s,
            t_predict_s=decision.t_predict_s,
            t_select_s=decision.t_select_s,
            clock_s=float(md.get("time_s", float("nan"))),
            dose_e=float(md.get("dose_e", float("nan"))),
            healthy=not (post is not None and post.degenerate),
            reason=decision.reason,
            travel_m=(float(np.linalg.norm(candidates.yx_m[index] - candidates.yx_m[last]))
                      if last >= 0 else float("nan")),
            cost_s=decision.cost_s.get(index, float("nan")),
            spectrum=spectrum,
            objectives=objectives,
        )
