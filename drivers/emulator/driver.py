"""``PlasmonEmulator``: a STEM-EELS instrument over random Ag nanoparticles (the default driver)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Unpack

import numpy as np
from scipy.ndimage import gaussian_filter

from drivers.errors import InvalidArgument
from drivers.frames import Axis, Frame

from .base import ElectronProbeEmulator
from .physics import E_CHARGE_C, Mode, SpectrumModel, detector_probability
from .sample import NM, PARTICLE_KINDS, Sample, as_points
from .scan import ScanKwargs, ScanSettings
from .seeding import seeded_rng
from .validation import finite, integer, positive

__all__ = ["PlasmonEmulator", "EDGE_BAND_EV", "IMAGE_DETECTORS", "SPECTROMETERS"]

IMAGE_DETECTORS: tuple[str, ...] = ("HAADF", "BF")
SPECTROMETERS: tuple[str, ...] = ("EELS",)
EDGE_BAND_EV: tuple[float, float] = (1.5, 2.4)
"""Energy window (eV) that isolates the low-energy corner/edge dipole band (see the class docs)."""

_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


class PlasmonEmulator(ElectronProbeEmulator):
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
    (``expected_spectrum``, ``expected_spectra``, ``mode_summary``) keep working for scoring.

    Args (keyword only):
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
        **scan: ``seed`` (of the sample and of all noise), ``sample_extent_m`` (50 nm to 5 um) and
            the other :class:`drivers.emulator.ScanSettings` keywords (exposure limits, spectrometer
            ``readout_s``, ``settle_s``, overview defaults, ``clock``, ``drift_m_per_s``: everything
            the beam sees is shifted by ``drift_m_per_s * time_s``, which the agent's drift guardian
            registers and corrects); defaults in :attr:`SCAN_DEFAULTS` (the ScanSettings defaults).
    """

    SCAN_DEFAULTS = ScanSettings()
    image_detectors = IMAGE_DETECTORS
    spectrometers = SPECTROMETERS
    signal_units = {"EELS": "eV"}
    intensity_units = {"EELS": "counts"}
    capability_verbs = ("state", "expected_spectrum", "expected_spectra", "mode_summary")

    def __init__(
        self,
        *,
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
        **scan: Unpack[ScanKwargs],
    ) -> None:
        super().__init__(beam_current_A=beam_current_A, high_tension_V=high_tension_V,
                         probe_fwhm_m=probe_fwhm_m, **scan)
        if not 50 * NM <= self.sample_extent_m <= 5e-6:
            raise InvalidArgument(
                f"sample_extent_m={self.sample_extent_m!r} must lie in [5e-8, 5e-6] m (50 nm to 5 um)")
        self.n_particles = integer("n_particles", n_particles, 0, 500)
        try:
            kinds = tuple(str(k) for k in particle_kinds)
        except TypeError:
            raise InvalidArgument(
                f"particle_kinds={particle_kinds!r} must be a list of {list(PARTICLE_KINDS)}"
            ) from None
        self.particle_kinds = kinds
        self.min_gap_m = positive("min_gap_m", min_gap_m, allow_zero=True, unit=" m")
        self.support_thickness_m = positive("support_thickness_m", support_thickness_m,
                                            maximum=100 * NM, allow_zero=True, unit=" m")
        self.energy_offset_eV = finite("energy_offset_eV", energy_offset_eV)
        self.dispersion_eV = positive("dispersion_eV", dispersion_eV, maximum=1.0, unit=" eV")
        self.n_channels = integer("n_channels", n_channels, 16, 65536)
        self.zlp_fwhm_eV = positive("zlp_fwhm_eV", zlp_fwhm_eV, maximum=5.0, unit=" eV")

        energy = self.energy_offset_eV + self.dispersion_eV * np.arange(self.n_channels)
        self._axis = Axis("energy_loss", "eV", energy)
        self._install_sample(Sample.random(self.seed, self.sample_extent_m, self.n_particles,
                                           kinds, self.min_gap_m, self.support_thickness_m))

    def __repr__(self) -> str:
        return (f"PlasmonEmulator(seed={self.seed}, n_particles={self.n_particles}, "
                f"sample_extent_m={self.sample_extent_m!r}, clock={self.clock_kind!r})")

    @classmethod
    def with_sample(cls, sample: Sample, **kwargs: Any) -> PlasmonEmulator:
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

    def electrons(self, duration_s: float) -> float:
        """Electrons in the beam over ``duration_s`` seconds (``beam_current_A * duration_s /
        e``, in this order: the noise streams depend on the exact value)."""
        return self.beam_current_A * duration_s / E_CHARGE_C

    # -- protocol verbs ----------------------------------------------------------------------
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
        return self._scan(fov_m, shape_px, dwell_s, detector, timeout_s)

    def acquire_spectrum(self, exposure_s: float, detector: str = "EELS",
                         timeout_s: float | None = None) -> Frame:
        """Expose at the parked probe: a ``(n_channels,)`` float64 Poisson count spectrum on the
        ``energy_loss`` axis (eV)."""
        counts, frame_id, metadata = self._measure(exposure_s, detector, timeout_s)
        return Frame(counts, (self._axis,), frame_id, metadata)

    def _render_overview(self, pts: np.ndarray, shape_px: tuple[int, int],
                         pixel_m: tuple[float, float], dwell_s: float, detector: str,
                         rng: np.random.Generator) -> np.ndarray:
        expected = self.electrons(dwell_s) * detector_probability(self._sample, pts,
                                                                  detector).reshape(shape_px)
        sigma_m = self.probe_fwhm_m * _FWHM_TO_SIGMA
        expected = gaussian_filter(expected, (sigma_m / pixel_m[0], sigma_m / pixel_m[1]),
                                   mode="nearest")
        return rng.poisson(expected).astype(np.float64)

    def _render_spectrum(self, y_m: float, x_m: float, exposure_s: float,
                         key: tuple[int, int, int, float]) -> np.ndarray:
        expected = self.electrons(exposure_s) * self._model.probabilities(np.array([[y_m, x_m]]))[0]
        return seeded_rng("spectrum", *key).poisson(expected).astype(np.float64)

    # -- ground truth (scoring only) ----------------------------------------------------------
    def expected_spectrum(self, yx_m: Sequence[float] | np.ndarray,
                          exposure_s: float | None = None) -> np.ndarray:
        """Noise-free expected counts at ``yx_m = (y, x)`` metres: ``(n_channels,)`` float64."""
        pts = self._one_point(yx_m, "expected_spectrum", "; use expected_spectra for many")
        return self.expected_spectra(pts, exposure_s)[0]

    def expected_spectra(self, yx_m: np.ndarray, exposure_s: float | None = None) -> np.ndarray:
        """Noise-free expected counts at ``yx_m: (n, 2)`` metres -> ``(n, n_channels)`` float64."""
        pts = as_points(yx_m)
        exposure = self._gt_exposure(exposure_s)
        return self.electrons(exposure) * self._model.probabilities(pts)

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
