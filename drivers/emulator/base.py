"""``PointProbeEmulator``: the instrument life cycle shared by the point-probe emulators.

A point-probe instrument scans overview images and parks a probe (an electron probe, an AFM tip) at
one position to acquire a signal there. This base class holds everything that does not depend on
the physics; :class:`drivers.emulator.PlasmonEmulator`, :class:`drivers.pfm.PFMEmulator` and
:class:`drivers.fourd.FourDSTEMEmulator` build on it:

* **Overview frames.** ``acquire_overview`` registers each frame under an id; positions given to
  ``set_probe`` as fractions ``f`` of a frame map to metres ``-fov/2 + f * fov`` (pixel ``i``
  centre is ``(i + 0.5) / n``); out of range is refused, never clamped.
* **Clock.** :mod:`drivers.emulator.clock`: ``"virtual"`` advances instantly and deterministically,
  ``"real"`` really sleeps; ``stop()`` from another thread aborts a running wait (``Aborted``), and
  a ``timeout_s`` shorter than the acquisition raises ``Timeout`` after waiting ``timeout_s``.
* **Blanking.** The probe is blanked (beam blanked, tip bias off) except during an acquisition,
  and after an explicit ``unblank()`` until the next acquisition ends.
* **Dose.** Every acquisition books ``dose_e = electrons(beam-on time)`` (zero for an instrument
  without an electron beam); spot doses are also given per :attr:`probe_area_A2`, overview doses
  per scanned area.
* **Drift.** The sample moves by ``drift_m_per_s * time_s``; what the probe sees is shifted by it.
* **Noise.** Overviews are seeded from (``seed``, field, shape, dwell, detector, drift so far),
  spectra from (``seed``, position rounded to 1e-12 m, ``exposure_s``) via
  :func:`drivers.emulator.seeding.seeded_rng`.
* **Lifecycle.** After ``close()`` every instrument verb raises ``ConnectionLost``; ``close()`` may
  be called again.

Subclasses set :attr:`backend`, :attr:`image_detectors`, :attr:`spectrometers`,
:attr:`signal_units`, :attr:`capability_verbs` and the signal axis ``_axis``, describe the beam
with :attr:`beam_electrons_per_s` (or :meth:`electrons`) and :attr:`probe_area_A2`, render with
:meth:`_render_overview` / :meth:`_render_spectrum`, and write ``acquire_overview`` /
``acquire_spectrum`` on :meth:`_scan` / :meth:`_measure`. :class:`ElectronProbeEmulator` adds the
electron beam (current, high tension, probe size).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any, ClassVar, Unpack

import numpy as np

from drivers.errors import Aborted, ConnectionLost, InvalidArgument, NotSupported, Timeout
from drivers.frames import Axis, Capabilities, Frame, ProbeState

from .clock import make_clock
from .physics import E_CHARGE_C
from .sample import as_points
from .scan import ScanKwargs, ScanSettings
from .seeding import seeded_rng
from .validation import pair, positive, shape

__all__ = ["A2_PER_M2", "ElectronProbeEmulator", "PointProbeEmulator", "gaussian_sigma_px"]

A2_PER_M2 = 1e20
"""Square angstroms per square metre."""

class PointProbeEmulator:
    """Instrument life cycle of an emulated point-probe microscope (see the module docstring).

    Args:
        **scan: the :class:`drivers.emulator.ScanSettings` keywords (``seed``,
            ``sample_extent_m``, exposure limits, readout and settle times, overview defaults,
            ``clock``, ``drift_m_per_s``); what is left out comes from :attr:`SCAN_DEFAULTS`.
            Each becomes an attribute of the same name, cleaned (``overview_fov_m`` resolved to
            the sample extent when ``None``; ``clock`` is kept as :attr:`clock_kind`); the whole
            set is :attr:`scan`.
    """

    SCAN_DEFAULTS: ClassVar[ScanSettings] = ScanSettings()
    """The emulator's own defaults of the scan keywords (a subclass sets its instrument's)."""
    backend: str = "emulator"
    image_detectors: tuple[str, ...] = ()
    spectrometers: tuple[str, ...] = ()
    signal_units: ClassVar[Mapping[str, str]] = {}
    """Units of each spectrometer's signal axis (``Capabilities.signal_units``)."""
    intensity_units: ClassVar[Mapping[str, str]] = {}
    """Units of each spectrometer's values (``Capabilities.intensity_units``; ``"counts"`` if not named)."""
    capability_verbs: ClassVar[tuple[str, ...]] = ()
    """Optional verbs on top of the core protocol (``Capabilities.verbs``)."""
    _axis: Axis
    """Signal axis of every spectrum (set by the subclass)."""

    def __init__(self, **scan: Unpack[ScanKwargs]) -> None:
        # the flat keywords may be ints, lists or OmegaConf lists: ScanSettings cleans them
        settings = replace(self.SCAN_DEFAULTS, **scan)  # type: ignore[arg-type]
        self.scan = settings
        self.seed = settings.seed
        self.sample_extent_m = settings.sample_extent_m
        self.default_exposure_s = settings.default_exposure_s
        self.max_exposure_s = settings.max_exposure_s
        self.readout_s = settings.readout_s
        self.settle_s = settings.settle_s
        self.overview_fov_m = settings.fov_m
        self.overview_shape_px = settings.overview_shape_px
        self.overview_dwell_s = settings.overview_dwell_s
        self.max_dwell_s = settings.max_dwell_s
        self.line_flyback_s = settings.line_flyback_s
        self.max_overview_px = settings.max_overview_px
        self.clock_kind = settings.clock
        self.drift_m_per_s = settings.drift_m_per_s
        self._clock = make_clock(settings.clock)
        self._abort = threading.Event()
        self._lock = threading.Lock()
        self._frames: dict[str, tuple[float, tuple[int, int]]] = {}
        self._probe: ProbeState | None = None
        self._blanked = True
        self._closed = False
        self._n_overviews = 0
        self._n_spectra = 0
        self._dose_e = 0.0
        self._spot_dose_e = 0.0
        self._overview_dose_e_per_A2 = 0.0
        self._last_dose_e = 0.0
        self._last_dose_e_per_A2 = 0.0

    # -- what subclasses describe ------------------------------------------------------------
    @property
    def beam_electrons_per_s(self) -> float:
        """Electrons per second through the probe while unblanked (0 without an electron beam)."""
        return 0.0

    @property
    def probe_area_A2(self) -> float:
        """Area over which a spot dose is spread (square angstroms)."""
        return 1.0

    def electrons(self, duration_s: float) -> float:
        """Electrons in the beam over ``duration_s`` seconds."""
        return self.beam_electrons_per_s * duration_s

    def _render_overview(self, pts: np.ndarray, shape_px: tuple[int, int],
                         pixel_m: tuple[float, float], dwell_s: float, detector: str,
                         rng: np.random.Generator) -> np.ndarray:
        """The ``(ny, nx)`` image of ``detector`` over the sample points ``pts: (ny * nx, 2)``
        metres (row-major, drift applied), pixels of ``pixel_m = (dy, dx)`` metres, noise from
        ``rng``."""
        raise NotImplementedError(f"{type(self).__name__} does not render overviews")

    def _render_spectrum(self, y_m: float, x_m: float, exposure_s: float,
                         key: tuple[int, int, int, float]) -> np.ndarray:
        """The measured signal at sample point ``(y_m, x_m)`` (drift applied); ``key = (seed,
        y / 1e-12 rounded, x / 1e-12 rounded, exposure_s)`` seeds its noise."""
        raise NotImplementedError(f"{type(self).__name__} does not render spectra")

    def _overview_metadata(self, detector: str) -> dict[str, Any]:
        """Frame metadata an overview of ``detector`` adds to the common keys (its ``units``)."""
        return {"units": "counts"}

    def _spectrum_metadata(self) -> dict[str, Any]:
        """Frame metadata a spectrum adds to the common keys (its ``units`` at least)."""
        return {"units": "counts"}

    # -- read-only state ---------------------------------------------------------------------
    @property
    def signal_axis(self) -> Axis:
        """The signal axis of every spectrum, measured or expected (:class:`drivers.GroundTruth`)."""
        return self._axis

    @property
    def time_s(self) -> float:
        """Instrument time (seconds since construction; virtual or real per ``clock``)."""
        return self._clock.time_s

    @property
    def blanked(self) -> bool:
        return self._blanked

    @property
    def probe(self) -> ProbeState | None:
        """Where the probe is parked (``None`` before the first ``set_probe``)."""
        return self._probe

    @property
    def dose_e(self) -> float:
        """Total electrons delivered to the sample (overviews, spectra, unblanked waits)."""
        return self._dose_e

    @property
    def spot_dose_e(self) -> float:
        """Electrons delivered through the parked probe (spectra and unblanked settling)."""
        return self._spot_dose_e

    @property
    def dose_e_per_A2(self) -> float:
        """``spot_dose_e`` over the probe area (e/A^2): the areal dose if every spot coincided."""
        return self._spot_dose_e / self.probe_area_A2

    @property
    def overview_dose_e_per_A2(self) -> float:
        """Sum of the overviews' doses per scanned area (e/A^2)."""
        return self._overview_dose_e_per_A2

    @property
    def last_dose_e(self) -> float:
        """Electrons of the latest acquisition."""
        return self._last_dose_e

    @property
    def last_dose_e_per_A2(self) -> float:
        """Areal dose of the latest acquisition (per probe area for a spectrum, per scanned area
        for an overview), e/A^2."""
        return self._last_dose_e_per_A2

    def state(self) -> dict[str, Any]:
        """Plain-dict instrument state: probe, last field of view, clock and dose."""
        self._check_open()
        last_fov = None
        if self._frames:
            last_fov = self._frames[next(reversed(self._frames))][0]
        return {
            "backend": self.backend,
            "blanked": self._blanked,
            "probe": None if self._probe is None else asdict(self._probe),
            "fov_m": last_fov,
            "stage_yx_m": (0.0, 0.0),
            "time_s": self.time_s,
            "dose_e": self._dose_e,
            "spot_dose_e": self._spot_dose_e,
            "dose_e_per_A2": self.dose_e_per_A2,
            "n_overviews": self._n_overviews,
            "n_spectra": self._n_spectra,
        }

    # -- protocol verbs shared by every point-probe emulator ---------------------------------
    def capabilities(self) -> Capabilities:
        self._check_open()
        return Capabilities(
            detectors=self.image_detectors + self.spectrometers,
            signal_units=dict(self.signal_units),
            max_fov_m=self.sample_extent_m,
            max_exposure_s=self.max_exposure_s,
            verbs=self.capability_verbs,
            backend=f"{self.backend} ({type(self).__name__} seed={self.seed})",
            intensity_units=dict(self.intensity_units),
        )

    def set_probe(
        self,
        frame_id: str,
        yx_frac: tuple[float, float] | None = None,
        yx_m: tuple[float, float] | None = None,
    ) -> ProbeState:
        """Park the (blanked) probe at a fraction of overview ``frame_id`` (``f`` -> metres
        ``-fov/2 + f * fov``, so pixel ``i`` centre is ``(i + 0.5) / n``) or at metres in that
        frame's calibration. Exactly one of ``yx_frac`` and ``yx_m``; out of range is refused."""
        self._check_open()
        if frame_id not in self._frames:
            known = list(self._frames)[-3:]
            raise InvalidArgument(f"frame_id={frame_id!r} is not an overview of this emulator "
                                  f"(latest: {known}); acquire an overview first")
        if (yx_frac is None) == (yx_m is None):
            which = "both" if yx_frac is not None else "neither"
            raise InvalidArgument(f"set_probe needs exactly one of yx_frac and yx_m, got {which}")
        fov, _ = self._frames[frame_id]
        half = 0.5 * fov
        if yx_frac is not None:
            frac = pair("yx_frac", yx_frac)
            if not all(0.0 <= f <= 1.0 for f in frac):
                raise InvalidArgument(f"yx_frac={tuple(yx_frac)!r} must lie in [0, 1] on both axes")
            pos = (-half + frac[0] * fov, -half + frac[1] * fov)
        else:
            assert yx_m is not None  # exactly one of yx_frac and yx_m was given
            pos = pair("yx_m", yx_m)
            tol = 1e-12 * fov
            if not all(-half - tol <= p <= half + tol for p in pos):
                raise InvalidArgument(f"yx_m={tuple(yx_m)!r} lies outside frame {frame_id!r}, "
                                      f"whose field spans [{-half!r}, {half!r}] m on both axes")
            frac = ((pos[0] + half) / fov, (pos[1] + half) / fov)
        with self._lock:
            self._wait_settle()
            self._probe = ProbeState(frame_id, (float(pos[0]), float(pos[1])),
                                     (float(frac[0]), float(frac[1])), self._blanked)
        return self._probe

    def blank(self) -> None:
        self._check_open()
        self._blanked = True
        self._reflect_blank()

    def unblank(self) -> None:
        """Open the probe (beam, tip bias) at its parked position until the next acquisition
        ends (dose accrues over any waiting, e.g. probe settling, meanwhile)."""
        self._check_open()
        self._blanked = False
        self._reflect_blank()

    def stop(self) -> None:
        """Abort a running acquisition (it raises ``Aborted``; with the virtual clock nothing is
        ever running) and blank."""
        self._check_open()
        self._abort.set()
        self._blanked = True
        self._reflect_blank()

    def close(self) -> None:
        """Blank and disconnect; later instrument verbs raise ``ConnectionLost``. Idempotent."""
        if self._closed:
            return
        self._abort.set()
        self._blanked = True
        self._closed = True

    # -- what an acquisition costs ------------------------------------------------------------
    def acquisition_time_s(self, verb: str, *, shape_px: Any = None, dwell_s: float | None = None,
                           exposure_s: float | None = None) -> float:
        """Instrument time an ``acquire_overview`` (beam ``ny * nx * dwell`` plus ``ny`` line
        flybacks) or ``acquire_spectrum`` (``exposure + readout_s``) with these arguments takes;
        ``None`` takes the constructor default. The safety layer sizes its timeouts from it."""
        if verb == "acquire_overview":
            ny, nx = (self.overview_shape_px if shape_px is None
                      else shape("shape_px", shape_px, self.max_overview_px))
            dwell = self.overview_dwell_s if dwell_s is None else float(dwell_s)
            return ny * nx * dwell + ny * self.line_flyback_s
        if verb == "acquire_spectrum":
            exposure = self.default_exposure_s if exposure_s is None else float(exposure_s)
            return exposure + self.readout_s
        raise NotSupported(f"acquisition_time_s: no acquisition verb {verb!r}")

    # -- the bodies of acquire_overview / acquire_spectrum -----------------------------------
    def _scan(self, fov_m: float | None, shape_px: Any, dwell_s: float | None, detector: str,
              timeout_s: float | None) -> Frame:
        """Validate an overview request (``None`` takes the constructor default), render it with
        :meth:`_render_overview`, spend the scan time (beam on ``ny * nx * dwell``, plus flyback),
        book the dose and register the frame. Axes are pixel centres in metres."""
        self._check_open()
        if detector not in self.image_detectors:
            hint = (": it is a spectrometer, use acquire_spectrum"
                    if detector in self.spectrometers else "")
            raise NotSupported(f"detector={detector!r} is not an image detector of the "
                               f"{type(self).__name__}{hint}; "
                               f"use one of {list(self.image_detectors)}")
        fov = self.overview_fov_m if fov_m is None else positive("fov_m", fov_m, unit=" m")
        if fov > self.sample_extent_m:
            raise InvalidArgument(f"fov_m={fov_m!r} exceeds the largest field of view "
                                  f"{self.sample_extent_m!r} m (capabilities().max_fov_m)")
        ny, nx = (self.overview_shape_px if shape_px is None
                  else shape("shape_px", shape_px, self.max_overview_px))
        dwell = (self.overview_dwell_s if dwell_s is None
                 else positive("dwell_s", dwell_s, maximum=self.max_dwell_s, unit=" s"))
        timeout = self._timeout(timeout_s)

        ys = Axis.uniform("y", "m", -0.5 * fov + 0.5 * fov / ny, fov / ny, ny)
        xs = Axis.uniform("x", "m", -0.5 * fov + 0.5 * fov / nx, fov / nx, nx)
        yy, xx = np.meshgrid(ys.values, xs.values, indexing="ij")
        dy, dx = self._drift_offset_m()  # the sample has moved by (dy, dx): it is seen shifted
        pts = np.stack([(yy - dy).ravel(), (xx - dx).ravel()], axis=1)
        rng = seeded_rng("overview", self.seed, fov, ny, nx, dwell, detector, dy, dx)
        image = self._render_overview(pts, (ny, nx), (fov / ny, fov / nx), dwell, detector, rng)

        with self._lock:
            start = self.time_s
            beam_s = ny * nx * dwell
            duration = beam_s + ny * self.line_flyback_s
            elapsed, completed = self._expose(duration, timeout)
            dose = self.electrons(beam_s * min(1.0, elapsed / duration))
            per_area = dose / (fov * fov * A2_PER_M2)
            self._book(dose, per_area, spot=False)
            self._overview_dose_e_per_A2 += per_area
            self._finish(elapsed, completed, duration, timeout, "overview")
            self._n_overviews += 1
            frame_id = f"overview-{self._n_overviews:04d}"
            self._frames[frame_id] = (fov, (ny, nx))
        metadata = {
            "time_s": self.time_s, "start_time_s": start, "dwell_s": dwell, "fov_m": fov,
            "shape_px": (ny, nx), "pixel_size_m": (fov / ny, fov / nx), "detector": detector,
            "backend": self.backend, "seed": self.seed, "dose_e": dose, "dose_e_per_A2": per_area,
            **self._overview_metadata(detector),
        }
        return Frame(np.asarray(image, dtype=np.float64), (ys, xs), frame_id, metadata)

    def _measure(self, exposure_s: float, detector: str,
                 timeout_s: float | None) -> tuple[np.ndarray, str, dict[str, Any]]:
        """Validate a spectrum request, render it at the sample point under the parked probe
        with :meth:`_render_spectrum`, spend ``exposure + readout_s`` and book the spot dose;
        returns ``(data, frame_id, metadata)``."""
        self._check_open()
        if detector not in self.spectrometers:
            hint = ": it is an image detector, use acquire_overview" if (
                detector in self.image_detectors) else ""
            raise NotSupported(f"detector={detector!r} is not a spectrometer of the "
                               f"{type(self).__name__}{hint}; "
                               f"use one of {list(self.spectrometers)}")
        exposure = positive("exposure_s", exposure_s, maximum=self.max_exposure_s, unit=" s")
        timeout = self._timeout(timeout_s)
        if self._probe is None:
            raise InvalidArgument("no probe position yet: call set_probe(frame_id, yx_frac=...) "
                                  "before acquire_spectrum")
        probe = self._probe
        dy, dx = self._drift_offset_m()
        y, x = probe.yx_m[0] - dy, probe.yx_m[1] - dx  # the sample point under the probe
        key = (self.seed, int(round(y / 1e-12)), int(round(x / 1e-12)), exposure)
        rendered: list[np.ndarray] = []

        def render() -> None:  # computed during the exposure: the emulation costs no instrument time
            rendered.append(self._render_spectrum(y, x, exposure, key))

        with self._lock:
            start = self.time_s
            duration = exposure + self.readout_s
            elapsed, completed = self._expose(duration, timeout, during=render)
            data = rendered[0]
            dose = self.electrons(min(elapsed, exposure))
            per_area = dose / self.probe_area_A2
            self._book(dose, per_area, spot=True)
            self._finish(elapsed, completed, duration, timeout, "spectrum")
            self._n_spectra += 1
            frame_id = f"spectrum-{self._n_spectra:06d}"
        metadata = {
            "time_s": self.time_s, "start_time_s": start, "exposure_s": exposure,
            "readout_s": self.readout_s, "probe_yx_m": probe.yx_m, "probe_yx_frac": probe.yx_frac,
            "probe_frame_id": probe.frame_id, "detector": detector, "backend": self.backend,
            "seed": self.seed, "dose_e": dose, "dose_e_per_A2": per_area,
            **self._spectrum_metadata(),
        }
        return data, frame_id, metadata

    # -- ground-truth helpers ----------------------------------------------------------------
    def _gt_exposure(self, exposure_s: float | None) -> float:
        if exposure_s is None:
            return self.default_exposure_s
        return positive("exposure_s", exposure_s, unit=" s")

    @staticmethod
    def _one_point(yx_m: Sequence[float] | np.ndarray, verb: str, hint: str = "") -> np.ndarray:
        """``yx_m`` as a ``(1, 2)`` array; more than one position is refused by ``verb``."""
        pts = as_points(yx_m)
        if pts.shape[0] != 1:
            raise InvalidArgument(f"{verb} takes one (y, x) position, got {pts.shape[0]}{hint}")
        return pts

    # -- internals ---------------------------------------------------------------------------
    def _drift_offset_m(self) -> tuple[float, float]:
        """How far (y, x) the sample has drifted since the start (metres, ``drift_m_per_s`` x
        clock time). Ground truth is in sample coordinates and ignores drift."""
        t = self.time_s
        return self.drift_m_per_s[0] * t, self.drift_m_per_s[1] * t

    def _check_open(self) -> None:
        if self._closed:
            raise ConnectionLost(f"the emulator was closed; build a new {type(self).__name__}")

    def _timeout(self, timeout_s: float | None) -> float | None:
        return None if timeout_s is None else positive("timeout_s", timeout_s, unit=" s")

    def _reflect_blank(self) -> None:
        if self._probe is not None and self._probe.blanked != self._blanked:
            p = self._probe
            self._probe = ProbeState(p.frame_id, p.yx_m, p.yx_frac, self._blanked)

    def _wait_settle(self) -> None:
        self._clock.wait(self.settle_s)
        if not self._blanked:
            dose = self.electrons(self.settle_s)
            self._dose_e += dose
            self._spot_dose_e += dose

    def _expose(self, duration_s: float, timeout_s: float | None,
                during: Callable[[], None] | None = None) -> tuple[float, bool]:
        """Unblank and wait ``duration_s`` (or ``timeout_s`` when shorter); returns (the time
        that passed, whether the wait ran to its end). Blanks afterwards in every case.
        ``during`` (the emulation's own computing) runs first and counts towards the wait on a
        real clock, as a detector integrates while its electronics work."""
        self._abort.clear()
        self._blanked = False
        start = self.time_s
        wait = duration_s if timeout_s is None else min(duration_s, timeout_s)
        try:
            if during is not None:
                during()
            completed = self._clock.wait(max(0.0, wait - (self.time_s - start)), self._abort)
        finally:
            self._blanked = True
            self._reflect_blank()
        if completed and self.clock_kind == "virtual":
            return wait, True  # exact, free of round-off in the accumulated time
        return min(self.time_s - start, wait), completed

    def _finish(self, elapsed: float, completed: bool, duration: float, timeout: float | None,
                what: str) -> None:
        if not completed:
            raise Aborted(f"{what} stopped after {elapsed:.6g} s of {duration:.6g} s")
        if timeout is not None and duration > timeout:
            raise Timeout(f"{what} needs {duration:.6g} s but timeout_s={timeout!r}; "
                          f"raise timeout_s or shorten the acquisition")

    def _book(self, dose: float, per_area: float, spot: bool) -> None:
        self._dose_e += dose
        if spot:
            self._spot_dose_e += dose
        self._last_dose_e = dose
        self._last_dose_e_per_A2 = per_area


