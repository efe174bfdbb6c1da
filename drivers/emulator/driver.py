"""``PlasmonEmulator``: a STEM-EELS instrument over random Ag nanoparticles (the default driver)."""

from __future__ import annotations

import hashlib
import math
import struct
import threading
from dataclasses import asdict
from typing import Any, Callable, Sequence

import numpy as np
from scipy.ndimage import gaussian_filter

from drivers.errors import Aborted, ConnectionLost, InvalidArgument, NotSupported, Timeout
from drivers.frames import Axis, Capabilities, Frame, ProbeState
from drivers.truth import evaluate_reward
from rewards.errors import RewardError

from .clock import CLOCK_KINDS, make_clock
from .physics import E_CHARGE_C, Mode, SpectrumModel, detector_probability
from .sample import NM, PARTICLE_KINDS, Sample, as_points

__all__ = ["PlasmonEmulator", "EDGE_BAND_EV", "IMAGE_DETECTORS", "SPECTROMETERS"]

IMAGE_DETECTORS: tuple[str, ...] = ("HAADF", "BF")
SPECTROMETERS: tuple[str, ...] = ("EELS",)
EDGE_BAND_EV: tuple[float, float] = (1.5, 2.4)
"""Energy window (eV) that isolates the low-energy corner/edge dipole band (see the class docs)."""

_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
_A2_PER_M2 = 1e20
_GROUND_TRUTH_CHUNK = 2048


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _finite(name: str, value: object) -> float:
    if not _is_number(value) or not math.isfinite(float(value)):  # type: ignore[arg-type]
        raise InvalidArgument(f"{name}={value!r} must be a finite number")
    return float(value)  # type: ignore[arg-type]


