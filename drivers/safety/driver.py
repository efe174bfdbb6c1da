"""``SafeDriver``: the safety layer every driver goes through.

* **Blanked by default.** The beam is blanked when the wrapper is built, unblanked right before an
  acquisition and blanked right after it (also when it fails). ``unblank()`` from outside is refused
  (``SafetyInterlock``); ``stop()`` aborts and blanks; ``close()``, the context manager and an
  ``atexit`` hook blank and close on exit or crash.
* **Limits, never clamped** (:class:`SafetyLimits`). An argument outside a limit (exposure, dwell,
  field of view, stage travel, a timeout shorter than the acquisition) raises ``InvalidArgument``; an
  exhausted dose budget (total electrons, electrons per square angstrom at a spot) raises
  ``SafetyInterlock``. Dose is read from a frame's ``metadata["dose_e"]`` when the driver reports it,
  else computed as beam current x time; a failed acquisition is charged its planned dose.
* **Timeouts.** Every blocking call runs in a worker thread and gets ``timeout_s`` (or, given
  none, ``limits.default_timeout_s`` plus ``limits.timeout_factor`` times the acquisition's
  duration: the one the driver declares with an optional ``acquisition_time_s(verb, **args)``, else
  dwell x pixels or the exposure), which is also passed to the driver. If the driver ignores it and the
  call is still running ``timeout_grace_s`` later, the wrapper calls the driver's ``stop()`` (abort +
  blank) and raises :class:`drivers.errors.Timeout`. One command reaches the driver at a time.
* **Audit log.** Every command (including the automatic blank/unblank) is one JSON line: time, verb,
  arguments, outcome, duration (:class:`AuditLog`).
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from drivers import validation
from drivers.errors import (
    DriverError,
    InstrumentError,
    InvalidArgument,
    NotSupported,
    SafetyInterlock,
    Timeout,
)
from drivers.frames import Capabilities, Frame, ProbeState
from drivers.protocol import Driver, Stage, Stateful, TimedAcquisition

from .audit import AuditLog
from .dose import ELEMENTARY_CHARGE_C, DoseLedger
from .limits import SafetyLimits

__all__ = ["SafeDriver"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_REFUSALS = (InvalidArgument, NotSupported, SafetyInterlock)


@dataclass
class _Entry:
    """What the audit context collects about one command."""

    result: dict[str, Any] = field(default_factory=dict)


def _finite_positive(name: str, value: Any) -> float:
    return validation.positive(name, value, error=InvalidArgument)


def _make_atexit_hook(ref: weakref.ReferenceType[SafeDriver]) -> Callable[[], None]:
    def hook() -> None:
        obj = ref()
        if obj is not None:
            obj._close(reason="atexit")

    return hook


class SafeDriver:
    """Wrap ``driver`` with blanking, limits, dose budgets, timeouts and an audit log.

    Args:
        driver: any :class:`drivers.Driver` (``state`` and ``move_stage`` pass through when present).
        limits: the limits; ``None``: ``SafetyLimits()`` defaults.
        audit_log_path: JSON-lines file to append to; ``None``: records kept in memory only
            (``audit.records``).
        register_atexit: blank and close at interpreter exit if still open.
    """

    def __init__(
        self,
        driver: Driver,
        limits: SafetyLimits | None = None,
        audit_log_path: str | Path | None = None,
        register_atexit: bool = True,
    ) -> None:
        self.inner = driver
        self.limits = limits if limits is not None else SafetyLimits()
        if not isinstance(self.limits, SafetyLimits):
            raise InvalidArgument(f"limits must be a SafetyLimits, got {type(self.limits).__name__}")
        self.audit = AuditLog(audit_log_path)
        self.dose = DoseLedger(self.limits)
        self._inner_lock = threading.Lock()
        self._closed = False
        self._blanked = False
        self._probe: ProbeState | None = None
        self._stage_yx_m = (0.0, 0.0)
        self._atexit_hook: Callable[[], None] | None = None
        self.beam_current_A = self.limits.beam_current_A
        # blank first, before anything else can happen
        with self._audited("blank", {"auto": True, "reason": "construction"}):
            self._run("blank", lambda d: d.blank(), self.limits.default_timeout_s)
            self._blanked = True
        if self.beam_current_A is None:
            self.beam_current_A = self._current_from_state()
        if self.limits.needs_dose and self.beam_current_A is None:
            self._close(reason="construction failed")
            raise InvalidArgument(
                "a dose budget is set but the beam current is unknown: set SafetyLimits.beam_current_A "
                "(the driver's state() reports no beam_current_A)"
            )
        if register_atexit:
            self._atexit_hook = _make_atexit_hook(weakref.ref(self))
            atexit.register(self._atexit_hook)

    # ------------------------------------------------------------------ machinery
    @contextmanager
    def _audited(self, verb: str, args: dict[str, Any]) -> Iterator[_Entry]:
        entry = _Entry()
        started_s = time.time()
        t0 = time.perf_counter()
        try:
            yield entry
        except BaseException as exc:
            if isinstance(exc, _REFUSALS):
                outcome = "refused"
            elif isinstance(exc, Timeout):
                outcome = "timeout"
            else:
                outcome = "error"
            self.audit.write(verb, args, outcome, started_s, time.perf_counter() - t0, error=exc)
            raise
        self.audit.write(verb, args, "ok", started_s, time.perf_counter() - t0, result=entry.result)

    def _run(self, verb: str, fn: Callable[[Driver], T], timeout_s: float, lock: bool = True) -> T:
        """Run ``fn(inner)`` in a worker thread; past ``timeout_s + grace``: stop the driver, Timeout."""
        box: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            try:
                if lock:
                    with self._inner_lock:
                        box["value"] = fn(self.inner)
                else:
                    box["value"] = fn(self.inner)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                box["error"] = exc
            finally:
                done.set()

        worker = threading.Thread(target=work, name=f"safe-{verb}", daemon=True)
        worker.start()
        if not done.wait(timeout_s + self.limits.timeout_grace_s):
            self._emergency_stop(verb)
            raise Timeout(
                f"{verb} did not finish within timeout_s={timeout_s:g} s; the driver was stopped and the beam blanked"
            )
        if "error" in box:
            raise box["error"]
        return box["value"]

    def _emergency_stop(self, verb: str) -> None:
        """A call hung: stop the driver (it blanks) without waiting for the command lock."""
        with self._audited("stop", {"auto": True, "reason": f"{verb} timed out"}):
            done = threading.Event()
            box: dict[str, BaseException] = {}

            def work() -> None:
                try:
                    self.inner.stop()
                except BaseException as exc:  # noqa: BLE001
                    box["error"] = exc
                finally:
                    done.set()

            threading.Thread(target=work, name="safe-emergency-stop", daemon=True).start()
            if not done.wait(self.limits.default_timeout_s):
                raise Timeout("stop() after a hung call did not return either")
            if "error" in box:
                raise box["error"]
        self._blanked = True

    def _declared_time(self, verb: str, fallback_s: float, **args: Any) -> float:
        """The duration the driver declares for this acquisition (its optional
        ``acquisition_time_s(verb, **args)``), else ``fallback_s`` (dwell x pixels, the exposure)."""
        if not isinstance(self.inner, TimedAcquisition):
            return fallback_s
        try:
            value = float(self.inner.acquisition_time_s(verb, **args))
        except (DriverError, TypeError, ValueError) as exc:
            log.debug("acquisition_time_s(%s) of %s failed: %s", verb, type(self.inner).__name__, exc)
            return fallback_s
        return max(value, fallback_s) if math.isfinite(value) and value >= 0 else fallback_s

    def _timeout(self, timeout_s: float | None, expected_s: float = 0.0) -> float:
        """The caller's ``timeout_s``; none given: ``default_timeout_s + timeout_factor x expected_s``
        (fixed ``default_timeout_s`` when ``timeout_factor`` is None). Never shorter than the
        acquisition itself (refused)."""
        limits = self.limits
        if timeout_s is not None:
            timeout = _finite_positive("timeout_s", timeout_s)
            if expected_s >= timeout:
                raise InvalidArgument(
                    f"timeout_s={timeout:g} s is not longer than the acquisition itself ({expected_s:g} s): "
                    f"give a timeout_s above {expected_s:g} s"
                )
            return timeout
        if limits.timeout_factor is not None:
            return limits.default_timeout_s + limits.timeout_factor * expected_s
        timeout = limits.default_timeout_s
        if expected_s >= timeout:
            raise InvalidArgument(
                f"safety.default_timeout_s={timeout:g} s is not longer than the acquisition itself "
                f"({expected_s:g} s) and safety.timeout_factor=null: set safety.default_timeout_s="
                f"{math.ceil(1.5 * expected_s + 10)} or safety.timeout_factor=1.5 (the timeout then "
                "follows each acquisition)"
            )
        return timeout

    def _check_open(self) -> None:
        if self._closed:
            raise InstrumentError("SafeDriver is closed")

    def _current_from_state(self) -> float | None:
        if not isinstance(self.inner, Stateful):
            return None
        fn = self.inner.state
        try:
            state = self._run("state", lambda d: fn(), self.limits.default_timeout_s)
        except DriverError:
            return None
        value = state.get("beam_current_A") if isinstance(state, dict) else None
        try:
            current = float(value) if value is not None else None
        except (TypeError, ValueError):
            return None
        return current if current is not None and math.isfinite(current) and current > 0 else None

    def _sample_position(self) -> tuple[float, float] | None:
        if self._probe is None:
            return None
        return (self._probe.yx_m[0] + self._stage_yx_m[0], self._probe.yx_m[1] + self._stage_yx_m[1])

    def _acquire(self, verb: str, fn: Callable[[Driver], Frame], timeout_s: float, opened: list[bool]) -> Frame:
        """Unblank, acquire, blank (also on error), all in one worker under the command lock.

        ``opened[0]`` becomes True once the beam was unblanked (the caller then charges the dose
        even if the acquisition fails)."""

        def sequence(inner: Driver) -> Frame:
            with self._audited("unblank", {"auto": True, "reason": verb}):
                opened[0] = True
                inner.unblank()
            self._blanked = False
            error: BaseException | None = None
            try:
                return fn(inner)
            except BaseException as exc:  # noqa: BLE001 - re-raised below after blanking
                error = exc
                raise
            finally:
                try:
                    with self._audited("blank", {"auto": True, "reason": verb}):
                        inner.blank()
                    self._blanked = True
                except BaseException as blank_exc:  # noqa: BLE001
                    try:
                        inner.stop()
                        self._blanked = True
                    except BaseException:  # noqa: BLE001
                        pass
                    if error is None:
                        raise InstrumentError(f"could not blank after {verb}", str(blank_exc)) from blank_exc
                    log.error("could not blank after failed %s: %s", verb, blank_exc)

        return self._run(verb, sequence, timeout_s)

    # ------------------------------------------------------------------ protocol
    def capabilities(self) -> Capabilities:
        with self._audited("capabilities", {}) as entry:
            self._check_open()
            caps = self._run("capabilities", lambda d: d.capabilities(), self.limits.default_timeout_s)
            max_fov = caps.max_fov_m if self.limits.max_fov_m is None else min(caps.max_fov_m, self.limits.max_fov_m)
            # only the optional verbs this wrapper passes on (the ground truth stays on .inner: drivers.truth_source)
            verbs = tuple(v for v, declared in (("state", Stateful), ("move_stage", Stage))
                          if isinstance(self.inner, declared))
            result = Capabilities(
                detectors=caps.detectors,
                signal_units=dict(caps.signal_units),
                max_fov_m=max_fov,
                max_exposure_s=min(caps.max_exposure_s, self.limits.max_exposure_s),
                verbs=verbs,
                backend=f"safe({caps.backend})",
                intensity_units=dict(caps.intensity_units),
            )
            entry.result = {"backend": result.backend}
            return result

    def state(self) -> dict[str, Any]:
        """The driver's ``state()`` (when it has one) plus a ``"safety"`` section."""
        with self._audited("state", {}):
            self._check_open()
            inner_state: dict[str, Any] = {}
            if isinstance(self.inner, Stateful):
                fn = self.inner.state
                inner_state = dict(self._run("state", lambda d: fn(), self.limits.default_timeout_s))
            inner_state["safety"] = {
                **self.dose.summary(),
                "blanked": self._blanked,
                "stage_travel_yx_m": self._stage_yx_m,
                "beam_current_A": self.beam_current_A,
            }
            return inner_state

    def acquire_overview(
        self,
        fov_m: float | None,
        shape_px: tuple[int, int] | None,
        dwell_s: float | None,
        detector: str = "HAADF",
        timeout_s: float | None = None,
    ) -> Frame:
        args = {"fov_m": fov_m, "shape_px": shape_px, "dwell_s": dwell_s, "detector": detector, "timeout_s": timeout_s}
        with self._audited("acquire_overview", args) as entry:
            self._check_open()
            fov = None if fov_m is None else _finite_positive("fov_m", fov_m)
            if fov is not None and self.limits.max_fov_m is not None and fov > self.limits.max_fov_m:
                raise InvalidArgument(
                    f"fov_m={fov:g} m exceeds the soft limit max_fov_m={self.limits.max_fov_m:g} m"
                )
            dwell = None if dwell_s is None else _finite_positive("dwell_s", dwell_s)
            if dwell is not None and dwell > self.limits.max_dwell_s:
                raise InvalidArgument(f"dwell_s={dwell:g} s exceeds max_dwell_s={self.limits.max_dwell_s:g} s")
            shape: tuple[int, int] | None = None
            if shape_px is not None:
                try:
                    shape = (int(shape_px[0]), int(shape_px[1]))
                except (TypeError, ValueError, IndexError) as exc:
                    raise InvalidArgument(f"shape_px={shape_px!r} must be (ny, nx) integers") from exc
                if len(shape_px) != 2 or shape[0] < 1 or shape[1] < 1:
                    raise InvalidArgument(f"shape_px={shape_px!r} must be two positive integers (ny, nx)")
            beam_s = dwell * shape[0] * shape[1] if dwell is not None and shape is not None else 0.0
            expected_s = self._declared_time("acquire_overview", beam_s, shape_px=shape, dwell_s=dwell)
            timeout = self._timeout(timeout_s, expected_s)
            planned_e = (self.beam_current_A or 0.0) * beam_s / ELEMENTARY_CHARGE_C
            self.dose.check_overview(planned_e, fov)
            opened = [False]
            try:
                frame = self._acquire(
                    "acquire_overview",
                    lambda d: d.acquire_overview(fov_m, shape, dwell_s, detector=detector, timeout_s=timeout),
                    timeout,
                    opened,
                )
            except BaseException:
                if opened[0]:
                    self.dose.record_overview(planned_e, fov)
                raise
            dose_e = self._frame_dose(frame, planned_e, frame.metadata.get("dwell_s", dwell), frame.data.size)
            fov_used = fov if fov is not None else frame.metadata.get("fov_m")
            self.dose.record_overview(dose_e, None if fov_used is None else float(fov_used))
            entry.result = {"frame_id": frame.frame_id, "shape": list(frame.data.shape), "dose_e": dose_e}
            return frame

    def _frame_dose(self, frame: Frame, planned_e: float, seconds_per_px: Any, n_px: int) -> float:
        reported = frame.metadata.get("dose_e")
        if reported is not None:
            try:
                value = float(reported)
                if math.isfinite(value) and value >= 0:
                    return value
            except (TypeError, ValueError):
                pass
        if self.beam_current_A is not None and seconds_per_px is not None:
            return self.beam_current_A * float(seconds_per_px) * n_px / ELEMENTARY_CHARGE_C
        return planned_e

    def set_probe(
        self,
        frame_id: str,
        yx_frac: tuple[float, float] | None = None,
        yx_m: tuple[float, float] | None = None,
    ) -> ProbeState:
        with self._audited("set_probe", {"frame_id": frame_id, "yx_frac": yx_frac, "yx_m": yx_m}) as entry:
            self._check_open()
            if (yx_frac is None) == (yx_m is None):
                raise InvalidArgument("set_probe: give exactly one of yx_frac or yx_m")
            probe = self._run(
                "set_probe",
                lambda d: d.set_probe(frame_id, yx_frac=yx_frac, yx_m=yx_m),
                self.limits.default_timeout_s,
            )
            self._probe = probe
            entry.result = {"yx_m": probe.yx_m, "yx_frac": probe.yx_frac}
            return probe

    def acquire_spectrum(self, exposure_s: float, detector: str = "EELS", timeout_s: float | None = None) -> Frame:
        args = {"exposure_s": exposure_s, "detector": detector, "timeout_s": timeout_s}
        with self._audited("acquire_spectrum", args) as entry:
            self._check_open()
            exposure = _finite_positive("exposure_s", exposure_s)
            if exposure > self.limits.max_exposure_s:
                raise InvalidArgument(
                    f"exposure_s={exposure:g} s exceeds max_exposure_s={self.limits.max_exposure_s:g} s"
                )
            timeout = self._timeout(
                timeout_s, self._declared_time("acquire_spectrum", exposure, exposure_s=exposure))
            position = self._sample_position()
            planned_e = (self.beam_current_A or 0.0) * exposure / ELEMENTARY_CHARGE_C
            self.dose.check_spectrum(planned_e, position)
            opened = [False]
            try:
                frame = self._acquire(
                    "acquire_spectrum",
                    lambda d: d.acquire_spectrum(exposure, detector=detector, timeout_s=timeout),
                    timeout,
                    opened,
                )
            except BaseException:
                if opened[0]:
                    self.dose.record_spectrum(planned_e, position)
                raise
            dose_e = self._frame_dose(frame, planned_e, exposure, 1)
            self.dose.record_spectrum(dose_e, position)
            entry.result = {"frame_id": frame.frame_id, "shape": list(frame.data.shape), "dose_e": dose_e}
            return frame

    def move_stage(self, dy_m: float, dx_m: float, relative: bool = True, timeout_s: float | None = None) -> None:
        """Move the stage; the cumulative travel must stay inside ``limits.stage_limits_m``.

        ``relative=False`` needs the driver's ``state()["stage_yx_m"]`` in the same frame as the
        travel counted since this wrapper was built (true for drivers that count from where they
        started, as :class:`drivers.nion.NionDriver` does).
        """
        args = {"dy_m": dy_m, "dx_m": dx_m, "relative": relative, "timeout_s": timeout_s}
        with self._audited("move_stage", args) as entry:
            self._check_open()
            if not isinstance(self.inner, Stage):
                raise NotSupported(f"{type(self.inner).__name__} has no move_stage verb")
            fn = self.inner.move_stage
            try:
                dy, dx = float(dy_m), float(dx_m)
            except (TypeError, ValueError) as exc:
                raise InvalidArgument(f"move_stage: dy_m={dy_m!r}, dx_m={dx_m!r} must be numbers") from exc
            if not (math.isfinite(dy) and math.isfinite(dx)):
                raise InvalidArgument(f"move_stage: dy_m={dy_m!r}, dx_m={dx_m!r} must be finite")
            if relative:
                target = (self._stage_yx_m[0] + dy, self._stage_yx_m[1] + dx)
            else:
                target = (dy, dx)
            bounds = self.limits.stage_limits_m
            if bounds is not None:
                (y0, y1), (x0, x1) = bounds
                if not (y0 <= target[0] <= y1 and x0 <= target[1] <= x1):
                    raise InvalidArgument(
                        f"move_stage: the stage would end at {target} m of travel, outside the soft "
                        f"limits stage_limits_m={bounds}"
                    )
            timeout = self._timeout(timeout_s)
            if relative:
                self._run("move_stage", lambda d: fn(dy, dx, relative=True, timeout_s=timeout), timeout)
            else:
                delta = (target[0] - self._stage_yx_m[0], target[1] - self._stage_yx_m[1])
                self._run(
                    "move_stage", lambda d: fn(delta[0], delta[1], relative=True, timeout_s=timeout), timeout
                )
            self._stage_yx_m = target
            entry.result = {"stage_travel_yx_m": target}

    def blank(self) -> None:
        with self._audited("blank", {}):
            self._check_open()
            self._run("blank", lambda d: d.blank(), self.limits.default_timeout_s)
            self._blanked = True

    def unblank(self) -> None:
        """Refused: the safety layer opens the beam only inside an acquisition."""
        with self._audited("unblank", {}):
            raise SafetyInterlock(
                "unblank refused: the safety layer keeps the beam blanked except during an acquisition"
            )

    def stop(self) -> None:
        """Abort whatever runs (without waiting for it) and blank."""
        with self._audited("stop", {}):
            self._run("stop", lambda d: d.stop(), self.limits.default_timeout_s, lock=False)
            self._blanked = True
            # blank as well if nothing else holds the driver (an aborted acquisition blanks itself)
            if self._inner_lock.acquire(timeout=0.5):
                try:
                    with self._audited("blank", {"auto": True, "reason": "stop"}):
                        self.inner.blank()
                finally:
                    self._inner_lock.release()

    def close(self) -> None:
        """Blank and close the driver (idempotent)."""
        self._close(reason="close")

    def _close(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        if self._atexit_hook is not None:
            atexit.unregister(self._atexit_hook)
            self._atexit_hook = None
        try:
            with self._audited("blank", {"auto": True, "reason": reason}):
                self._run("blank", lambda d: d.blank(), self.limits.default_timeout_s)
                self._blanked = True
        except BaseException as exc:  # noqa: BLE001 - still close the driver
            log.error("SafeDriver: blanking on %s failed: %s", reason, exc)
            try:
                self.inner.stop()
            except BaseException:  # noqa: BLE001
                pass
        try:
            with self._audited("close", {"reason": reason}):
                self._run("close", lambda d: d.close(), self.limits.default_timeout_s)
        except BaseException as exc:  # noqa: BLE001
            log.error("SafeDriver: closing the driver on %s failed: %s", reason, exc)
        finally:
            self.audit.close()

    @property
    def blanked(self) -> bool:
        """Whether the wrapper last left the beam blanked."""
        return self._blanked

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> SafeDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self._close(reason="context exit")