class ElectronProbeEmulator(PointProbeEmulator):
    """A :class:`PointProbeEmulator` with an electron beam: ``dose_e = beam_current_A * beam-on
    time / e``, spot doses per probe area ``pi (probe_fwhm_m / 2)^2`` in e/A^2; frames and
    ``state()`` carry ``beam_current_A`` (``state()`` also ``high_tension_V``).

    Args (on top of :class:`PointProbeEmulator`'s, keyword only):
        beam_current_A: probe current, in (0, 1e-6] A.
        high_tension_V: accelerating voltage, in [1e3, 1e6] V.
        probe_fwhm_m: probe diameter, in (0, 20e-9] m (overview blur and the dose area).
    """

    def __init__(self, *, beam_current_A: float, high_tension_V: float, probe_fwhm_m: float,
                 **scan: Unpack[ScanKwargs]) -> None:
        super().__init__(**scan)
        self.beam_current_A = positive("beam_current_A", beam_current_A, maximum=1e-6, unit=" A")
        self.high_tension_V = positive("high_tension_V", high_tension_V, maximum=1e6, unit=" V")
        if self.high_tension_V < 1e3:
            raise InvalidArgument(f"high_tension_V={high_tension_V!r} must be >= 1e3 V")
        self.probe_fwhm_m = positive("probe_fwhm_m", probe_fwhm_m, maximum=20e-9, unit=" m")

    @property
    def beam_electrons_per_s(self) -> float:
        return self.beam_current_A / E_CHARGE_C

    @property
    def probe_area_A2(self) -> float:
        """Probe area ``pi (probe_fwhm_m / 2)^2`` in square angstroms."""
        return math.pi * (0.5 * self.probe_fwhm_m) ** 2 * A2_PER_M2

    def state(self) -> dict[str, Any]:
        """Plain-dict instrument state: beam, probe, last field of view, clock and dose."""
        return {**super().state(), "high_tension_V": self.high_tension_V,
                "beam_current_A": self.beam_current_A}

    def _overview_metadata(self, detector: str) -> dict[str, Any]:
        return {"units": "counts", "beam_current_A": self.beam_current_A}

    def _spectrum_metadata(self) -> dict[str, Any]:
        return {"units": "counts", "beam_current_A": self.beam_current_A}


def gaussian_sigma_px(fwhm_m: float, pixel_m: float) -> float:
    """Gaussian sigma in pixels of a blur of full width ``fwhm_m`` on pixels of ``pixel_m``."""
    return fwhm_m / (2.0 * math.sqrt(2.0 * math.log(2.0))) / pixel_m
