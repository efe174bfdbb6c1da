"""``NionDriver``: the Driver protocol on Nion Swift instrumentation (``nionswift-instrumentation``).

With ``simulator=True`` (default) it brings up Nion's simulated STEM (:class:`UsimSession`) in this
process; with ``simulator=False`` it attaches to the hardware sources already registered in the
process (run it inside Nion Swift, e.g. from its Python console or a plug-in).

Conventions:

* **Overview** (``acquire_overview``): the scan's frame parameters are set first (this also sets the
  *scan context*, the field that probe fractions refer to), then ``record_immediate``. The frame is
  the detector channel asked for (``"HAADF"`` or ``"MAADF"``), ``(ny, nx)`` float32, with axes in
  metres at pixel centres, relative to the scan centre (Nion's calibration; its offset is the edge
  of the first pixel). For a non-square ``shape_px``, ``fov_m`` spans the wider side (square
  pixels), as in Nion.
* **Probe** (``set_probe``): only the latest overview's ``frame_id`` is accepted, and only until the
  stage moves (both change what a fraction means). ``yx_frac`` is Nion's ``probe_position``
  (fraction of the scan context, origin top left, pixel ``i`` centred at ``(i + 0.5) / n``);
  ``yx_m`` is converted through the frame's axes. Nion clamps silently to [0, 1]; this driver refuses
  out-of-range positions with ``InvalidArgument`` instead.
* **Spectrum** (``acquire_spectrum``): the EELS camera plays (``start_playing``), the next finished
  frame is taken (``get_next_xdatas_to_finish``), playing stops in ``finally``; the camera rows are
  summed to a 1-D float64 spectrum. Its ``"energy_loss"`` axis is in eV, ``offset + i * scale`` from
  the camera calibration (the value usim's simulation puts at channel ``i``: the zero-loss peak
  sits at 0 eV).
* **Blanking**: ``blank()`` sets ``C_Blank`` to 1. The simulator does not dim any signal when
  blanked, so the driver tracks the state and refuses acquisitions while blanked
  (``SafetyInterlock``); the safety layer (:class:`drivers.safety.SafeDriver`) unblanks just for each
  acquisition. The driver starts blanked.
* **Stage** (``move_stage``): ``change_stage_position(dy=, dx=)`` (metres, relative). As in Nion, a
  move of ``+dx`` brings the sample region at ``+dx`` into view (features shift by ``-dx`` in the
  next overview). ``state()["stage_yx_m"]`` is the travel since the driver opened; moves beyond
  ``stage_limit_m`` from there are refused.
* **Timeouts**: Nion reports them as bare ``Exception`` / ``AssertionError``; they come out as
  :class:`drivers.errors.Timeout`. ``stop()`` aborts a running acquisition, which then raises
  :class:`drivers.errors.Aborted`.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from drivers.errors import (
    Aborted,
    DriverError,
    InstrumentError,
    InvalidArgument,
    NotSupported,
    SafetyInterlock,
    Timeout,
)
from drivers.frames import Axis, Capabilities, Frame, ProbeState

from .session import UsimSession

__all__ = ["NionDriver", "ELEMENTARY_CHARGE_C"]

ELEMENTARY_CHARGE_C = 1.602176634e-19

_UNIT_TO_M = {"m": 1.0, "mm": 1e-3, "um": 1e-6, "µm": 1e-6, "nm": 1e-9, "Å": 1e-10, "A": 1e-10, "pm": 1e-12}
_IMAGE_CHANNELS = ("HAADF", "MAADF")

T = TypeVar("T")


@dataclass(frozen=True)
class _Overview:
    """Geometry of the latest overview (what probe fractions refer to)."""

    frame_id: str
    y_edge_m: float  # position of the top edge of the first row
    x_edge_m: float
    extent_yx_m: tuple[float, float]
    stage_yx_m: tuple[float, float]


def _metres(units: str) -> float:
    factor = _UNIT_TO_M.get(units)
    if factor is None:
        raise InstrumentError(f"scan calibration in unknown units {units!r}")
    return factor


class NionDriver:
    """Nion Swift (or its usim simulator) behind the Driver protocol.

    Args:
        simulator: bring up ``nionswift-usim`` in this process (``False``: attach to the hardware
            sources already registered, e.g. inside Nion Swift).
        sample_index: usim sample (0 flakes, 1 amorphous, 2 gold balls); simulator only.
        config_dir: hardware-source configuration folder; ``None``: a fresh temporary one.
        scan_device_id: hardware source id of the scan device.
        eels_device_id: hardware source id of the EELS camera.
        default_fov_m: field of view when ``acquire_overview`` gets ``fov_m=None`` (metres).
        default_shape_px: overview shape when ``shape_px=None`` (ny, nx).
        default_dwell_s: pixel dwell when ``dwell_s=None`` (seconds).
        max_fov_m: largest field of view (metres; usim's scan allows 1600 nm).
        max_shape_px: largest overview side (pixels).
        max_dwell_s: longest pixel dwell (seconds).
        max_exposure_s: longest EELS exposure (seconds).
        eels_binning: camera binning (1: 1024 channels of 0.5 eV on usim).
        stage_limit_m: largest stage travel from the start position along each axis (metres).
        sync_timeout_s: extra time granted to the hardware beyond the nominal acquisition time when
            a call gives no ``timeout_s`` (seconds).
    """

    def __init__(
        self,
        simulator: bool = True,
        sample_index: int = 0,
        config_dir: str | Path | None = None,
        scan_device_id: str = "usim_scan_device",
        eels_device_id: str = "usim_eels_camera",
        default_fov_m: float = 100e-9,
        default_shape_px: tuple[int, int] = (256, 256),
        default_dwell_s: float = 2e-6,
        max_fov_m: float = 1.6e-6,
        max_shape_px: int = 2048,
        max_dwell_s: float = 1e-3,
        max_exposure_s: float = 10.0,
        eels_binning: int = 1,
        stage_limit_m: float = 500e-9,
        sync_timeout_s: float = 10.0,
    ) -> None:
        for name, value in (("default_fov_m", default_fov_m), ("default_dwell_s", default_dwell_s),
                            ("max_fov_m", max_fov_m), ("max_dwell_s", max_dwell_s),
                            ("max_exposure_s", max_exposure_s), ("stage_limit_m", stage_limit_m),
                            ("sync_timeout_s", sync_timeout_s)):
            if not (math.isfinite(float(value)) and float(value) > 0):
                raise InvalidArgument(f"{name}={value!r} must be finite and > 0")
        if int(eels_binning) < 1:
            raise InvalidArgument(f"eels_binning={eels_binning!r} must be >= 1")
        self.default_fov_m = float(default_fov_m)
        self.default_shape_px = (int(default_shape_px[0]), int(default_shape_px[1]))
        self.default_dwell_s = float(default_dwell_s)
        self.max_fov_m = float(max_fov_m)
        self.max_shape_px = int(max_shape_px)
        self.max_dwell_s = float(max_dwell_s)
        self.max_exposure_s = float(max_exposure_s)
        self.eels_binning = int(eels_binning)
        self.stage_limit_m = float(stage_limit_m)
        self.sync_timeout_s = float(sync_timeout_s)
        self.simulator = bool(simulator)
        self._lock = threading.RLock()
        self._abort = threading.Event()
        self._closed = False
        self._session: UsimSession | None = None
        self._overview: _Overview | None = None
        self._old_frames: set[str] = set()
        self._probe: ProbeState | None = None
        self._stage_yx_m = (0.0, 0.0)
        # the vendor's scan/camera objects are dynamic (ScanHardwareSource, CameraHardwareSource)
        self._scan: Any
        self._eels: Any
        self._instrument: Any
        if simulator:
            self._session = UsimSession(config_dir=config_dir, sample_index=sample_index)
            self._scan, self._eels, self._instrument = self._session.scan, self._session.eels, self._session.instrument
        else:
            self._scan, self._eels, self._instrument = self._attach(scan_device_id, eels_device_id)
        self._blanked = False
        try:
            self.blank()
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _attach(scan_device_id: str, eels_device_id: str) -> tuple[Any, Any, Any]:
        from nion.instrumentation import HardwareSource
        from nion.utils import Registry

        manager = HardwareSource.HardwareSourceManager()
        scan = manager.get_hardware_source_for_hardware_source_id(scan_device_id)
        eels = manager.get_hardware_source_for_hardware_source_id(eels_device_id)
        instrument = Registry.get_component("stem_controller")
        missing = [name for name, obj in (("scan device " + scan_device_id, scan),
                                          ("EELS camera " + eels_device_id, eels),
                                          ("stem_controller", instrument)) if obj is None]
        if missing:
            raise InstrumentError(
                f"Nion Swift has no {', '.join(missing)} registered in this process; "
                "run inside Swift or use simulator=True"
            )
        return scan, eels, instrument

    # ------------------------------------------------------------------ helpers
    def _check_open(self) -> None:
        if self._closed:
            raise InstrumentError("NionDriver is closed")

    def _check_beam(self, verb: str) -> None:
        if self._blanked:
            raise SafetyInterlock(f"{verb}: the beam is blanked; unblank() first "
                                  "(the safety layer does it per acquisition)")

    def _beam_current_A(self) -> float:
        try:
            return float(self._instrument.GetVal("BeamCurrent"))
        except Exception:  # noqa: BLE001 - not every instrument names it so
            return float("nan")

    @contextmanager
    def _vendor(self, verb: str) -> Iterator[None]:
        """Nion reports faults untyped: AssertionError and "Could not start" are timeouts, the rest
        becomes InstrumentError with Nion's own words."""
        try:
            yield
        except DriverError:
            raise
        except AssertionError as exc:
            raise Timeout(f"{verb}: the hardware did not respond in time ({exc or 'sync timeout'})") from exc
        except Exception as exc:  # noqa: BLE001 - Nion raises bare Exception
            if "Could not start" in str(exc):
                raise Timeout(f"{verb}: {exc}") from exc
            raise InstrumentError(f"{verb} failed", f"{type(exc).__name__}: {exc}") from exc

    def _in_worker(self, verb: str, fn: Callable[[], T], timeout_s: float, on_timeout: Callable[[], None]) -> T:
        """Run a Nion call that has no timeout of its own; past ``timeout_s`` abort and raise Timeout."""
        box: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            try:
                box["value"] = fn()
            except BaseException as exc:  # noqa: BLE001 - handed over
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=work, name=f"nion-{verb}", daemon=True).start()
        if not done.wait(timeout_s):
            on_timeout()
            done.wait(self.sync_timeout_s)
            raise Timeout(f"{verb} did not finish within timeout_s={timeout_s:g} s; it was aborted")
        if "error" in box:
            raise box["error"]
        return box["value"]

    # ------------------------------------------------------------------ protocol
    def capabilities(self) -> Capabilities:
        return Capabilities(
            detectors=_IMAGE_CHANNELS + ("EELS",),
            signal_units={"EELS": "eV"},
            max_fov_m=self.max_fov_m,
            max_exposure_s=self.max_exposure_s,
            verbs=("state", "move_stage"),
            backend="nion-usim" if self.simulator else "nion-swift",
            intensity_units={"EELS": "counts"},
        )

    def state(self) -> dict[str, Any]:
        """High tension (V), beam current (A), blanked, stage travel (m), probe, latest overview."""
        self._check_open()
        try:
            high_tension = float(self._instrument.GetVal("EHT"))
        except Exception:  # noqa: BLE001
            high_tension = float("nan")
        probe = self._probe
        overview = self._overview
        return {
            "high_tension_V": high_tension,
            "beam_current_A": self._beam_current_A(),
            "blanked": self._blanked,
            "stage_yx_m": self._stage_yx_m,
            "probe_yx_m": None if probe is None else probe.yx_m,
            "probe_yx_frac": None if probe is None else probe.yx_frac,
            "overview_frame_id": None if overview is None else overview.frame_id,
            "fov_yx_m": None if overview is None else overview.extent_yx_m,
            "backend": "nion-usim" if self.simulator else "nion-swift",
        }

    def acquire_overview(
        self,
        fov_m: float | None,
        shape_px: tuple[int, int] | None,
        dwell_s: float | None,
        detector: str = "HAADF",
        timeout_s: float | None = None,
    ) -> Frame:
        fov = self.default_fov_m if fov_m is None else float(fov_m)
        shape = self.default_shape_px if shape_px is None else shape_px
        dwell = self.default_dwell_s if dwell_s is None else float(dwell_s)
        if detector not in _IMAGE_CHANNELS:
            raise NotSupported(f"detector={detector!r}: the scan offers {list(_IMAGE_CHANNELS)}")
        if not (math.isfinite(fov) and 0 < fov <= self.max_fov_m):
            raise InvalidArgument(f"fov_m={fov_m!r} outside (0, {self.max_fov_m:g}] m")
        try:
            ny, nx = int(shape[0]), int(shape[1])
        except (TypeError, ValueError, IndexError) as exc:
            raise InvalidArgument(f"shape_px={shape_px!r} must be (ny, nx) integers") from exc
        if len(shape) != 2 or not (1 <= ny <= self.max_shape_px and 1 <= nx <= self.max_shape_px):
            raise InvalidArgument(f"shape_px={shape_px!r}: each side must lie in 1..{self.max_shape_px}")
        if not (math.isfinite(dwell) and 0 < dwell <= self.max_dwell_s):
            raise InvalidArgument(f"dwell_s={dwell_s!r} outside (0, {self.max_dwell_s:g}] s")
        nominal_s = dwell * ny * nx
        timeout = nominal_s + self.sync_timeout_s if timeout_s is None else float(timeout_s)
        if not (math.isfinite(timeout) and timeout > 0):
            raise InvalidArgument(f"timeout_s={timeout_s!r} must be finite and > 0")
        with self._lock, self._vendor("acquire_overview"):
            self._check_open()
            self._check_beam("acquire_overview")
            from nion.utils import Geometry

            self._abort.clear()
            self._wait_idle(self._eels, "acquire_overview")
            channel = _IMAGE_CHANNELS.index(detector)
            for index in range(len(_IMAGE_CHANNELS)):
                self._scan.set_channel_enabled(index, index == channel)
            fp = self._scan.get_current_frame_parameters()
            fp.size = Geometry.IntSize(height=ny, width=nx)
            fp.fov_nm = fov * 1e9
            fp.pixel_time_us = dwell * 1e6
            fp.center_nm = Geometry.FloatPoint(y=0.0, x=0.0)
            fp.rotation_rad = 0.0
            # frame parameters first: they also set the scan context that probe fractions refer to
            self._scan.set_current_frame_parameters(fp)
            started_s = time.time()
            xdatas = self._in_worker(
                "acquire_overview",
                lambda: self._scan.record_immediate(fp, sync_timeout=self.sync_timeout_s),
                timeout,
                self._abort_scan,
            )
            if self._abort.is_set():
                raise Aborted("acquire_overview was stopped")
            xdata = self._pick_channel(xdatas, detector)
            data = np.asarray(xdata.data)
            if data.shape != (ny, nx):
                raise InstrumentError(f"scan returned shape {data.shape}, asked for {(ny, nx)}")
            cal_y, cal_x = xdata.dimensional_calibrations
            fy, fx = _metres(cal_y.units), _metres(cal_x.units)
            y_edge, x_edge = cal_y.offset * fy, cal_x.offset * fx
            pitch_y, pitch_x = cal_y.scale * fy, cal_x.scale * fx
            ys = y_edge + (np.arange(ny) + 0.5) * pitch_y
            xs = x_edge + (np.arange(nx) + 0.5) * pitch_x
            frame_id = f"nion-{uuid.uuid4().hex[:12]}"
            if self._overview is not None:
                self._old_frames.add(self._overview.frame_id)
            self._overview = _Overview(frame_id, y_edge, x_edge, (pitch_y * ny, pitch_x * nx), self._stage_yx_m)
            self._probe = None  # the scan context changed: the old fraction means something else
            current = self._beam_current_A()
            metadata = {
                "time_s": started_s,
                "dwell_s": dwell,
                "fov_m": fov,
                "detector": detector,
                "backend": "nion-usim" if self.simulator else "nion-swift",
                "stage_yx_m": self._stage_yx_m,
                "beam_current_A": current,
                "dose_e": current * nominal_s / ELEMENTARY_CHARGE_C if math.isfinite(current) else None,
            }
            return Frame(data, (Axis("y", "m", ys), Axis("x", "m", xs)), frame_id, metadata)

    def _wait_idle(self, source: Any, verb: str) -> None:
        """Abort ``source`` if it plays and wait (``sync_timeout_s``) for an aborted frame to end."""
        if not source.is_playing:
            return
        source.abort_playing()
        deadline = time.monotonic() + self.sync_timeout_s
        while source.is_playing:
            if time.monotonic() > deadline:
                raise Timeout(f"{verb}: {source.hardware_source_id} still busy after {self.sync_timeout_s:g} s")
            time.sleep(0.005)

    @staticmethod
    def _pick_channel(xdatas: Any, detector: str) -> Any:
        found = [x for x in (xdatas or []) if x is not None]
        for xdata in found:
            meta = xdata.metadata.get("hardware_source", {}) if xdata.metadata else {}
            if meta.get("channel_name") == detector:
                return xdata
        if len(found) == 1:
            return found[0]
        raise InstrumentError(f"the scan returned no {detector} channel ({len(found)} channels)")

    def _abort_scan(self) -> None:
        try:
            self._scan.abort_recording(sync_timeout=self.sync_timeout_s)
        except Exception:  # noqa: BLE001 - best effort during an abort
            pass
        try:
            self._scan.abort_playing(sync_timeout=self.sync_timeout_s)
        except Exception:  # noqa: BLE001
            pass

    def set_probe(
        self,
        frame_id: str,
        yx_frac: tuple[float, float] | None = None,
        yx_m: tuple[float, float] | None = None,
    ) -> ProbeState:
        with self._lock, self._vendor("set_probe"):
            self._check_open()
            if (yx_frac is None) == (yx_m is None):
                raise InvalidArgument("set_probe: give exactly one of yx_frac or yx_m")
            overview = self._overview
            if overview is None or frame_id != overview.frame_id:
                why = "is an older overview" if frame_id in self._old_frames else "is unknown"
                raise InvalidArgument(
                    f"set_probe: frame_id {frame_id!r} {why}; probe positions refer to the latest overview "
                    f"({None if overview is None else overview.frame_id})"
                )
            if overview.stage_yx_m != self._stage_yx_m:
                raise InvalidArgument(
                    f"set_probe: the stage moved since overview {frame_id}; acquire a new overview first"
                )
            if yx_frac is not None:
                field = "yx_frac"
                frac = (float(yx_frac[0]), float(yx_frac[1]))
            else:
                assert yx_m is not None
                field = "yx_m"
                frac = (
                    (float(yx_m[0]) - overview.y_edge_m) / overview.extent_yx_m[0],
                    (float(yx_m[1]) - overview.x_edge_m) / overview.extent_yx_m[1],
                )
            if not all(math.isfinite(f) and 0.0 <= f <= 1.0 for f in frac):
                given = yx_frac if yx_frac is not None else yx_m
                raise InvalidArgument(
                    f"set_probe: {field}={given} lies outside overview {frame_id} (fraction {frac}; "
                    "must be within [0, 1]); Nion would clamp it silently, this driver refuses"
                )
            from nion.utils import Geometry

            self._instrument.probe_position = Geometry.FloatPoint(y=frac[0], x=frac[1])
            metres = (
                overview.y_edge_m + frac[0] * overview.extent_yx_m[0],
                overview.x_edge_m + frac[1] * overview.extent_yx_m[1],
            )
            self._probe = ProbeState(frame_id, metres, frac, self._blanked)
            return self._probe

    def acquire_spectrum(self, exposure_s: float, detector: str = "EELS", timeout_s: float | None = None) -> Frame:
        if detector != "EELS":
            raise NotSupported(f"detector={detector!r}: the spectrometer is 'EELS'")
        exposure = float(exposure_s)
        if not (math.isfinite(exposure) and 0 < exposure <= self.max_exposure_s):
            raise InvalidArgument(f"exposure_s={exposure_s!r} outside (0, {self.max_exposure_s:g}] s")
        timeout = exposure + self.sync_timeout_s if timeout_s is None else float(timeout_s)
        if not (math.isfinite(timeout) and timeout > 0):
            raise InvalidArgument(f"timeout_s={timeout_s!r} must be finite and > 0")
        with self._lock, self._vendor("acquire_spectrum"):
            self._check_open()
            if self._probe is None:
                raise InvalidArgument("acquire_spectrum: no probe position; call set_probe(...) after the overview")
            self._check_beam("acquire_spectrum")
            self._abort.clear()
            if self._scan.is_playing:
                self._scan.abort_playing(sync_timeout=self.sync_timeout_s)
            self._wait_idle(self._eels, "acquire_spectrum")
            fp = self._eels.get_current_frame_parameters()
            fp.exposure_ms = exposure * 1000.0
            fp.binning = self.eels_binning
            fp.processing = None
            fp.integration_count = 1
            self._eels.set_current_frame_parameters(fp)
            started_s = time.time()
            deadline = time.monotonic() + timeout
            xdata = None
            self._eels.start_playing()
            try:
                for _ in range(4):  # a frame begun before the new settings may finish first
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    try:
                        xdatas = self._eels.get_next_xdatas_to_finish(timeout=left)
                    except Exception as exc:  # Nion signals timeouts with a bare Exception
                        if self._abort.is_set():
                            raise Aborted("acquire_spectrum was stopped") from exc
                        raise Timeout(f"acquire_spectrum: no EELS frame within timeout_s={timeout:g} s "
                                      f"({exc})") from exc
                    if self._abort.is_set() or not xdatas:
                        raise Aborted("acquire_spectrum was stopped")
                    candidate = xdatas[0]
                    if candidate is None:
                        continue
                    meta = (candidate.metadata or {}).get("hardware_source", {})
                    if math.isclose(float(meta.get("exposure", exposure)), exposure, rel_tol=1e-6):
                        xdata = candidate
                        break
            finally:
                # a finished acquisition stops gracefully; a timed-out or stopped one aborts without
                # waiting (usim cannot cut an exposure short: the next acquisition waits for it instead)
                try:
                    if xdata is not None:
                        self._eels.stop_playing(sync_timeout=self.sync_timeout_s)
                    else:
                        self._eels.abort_playing()
                except Exception:  # noqa: BLE001 - AssertionError on a sync timeout: abort instead
                    self._eels.abort_playing()
            if xdata is None:
                raise Timeout(f"acquire_spectrum: no EELS frame with exposure {exposure:g} s within {timeout:g} s")
            raw = np.asarray(xdata.data)
            spectrum = raw.sum(axis=0, dtype=np.float64) if raw.ndim == 2 else raw.astype(np.float64)
            cal = xdata.dimensional_calibrations[-1]
            if cal.units != "eV":
                raise InstrumentError(f"EELS energy calibration in {cal.units!r}, expected 'eV'")
            energy = cal.offset + cal.scale * np.arange(spectrum.shape[0], dtype=np.float64)
            current = self._beam_current_A()
            metadata = {
                "time_s": started_s,
                "exposure_s": exposure,
                "detector": detector,
                "backend": "nion-usim" if self.simulator else "nion-swift",
                "probe_yx_m": self._probe.yx_m,
                "probe_yx_frac": self._probe.yx_frac,
                "overview_frame_id": self._probe.frame_id,
                "stage_yx_m": self._stage_yx_m,
                "beam_current_A": current,
                "dose_e": current * exposure / ELEMENTARY_CHARGE_C if math.isfinite(current) else None,
                "raw_shape": list(raw.shape),
            }
            return Frame(spectrum, (Axis("energy_loss", "eV", energy),), f"nion-{uuid.uuid4().hex[:12]}", metadata)

    def move_stage(self, dy_m: float, dx_m: float, relative: bool = True, timeout_s: float | None = None) -> None:
        """Move the stage by (``relative``) or to (travel since open) ``(dy_m, dx_m)`` metres."""
        dy, dx = float(dy_m), float(dx_m)
        if not (math.isfinite(dy) and math.isfinite(dx)):
            raise InvalidArgument(f"move_stage: dy_m={dy_m!r}, dx_m={dx_m!r} must be finite")
        with self._lock, self._vendor("move_stage"):
            self._check_open()
            target = (self._stage_yx_m[0] + dy, self._stage_yx_m[1] + dx) if relative else (dy, dx)
            if max(abs(target[0]), abs(target[1])) > self.stage_limit_m:
                raise InvalidArgument(
                    f"move_stage: travel {target} m would exceed stage_limit_m={self.stage_limit_m:g} m from the start"
                )
            delta = (target[0] - self._stage_yx_m[0], target[1] - self._stage_yx_m[1])
            self._instrument.change_stage_position(dy=delta[0], dx=delta[1])
            self._stage_yx_m = target
            self._probe = None

    def blank(self) -> None:
        self._check_open()
        with self._vendor("blank"):
            accepted = self._instrument.SetVal("C_Blank", 1.0)
        if not accepted:
            raise InstrumentError("blank: the instrument refused C_Blank = 1")
        self._blanked = True

    def unblank(self) -> None:
        self._check_open()
        with self._vendor("unblank"):
            accepted = self._instrument.SetVal("C_Blank", 0.0)
        if not accepted:
            raise InstrumentError("unblank: the instrument refused C_Blank = 0")
        self._blanked = False

    @property
    def blanked(self) -> bool:
        return self._blanked

    def stop(self) -> None:
        """Abort the running acquisition (it raises ``Aborted``) and blank. Callable from any thread."""
        if self._closed:
            return
        self._abort.set()
        for abort in (lambda: self._eels.abort_playing(), self._abort_scan):
            try:
                abort()
            except Exception:  # noqa: BLE001 - keep going: blanking matters most
                pass
        self.blank()

    def close(self) -> None:
        """Stop, blank, and (simulator) tear usim down; idempotent."""
        if self._closed:
            return
        try:
            self.stop()
        finally:
            self._closed = True
            if self._session is not None:
                self._session.close()
                self._session = None

    def __enter__(self) -> NionDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