def _positive(name: str, value: object, maximum: float | None = None,
              allow_zero: bool = False, unit: str = "") -> float:
    v = _finite(name, value)
    if v < 0.0 or (v == 0.0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidArgument(f"{name}={value!r} must be {bound}{unit}")
    if maximum is not None and v > maximum:
        raise InvalidArgument(f"{name}={value!r} exceeds the maximum {maximum!r}{unit}; "
                              f"pass a value <= {maximum!r}")
    return v


def _integer(name: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidArgument(f"{name}={value!r} must be an integer in [{lo}, {hi}]")
    if not lo <= int(value) <= hi:
        raise InvalidArgument(f"{name}={value!r} must lie in [{lo}, {hi}]")
    return int(value)


def _pair(name: str, value: object) -> tuple[float, float]:
    try:
        items = [float(v) for v in value]  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise InvalidArgument(f"{name}={value!r} must be a (y, x) pair of numbers") from None
    if len(items) != 2 or not all(math.isfinite(v) for v in items):
        raise InvalidArgument(f"{name}={value!r} must be a (y, x) pair of finite numbers")
    return items[0], items[1]


def _shape(name: str, value: object, hi: int) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        items: list[object] = [value, value]
    else:
        try:
            items = list(value)  # type: ignore[call-overload]
        except TypeError:
            raise InvalidArgument(f"{name}={value!r} must be (ny, nx) pixels") from None
    if len(items) != 2:
        raise InvalidArgument(f"{name}={value!r} must be (ny, nx) pixels (two integers)")
    return _integer(f"{name}[0]", items[0], 2, hi), _integer(f"{name}[1]", items[1], 2, hi)


def _rng(*parts: int | float | str) -> np.random.Generator:
    """Generator seeded by a stable hash of ``parts`` (ints, floats by their bits, strings)."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        if isinstance(part, str):
            h.update(b"s" + part.encode())
        elif isinstance(part, float):
            h.update(b"f" + struct.pack("<d", part))
        else:
            h.update(b"i" + struct.pack("<q", int(part)))
    return np.random.default_rng(int.from_bytes(h.digest(), "little"))


class PlasmonEmulator:
    """STEM-EELS emulator: HAADF/BF overviews and EELS spectra of random Ag nanoparticles.

    Implements :class:`drivers.Driver` and :class:`drivers.GroundTruth`. The sample (disks, rod
    capsules and rounded triangles on a ~3 nm carbon film, see :mod:`drivers.emulator.sample`) is
    drawn from ``seed``; the physics is in :mod:`drivers.emulator.physics`. Positions are (y, x)
    metres with the origin at the sample and scan centre.

    **Reward window.** The low-energy corner/edge dipole band is isolated by
    ``window_eV = [1.5, 2.4]`` (:data:`EDGE_BAND_EV`): rod longitudinal dipoles (aspect 1.8-4.5:
    1.6-2.7 eV, 80 % inside the window) and triangle corner modes (1.75-2.9 eV, about half inside)
    fall in it, while disk dipoles (2.5-3.6 eV), triangle edge modes (2.35-3.45 eV), rod
    transverse modes (3.5-3.7 eV), face modes (3.3-3.6 eV) and the Ag volume plasmon (3.8 eV) lie
    above it, and the zero-loss tail (|E|^-3) is small above 1.5 eV (ranges over 60 seeds). So
    ``band_intensity(window_eV=[1.5, 2.4])`` is largest a few nm outside rod tips and sharp
    triangle corners of the particles with the lowest-energy modes (its top 1 % over the candidate
    grid sits there, checked in the tests) and small inside particles and over bare film.

    **Noise and determinism.** Spectrum counts are Poisson with mean
    ``beam_current_A * exposure_s / e * p(channel)``; the generator is seeded from (``seed``,
    position rounded to 1e-12 m, ``exposure_s``), so the same position and exposure give the same
    spectrum and different positions independent noise. Overviews are seeded from (``seed``,
    field, shape, dwell, detector).

    **Clock and dose.** ``clock="virtual"`` (default) advances ``time_s`` by each exposure plus
    ``readout_s``, each probe move by ``settle_s`` and each overview by ``ny * nx * dwell_s + ny *
    line_flyback_s``; ``clock="real"`` really sleeps (``stop()`` from another thread aborts).
    Every acquisition books ``dose_e = beam_current_A * beam-on time / e``; spot doses are also
    given per probe area ``pi (probe_fwhm_m / 2)^2`` in e/A^2, overview doses per scanned area.

    **Lifecycle.** The beam is blanked except during an acquisition (and after an explicit
    ``unblank()`` until the next acquisition ends). After ``close()`` every instrument verb raises
    ``ConnectionLost``; ``close()`` itself may be called again, and the ground-truth helpers
    (``expected_spectrum``, ``ground_truth``, ``mode_summary``) keep working for scoring.

    Args:
        seed: seed of the sample and of all noise (int >= 0).
        sample_extent_m: side of the square sample; also the largest field of view.
        n_particles: number of particles (at least one of each kind first).
        particle_kinds: shapes to draw, a subset of ``("disk", "rod", "triangle")``.
        min_gap_m: smallest outline-to-outline distance between particles.
        support_thickness_m: mean carbon film thickness.
        beam_current_A: probe current.
        high_tension_V: accelerating voltage (sets the aloof decay length of the modes).
        probe_fwhm_m: probe diameter (overview blur and the dose area).
        energy_offset_eV: energy of channel 0.
        dispersion_eV: energy per channel.
        n_channels: spectrum length.
        zlp_fwhm_eV: zero-loss peak width (energy resolution).
        default_exposure_s: exposure used by the ground-truth helpers when none is given.
        max_exposure_s: longest single exposure; longer ones are refused.
        readout_s: spectrometer readout time added to each spectrum.
        settle_s: probe settling time added to each ``set_probe``.
        overview_fov_m: default overview field of view (``None``: the sample extent).
        overview_shape_px: default overview shape, an int (square) or (ny, nx).
        overview_dwell_s: default overview pixel dwell time.
        max_dwell_s: longest pixel dwell time accepted.
        line_flyback_s: scan flyback time per overview line.
        max_overview_px: largest overview side accepted (pixels).
        clock: ``"virtual"`` or ``"real"``.
        drift_m_per_s: (y, x) sample drift velocity; everything the beam sees is shifted by
            ``drift_m_per_s * time_s`` (the agent's drift guardian registers and corrects it).
    """

    backend = "emulator"

    def __init__(
        self,
        seed: int = 0,
        sample_extent_m: float = 200e-9,
        n_particles: int = 12,
        particle_kinds: Sequence[str] = PARTICLE_KINDS,
        min_gap_m: float = 6e-9,
        support_thickness_m: float = 3e-9,
        beam_current_A: float = 20e-12,
        high_tension_V: float = 200e3,
        probe_fwhm_m: float = 1e-9,
        energy_offset_eV: float = 0.3,
        dispersion_eV: float = 0.004,
        n_channels: int = 1024,
        zlp_fwhm_eV: float = 0.15,
        default_exposure_s: float = 0.05,
        max_exposure_s: float = 10.0,
        readout_s: float = 0.005,
        settle_s: float = 0.001,
        overview_fov_m: float | None = None,
        overview_shape_px: int | Sequence[int] = 256,
        overview_dwell_s: float = 4e-6,
        max_dwell_s: float = 1e-3,
        line_flyback_s: float = 20e-6,
        max_overview_px: int = 4096,
        clock: str = "virtual",
        drift_m_per_s: Sequence[float] = (0.0, 0.0),
    ) -> None:
        self.seed = _integer("seed", seed, 0, 2**63 - 1)
        self.sample_extent_m = _positive("sample_extent_m", sample_extent_m, unit=" m")
        if not 50 * NM <= self.sample_extent_m <= 5e-6:
            raise InvalidArgument(
                f"sample_extent_m={sample_extent_m!r} must lie in [5e-8, 5e-6] m (50 nm to 5 um)")
        self.n_particles = _integer("n_particles", n_particles, 0, 500)
        try:
            kinds = tuple(str(k) for k in particle_kinds)
        except TypeError:
            raise InvalidArgument(
                f"particle_kinds={particle_kinds!r} must be a list of {list(PARTICLE_KINDS)}"
            ) from None
        self.particle_kinds = kinds
        self.min_gap_m = _positive("min_gap_m", min_gap_m, allow_zero=True, unit=" m")
        self.support_thickness_m = _positive("support_thickness_m", support_thickness_m,
                                             maximum=100 * NM, allow_zero=True, unit=" m")
        self.beam_current_A = _positive("beam_current_A", beam_current_A, maximum=1e-6, unit=" A")
        self.high_tension_V = _positive("high_tension_V", high_tension_V, maximum=1e6, unit=" V")
        if self.high_tension_V < 1e3:
            raise InvalidArgument(f"high_tension_V={high_tension_V!r} must be >= 1e3 V")
        self.probe_fwhm_m = _positive("probe_fwhm_m", probe_fwhm_m, maximum=20 * NM, unit=" m")
        self.energy_offset_eV = _finite("energy_offset_eV", energy_offset_eV)
        self.dispersion_eV = _positive("dispersion_eV", dispersion_eV, maximum=1.0, unit=" eV")
        self.n_channels = _integer("n_channels", n_channels, 16, 65536)
        self.zlp_fwhm_eV = _positive("zlp_fwhm_eV", zlp_fwhm_eV, maximum=5.0, unit=" eV")
        self.max_exposure_s = _positive("max_exposure_s", max_exposure_s, unit=" s")
        self.default_exposure_s = _positive("default_exposure_s", default_exposure_s,
                                            maximum=self.max_exposure_s, unit=" s")
        self.readout_s = _positive("readout_s", readout_s, allow_zero=True, unit=" s")
        self.settle_s = _positive("settle_s", settle_s, allow_zero=True, unit=" s")
        self.max_dwell_s = _positive("max_dwell_s", max_dwell_s, unit=" s")
        self.overview_dwell_s = _positive("overview_dwell_s", overview_dwell_s,
                                          maximum=self.max_dwell_s, unit=" s")
        self.line_flyback_s = _positive("line_flyback_s", line_flyback_s, allow_zero=True,
                                        unit=" s")
        self.max_overview_px = _integer("max_overview_px", max_overview_px, 2, 16384)
        self.overview_shape_px = _shape("overview_shape_px", overview_shape_px,
                                        self.max_overview_px)
        self.overview_fov_m = (self.sample_extent_m if overview_fov_m is None else _positive(
            "overview_fov_m", overview_fov_m, maximum=self.sample_extent_m, unit=" m"))
        if clock not in CLOCK_KINDS:
            raise InvalidArgument(f"clock={clock!r} is not known; use one of {list(CLOCK_KINDS)}")
        self.clock_kind = clock
        self.drift_m_per_s = _pair("drift_m_per_s", drift_m_per_s)

        energy = self.energy_offset_eV + self.dispersion_eV * np.arange(self.n_channels)
        self._axis = Axis("energy_loss", "eV", energy)
        self._install_sample(Sample.random(self.seed, self.sample_extent_m, self.n_particles,
                                           kinds, self.min_gap_m, self.support_thickness_m))
        self._clock = make_clock(clock)
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

    def __repr__(self) -> str:
        return (f"PlasmonEmulator(seed={self.seed}, n_particles={self.n_particles}, "
                f"sample_extent_m={self.sample_extent_m!r}, clock={self.clock_kind!r})")

    @classmethod
    def with_sample(cls, sample: Sample, **kwargs: Any) -> "PlasmonEmulator":
        """An emulator over a given (e.g. hand-made) ``sample``; ``kwargs`` as the constructor.
        The sample fixes ``sample_extent_m`` and ``support_thickness_m``; ``n_particles``,
        ``particle_kinds`` and ``min_gap_m`` do not apply."""
        if not isinstance(sample, Sample):
            raise InvalidArgument(f"sample must be a drivers.emulator.Sample, got {type(sample)}")
        for name in ("sample_extent_m", "support_thickness_m", "n_particles", "particle_kinds",
                     "min_gap_m"):
            if name in kwargs:
                raise InvalidArgument(f"with_sample: {name} comes from the sample; drop it")
        emulator = cls(sample_extent_m=sample.extent_m, n_particles=0,
                       support_thickness_m=sample.support_thickness_m, **kwargs)
        emulator.n_particles = len(sample.particles)
        emulator._install_sample(sample)
        return emulator

    def _install_sample(self, sample: Sample) -> None:
        self._sample = sample
        self._model = SpectrumModel(sample, self._axis.values, self.zlp_fwhm_eV,
                                    self.high_tension_V)

    # -- read-only state ---------------------------------------------------------------------
    @property
    def sample(self) -> Sample:
        """The emulated specimen (particles, film)."""
        return self._sample

    @property
    def modes(self) -> tuple[Mode, ...]:
        """Every plasmon mode of the sample."""
        return self._model.modes

    @property
    def energy_axis(self) -> Axis:
        """(n_channels,) energy-loss axis in eV (channel centres)."""
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
    def probe_area_A2(self) -> float:
        """Probe area ``pi (probe_fwhm_m / 2)^2`` in square angstroms."""
        return math.pi * (0.5 * self.probe_fwhm_m) ** 2 * _A2_PER_M2

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

    def electrons(self, duration_s: float) -> float:
        """Electrons in the beam over ``duration_s`` seconds."""
        return self.beam_current_A * duration_s / E_CHARGE_C

    # -- protocol verbs ----------------------------------------------------------------------
    def capabilities(self) -> Capabilities:
        self._check_open()
        return Capabilities(
            detectors=IMAGE_DETECTORS + SPECTROMETERS,
            signal_units={"EELS": "eV"},
            max_fov_m=self.sample_extent_m,
            max_exposure_s=self.max_exposure_s,
            verbs=("state", "expected_spectrum", "ground_truth", "mode_summary"),
            backend=f"{self.backend} (PlasmonEmulator seed={self.seed})",
        )

    def state(self) -> dict[str, Any]:
        """Plain-dict instrument state: beam, probe, last field of view, clock and dose."""
        self._check_open()
        last_fov = None
        if self._frames:
            last_fov = self._frames[next(reversed(self._frames))][0]
        return {
            "backend": self.backend,
            "high_tension_V": self.high_tension_V,
            "beam_current_A": self.beam_current_A,
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

    def acquire_overview(
        self,
        fov_m: float | None = None,
        shape_px: tuple[int, int] | None = None,
        dwell_s: float | None = None,
        detector: str = "HAADF",
        timeout_s: float | None = None,
    ) -> Frame:
        """Scan a square field ``fov_m`` (metres, centred on the sample) into a ``(ny, nx)`` float64
        image of detector counts. ``None`` takes the constructor default. Axes are
        ``Axis.uniform("y"/"x", "m", -fov/2 + fov/(2n), fov/n, n)`` (pixel centres)."""
        self._check_open()
        if detector not in IMAGE_DETECTORS:
            hint = (": it is a spectrometer, use acquire_spectrum"
                    if detector in SPECTROMETERS else "")
            raise NotSupported(f"detector={detector!r} is not an image detector of the emulator"
                               f"{hint}; use one of {list(IMAGE_DETECTORS)}")
        fov = self.overview_fov_m if fov_m is None else _positive("fov_m", fov_m, unit=" m")
        if fov > self.sample_extent_m:
            raise InvalidArgument(f"fov_m={fov_m!r} exceeds the largest field of view "
                                  f"{self.sample_extent_m!r} m (capabilities().max_fov_m)")
        ny, nx = (self.overview_shape_px if shape_px is None
                  else _shape("shape_px", shape_px, self.max_overview_px))
        dwell = (self.overview_dwell_s if dwell_s is None
                 else _positive("dwell_s", dwell_s, maximum=self.max_dwell_s, unit=" s"))
        timeout = self._timeout(timeout_s)

        ys = Axis.uniform("y", "m", -0.5 * fov + 0.5 * fov / ny, fov / ny, ny)
        xs = Axis.uniform("x", "m", -0.5 * fov + 0.5 * fov / nx, fov / nx, nx)
        yy, xx = np.meshgrid(ys.values, xs.values, indexing="ij")
        dy, dx = self._drift_offset_m()  # the sample has moved by (dy, dx): it is seen shifted
        yy, xx = yy - dy, xx - dx
        prob = detector_probability(self._sample, np.stack([yy.ravel(), xx.ravel()], axis=1),
                                    detector).reshape(ny, nx)
        beam_s = ny * nx * dwell
        expected = self.electrons(dwell) * prob
        sigma_m = self.probe_fwhm_m * _FWHM_TO_SIGMA
        expected = gaussian_filter(expected, (sigma_m / (fov / ny), sigma_m / (fov / nx)),
                                   mode="nearest")
        counts = _rng("overview", self.seed, fov, ny, nx, dwell, detector, dy, dx).poisson(expected)

        with self._lock:
            start = self.time_s
            duration = beam_s + ny * self.line_flyback_s
            elapsed, completed = self._expose(duration, timeout)
            dose = self.electrons(beam_s * min(1.0, elapsed / duration))
            per_area = dose / (fov * fov * _A2_PER_M2)
            self._book(dose, per_area, spot=False)
            self._overview_dose_e_per_A2 += per_area
            self._finish(elapsed, completed, duration, timeout, "overview")
            self._n_overviews += 1
            frame_id = f"overview-{self._n_overviews:04d}"
            self._frames[frame_id] = (fov, (ny, nx))
        metadata = {
            "time_s": self.time_s, "start_time_s": start, "dwell_s": dwell, "fov_m": fov,
            "shape_px": (ny, nx), "pixel_size_m": (fov / ny, fov / nx), "detector": detector,
            "backend": self.backend, "seed": self.seed, "beam_current_A": self.beam_current_A,
            "dose_e": dose, "dose_e_per_A2": per_area, "units": "counts",
        }
        return Frame(counts.astype(np.float64), (ys, xs), frame_id, metadata)

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
            frac = _pair("yx_frac", yx_frac)
            if not all(0.0 <= f <= 1.0 for f in frac):
                raise InvalidArgument(f"yx_frac={tuple(yx_frac)!r} must lie in [0, 1] on both axes")
            pos = (-half + frac[0] * fov, -half + frac[1] * fov)
        else:
            pos = _pair("yx_m", yx_m)
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

    def acquire_spectrum(self, exposure_s: float, detector: str = "EELS",
                         timeout_s: float | None = None) -> Frame:
        """Expose at the parked probe: a ``(n_channels,)`` float64 Poisson count spectrum on the
        ``energy_loss`` axis (eV)."""
        self._check_open()
        if detector not in SPECTROMETERS:
            hint = ": it is an image detector, use acquire_overview" if (
                detector in IMAGE_DETECTORS) else ""
            raise NotSupported(f"detector={detector!r} is not a spectrometer of the emulator"
                               f"{hint}; use one of {list(SPECTROMETERS)}")
        exposure = _positive("exposure_s", exposure_s, maximum=self.max_exposure_s, unit=" s")
        timeout = self._timeout(timeout_s)
        if self._probe is None:
            raise InvalidArgument("no probe position yet: call set_probe(frame_id, yx_frac=...) "
                                  "before acquire_spectrum")
        probe = self._probe
        dy, dx = self._drift_offset_m()
        y, x = probe.yx_m[0] - dy, probe.yx_m[1] - dx  # the sample point under the probe
        expected = self.electrons(exposure) * self._model.probabilities(np.array([[y, x]]))[0]
        key = (self.seed, int(round(y / 1e-12)), int(round(x / 1e-12)), exposure)
        counts = _rng("spectrum", *key).poisson(expected).astype(np.float64)

        with self._lock:
            start = self.time_s
            duration = exposure + self.readout_s
            elapsed, completed = self._expose(duration, timeout)
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
            "seed": self.seed, "beam_current_A": self.beam_current_A, "dose_e": dose,
            "dose_e_per_A2": per_area, "units": "counts",
        }
        return Frame(counts, (self._axis,), frame_id, metadata)

    def blank(self) -> None:
        self._check_open()
        self._blanked = True
        self._reflect_blank()

    def unblank(self) -> None:
        """Open the beam at the parked probe until the next acquisition ends (dose accrues over
        any waiting, e.g. probe settling, meanwhile)."""
        self._check_open()
        self._blanked = False
        self._reflect_blank()

    def stop(self) -> None:
        """Abort a running acquisition (it raises ``Aborted``; with the virtual clock nothing is
        ever running) and blank the beam."""
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

    # -- ground truth (scoring only) ----------------------------------------------------------
    def expected_spectrum(self, yx_m: Sequence[float] | np.ndarray,
                          exposure_s: float | None = None) -> np.ndarray:
        """Noise-free expected counts at ``yx_m = (y, x)`` metres: ``(n_channels,)`` float64."""
        pts = as_points(yx_m)
        if pts.shape[0] != 1:
            raise InvalidArgument(f"expected_spectrum takes one (y, x) position, got {pts.shape[0]}"
                                  "; use expected_spectra for many")
        return self.expected_spectra(pts, exposure_s)[0]

    def expected_spectra(self, yx_m: np.ndarray, exposure_s: float | None = None) -> np.ndarray:
        """Noise-free expected counts at ``yx_m: (n, 2)`` metres -> ``(n, n_channels)`` float64."""
        pts = as_points(yx_m)
        exposure = self._gt_exposure(exposure_s)
        return self.electrons(exposure) * self._model.probabilities(pts)

    def ground_truth(self, reward: Callable[[np.ndarray, Axis], float],
                     yx_m: Sequence[tuple[float, float]] | np.ndarray,
                     exposure_s: float | None = None) -> np.ndarray:
        """``reward(spectrum, axis)`` of the noise-free spectrum at each ``yx_m: (n, 2)`` metres
        -> ``(n,)`` float64 (``(n, k)`` for a vector reward). A reward that raises
        :class:`rewards.RewardError` gives NaN there."""
        pts = as_points(yx_m)
        exposure = self._gt_exposure(exposure_s)
        blocks = []
        for start in range(0, pts.shape[0], _GROUND_TRUTH_CHUNK):
            block = self.expected_spectra(pts[start:start + _GROUND_TRUTH_CHUNK], exposure)
            blocks.append(evaluate_reward(reward, block, self._axis, catch=(RewardError,))[0])
        return np.concatenate(blocks, axis=0) if blocks else np.empty(0)

    def mode_summary(self) -> list[dict[str, Any]]:
        """One dict per plasmon mode: ``particle`` (index), ``particle_kind``, ``kind``,
        ``energy_eV``, ``width_eV``, ``strength``, ``decay_m``, ``centre_yx_m``, ``size_m``,
        sorted by energy."""
        rows = []
        for m in self._model.modes:
            p = self._sample.particles[m.particle]
            rows.append({
                "particle": m.particle, "particle_kind": m.particle_kind, "kind": m.kind,
                "energy_eV": m.energy_eV, "width_eV": m.width_eV, "strength": m.strength,
                "decay_m": m.decay_m, "centre_yx_m": p.centre_yx_m, "size_m": p.size_m,
            })
        return sorted(rows, key=lambda r: r["energy_eV"])

    # -- internals ---------------------------------------------------------------------------
    def _drift_offset_m(self) -> tuple[float, float]:
        """How far (y, x) the sample has drifted since the start, in metres (``drift_m_per_s`` x
        clock time). Ground truth is in sample coordinates and ignores drift."""
        t = self.time_s
        return self.drift_m_per_s[0] * t, self.drift_m_per_s[1] * t

    def _check_open(self) -> None:
        if self._closed:
            raise ConnectionLost("the emulator was closed; build a new PlasmonEmulator")

    def _timeout(self, timeout_s: float | None) -> float | None:
        return None if timeout_s is None else _positive("timeout_s", timeout_s, unit=" s")

    def _gt_exposure(self, exposure_s: float | None) -> float:
        if exposure_s is None:
            return self.default_exposure_s
        return _positive("exposure_s", exposure_s, unit=" s")

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

    def _expose(self, duration_s: float, timeout_s: float | None) -> tuple[float, bool]:
        """Open the beam and wait ``duration_s`` (or ``timeout_s`` when shorter); returns (the
        time that passed, whether the wait ran to its end). Blanks afterwards in every case."""
        self._abort.clear()
        self._blanked = False
        start = self.time_s
        wait = duration_s if timeout_s is None else min(duration_s, timeout_s)
        try:
            completed = self._clock.wait(wait, self._abort)
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
