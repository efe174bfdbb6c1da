"""``FourDSTEMEmulator``: 4D-STEM (a diffraction pattern per probe position) over random particles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Unpack

import numpy as np
from scipy.ndimage import gaussian_filter

from drivers.emulator.base import ElectronProbeEmulator, gaussian_sigma_px
from drivers.emulator.sample import as_points
from drivers.emulator.scan import ScanKwargs, ScanSettings
from drivers.emulator.seeding import seeded_rng
from drivers.emulator.validation import integer, pair, positive
from drivers.errors import InvalidArgument
from drivers.frames import Axis, Frame

from .optics import deflection_rad_per_V
from .patterns import PatternAxis, camera_axes, render_patterns
from .specimen import MATERIALS, Specimen

__all__ = ["FourDSTEMEmulator", "FOURD_IMAGE_DETECTORS", "FOURD_CAMERAS"]

FOURD_IMAGE_DETECTORS: tuple[str, ...] = ("HAADF", "ADF", "BF")
FOURD_CAMERAS: tuple[str, ...] = ("4D",)

_MIN_EDGE_PX = 0.7
_HALO_CLEARANCE = 4.0


class FourDSTEMEmulator(ElectronProbeEmulator):
    """4D-STEM emulator: HAADF / ADF / BF overviews and a diffraction pattern at each probe position.

    Implements :class:`drivers.Driver` and :class:`drivers.GroundTruth`. The specimen (elliptical
    dome particles of Au, Ag, Fe3O4, SiO2 ... on a carbon film, see :mod:`drivers.fourd.specimen`)
    is drawn from ``seed``; positions are (y, x) metres with the origin at the sample and scan
    centre.

    **Patterns** (:mod:`drivers.fourd.patterns`). At each position the camera (``pattern_px``
    square, ``k_mrad_per_px`` pitch, 0 mrad at its centre) records a bright-field disk of radius
    ``convergence_mrad`` plus a low-angle diffuse halo, both shifted by the beam deflection
    ``theta = (lambda sigma / 2 pi) grad V_p`` (:mod:`drivers.fourd.optics`): the projected
    potential's gradient at the particles' flanks, pointing towards the particle centres, zero
    over the particle centres and the bare film. Its centre of mass relative to the camera centre
    equals :meth:`deflection_mrad` (exactly, up to 1e-5 pixel). The probe is treated as a point
    for the pattern (its size only blurs the overviews).

    * ``acquire_pattern(exposure_s, "4D")``: a 2-D ``(ky, kx)`` frame of counts on ``"ky"`` /
      ``"kx"`` axes in mrad.
    * ``acquire_spectrum(exposure_s, "4D")``: the same pattern flattened row-major to
      ``(ky * kx,)``, because the experiment loop takes 1-D spectra only: its signal axis is a
      :class:`drivers.fourd.PatternAxis` (``"k_index"``, units ``"px"``) carrying
      ``pattern_shape`` and ``k_mrad_per_px``, which the frame metadata repeat.
      :class:`rewards.diffraction.CoMShift` turns it into a centre-of-mass shift in mrad.

    **Counts.** Poisson with mean ``beam_current_A * exposure_s / e`` times the probability of
    each camera pixel: electrons scattered to the ADF / HAADF ranges never reach the camera.
    Seeded from (``seed``, position rounded to 1e-12 m, ``exposure_s``): the same position and
    exposure give the same pattern. Overviews (``"HAADF"``, ``"ADF"``, ``"BF"`` counts; BF is the
    unscattered disk) are Poisson images blurred by the probe (FWHM ``probe_fwhm_m``), seeded
    from (``seed``, field, shape, dwell, detector).

    **Clock and dose** as :class:`drivers.emulator.PlasmonEmulator`: ``dose_e = beam_current_A *
    beam-on time / e``; spot doses per probe area ``pi (probe_fwhm_m / 2)^2`` in e/A^2.

    Args (keyword only):
        n_particles: number of particles.
        materials: particle materials, a subset of :data:`drivers.fourd.MATERIALS`.
        particle_radius_m: [lo, hi] range of the particles' long semi-axis.
        min_gap_m: smallest gap between particles' bounding circles.
        support_thickness_m: carbon film thickness.
        beam_current_A: probe current.
        high_tension_V: accelerating voltage (sets the wavelength and the deflection per volt).
        probe_fwhm_m: probe diameter (overview blur and the dose area).
        convergence_mrad: probe convergence semi-angle: the bright-field disk radius.
        disk_edge_mrad: Gaussian blur of the disk rim (at least 0.7 camera pixel).
        halo_mrad: standard deviation of the diffuse halo per axis.
        pattern_px: camera side (pixels; the camera is square).
        k_mrad_per_px: camera pixel pitch.
        **scan: ``seed`` (of the specimen and of all noise), ``sample_extent_m`` (20 nm to 5 um)
            and the other :class:`drivers.emulator.ScanSettings` keywords; a fast camera's defaults
            in :attr:`SCAN_DEFAULTS` (1 ms exposures, at most 1 s per frame; ``readout_s`` is the
            camera readout per pattern; 0.1 ms probe settling; 10 us overview dwell).
    """

    SCAN_DEFAULTS = ScanSettings(default_exposure_s=1e-3, max_exposure_s=1.0, readout_s=1e-4,
                                 settle_s=1e-4, overview_dwell_s=1e-5)
    backend = "4dstem-emulator"
    image_detectors = FOURD_IMAGE_DETECTORS
    spectrometers = FOURD_CAMERAS
    signal_units = {"4D": "px"}
    intensity_units = {"4D": "counts"}
    capability_verbs = ("state", "acquire_pattern", "expected_spectrum", "expected_pattern",
                        "expected_spectra", "deflection_mrad")

    def __init__(
        self,
        *,
        n_particles: int = 12,
        materials: Sequence[str] = ("Au", "Ag", "Fe3O4", "SiO2"),
        particle_radius_m: Sequence[float] = (5e-9, 20e-9),
        min_gap_m: float = 4e-9,
        support_thickness_m: float = 5e-9,
        beam_current_A: float = 10e-12,
        high_tension_V: float = 200e3,
        probe_fwhm_m: float = 1e-9,
        convergence_mrad: float = 8.0,
        disk_edge_mrad: float = 1.0,
        halo_mrad: float = 3.0,
        pattern_px: int = 32,
        k_mrad_per_px: float = 1.0,
        **scan: Unpack[ScanKwargs],
    ) -> None:
        super().__init__(beam_current_A=beam_current_A, high_tension_V=high_tension_V,
                         probe_fwhm_m=probe_fwhm_m, **scan)
        if not 20e-9 <= self.sample_extent_m <= 5e-6:
            raise InvalidArgument(f"sample_extent_m={self.sample_extent_m!r} must lie in [2e-8, 5e-6] m "
                                  "(20 nm to 5 um)")
        self.n_particles = integer("n_particles", n_particles, 0, 500)
        try:
            self.materials = tuple(str(m) for m in materials)
        except TypeError:
            raise InvalidArgument(f"materials={materials!r} must be a list of {sorted(MATERIALS)}"
                                  ) from None
        radius = pair("particle_radius_m", particle_radius_m)
        self.particle_radius_m = (positive("particle_radius_m[0]", radius[0], unit=" m"),
                                  positive("particle_radius_m[1]", radius[1], unit=" m"))
        self.min_gap_m = positive("min_gap_m", min_gap_m, allow_zero=True, unit=" m")
        self.support_thickness_m = positive("support_thickness_m", support_thickness_m,
                                            maximum=100e-9, allow_zero=True, unit=" m")
        self.convergence_mrad = positive("convergence_mrad", convergence_mrad, maximum=100.0,
                                         unit=" mrad")
        self.k_mrad_per_px = positive("k_mrad_per_px", k_mrad_per_px, maximum=50.0, unit=" mrad")
        self.disk_edge_mrad = positive("disk_edge_mrad", disk_edge_mrad, unit=" mrad")
        if self.disk_edge_mrad < _MIN_EDGE_PX * self.k_mrad_per_px:
            raise InvalidArgument(
                f"disk_edge_mrad={disk_edge_mrad!r} is under {_MIN_EDGE_PX} camera pixel "
                f"({_MIN_EDGE_PX * self.k_mrad_per_px:.3g} mrad): the sampled disk's centre of mass "
                "would alias; raise disk_edge_mrad or lower k_mrad_per_px")
        self.halo_mrad = positive("halo_mrad", halo_mrad, unit=" mrad")
        self.pattern_px = integer("pattern_px", pattern_px, 8, 512)
        self._deflection_rad_per_V = deflection_rad_per_V(self.high_tension_V)
        self._pattern_axis = PatternAxis.for_camera((self.pattern_px, self.pattern_px), self.k_mrad_per_px)
        self._axis = self._pattern_axis
        self._camera_axes = camera_axes((self.pattern_px, self.pattern_px), self.k_mrad_per_px)
        self._install_specimen(Specimen.random(
            self.seed, self.sample_extent_m, self.n_particles, self.materials,
            self.particle_radius_m, self.min_gap_m, self.support_thickness_m))

    def __repr__(self) -> str:
        return (f"FourDSTEMEmulator(seed={self.seed}, n_particles={self.n_particles}, "
                f"sample_extent_m={self.sample_extent_m!r}, clock={self.clock_kind!r})")

    @classmethod
    def with_specimen(cls, specimen: Specimen, **kwargs: Any) -> FourDSTEMEmulator:
        """An emulator over a given (e.g. hand-made) ``specimen``; ``kwargs`` as the constructor.
        The specimen fixes ``sample_extent_m`` and ``support_thickness_m``; ``n_particles``,
        ``materials``, ``particle_radius_m`` and ``min_gap_m`` do not apply."""
        if not isinstance(specimen, Specimen):
            raise InvalidArgument(f"specimen must be a drivers.fourd.Specimen, got {type(specimen)}")
        for name in ("sample_extent_m", "support_thickness_m", "n_particles", "materials",
                     "particle_radius_m", "min_gap_m"):
            if name in kwargs:
                raise InvalidArgument(f"with_specimen: {name} comes from the specimen; drop it")
        emulator = cls(sample_extent_m=specimen.extent_m, n_particles=0,
                       support_thickness_m=specimen.support_thickness_m, **kwargs)
        emulator.n_particles = len(specimen.particles)
        emulator._install_specimen(specimen)
        return emulator

    def _install_specimen(self, specimen: Specimen) -> None:
        """Use ``specimen``; refuse it when its largest deflection would push the disk or the
        halo off the camera (the centre of mass would then no longer equal the deflection)."""
        half_mrad = 0.5 * self.pattern_px * self.k_mrad_per_px
        max_shift = specimen.max_gradient_V * self._deflection_rad_per_V * 1e3
        disk_reach = max_shift + self.convergence_mrad + 3.0 * self.disk_edge_mrad
        halo_reach = max_shift + _HALO_CLEARANCE * self.halo_mrad
        if max(disk_reach, halo_reach) > half_mrad:
            raise InvalidArgument(
                f"the camera spans +-{half_mrad:.3g} mrad but the shifted pattern reaches "
                f"{max(disk_reach, halo_reach):.3g} mrad (deflection up to {max_shift:.3g} mrad, "
                f"convergence_mrad={self.convergence_mrad!r}, halo_mrad={self.halo_mrad!r}); "
                "raise pattern_px or k_mrad_per_px, or lower convergence_mrad / halo_mrad")
        self._specimen = specimen

    # -- read-only state ---------------------------------------------------------------------
    @property
    def specimen(self) -> Specimen:
        """The emulated specimen (particles, film)."""
        return self._specimen

    @property
    def pattern_axis(self) -> PatternAxis:
        """The flattened pattern's signal axis (``"k_index"``, px, with shape and pitch)."""
        return self._pattern_axis

    @property
    def camera_axes(self) -> tuple[Axis, Axis]:
        """``(ky, kx)`` camera axes in mrad (pixel centres, 0 at the camera centre)."""
        return self._camera_axes

    @property
    def pattern_shape(self) -> tuple[int, int]:
        return (self.pattern_px, self.pattern_px)

    @property
    def deflection_rad_per_V(self) -> float:
        """Beam deflection per volt of projected-potential gradient at this high tension."""
        return self._deflection_rad_per_V

    def state(self) -> dict[str, Any]:
        """Plain-dict instrument state: beam, probe, last field of view, clock and dose."""
        return {**super().state(), "convergence_mrad": self.convergence_mrad}

    # -- physics -------------------------------------------------------------------------------
    def projected_field_V(self, yx_m: Sequence[float] | np.ndarray) -> np.ndarray:
        """In-plane electric field integrated along the beam, ``-grad V_p`` (V), at ``yx_m: (n, 2)``
        metres -> ``(n, 2)`` (y, x) float64."""
        return -self._specimen.potential_gradient_V(as_points(yx_m))

    def deflection_mrad(self, yx_m: Sequence[float] | np.ndarray) -> np.ndarray:
        """Beam deflection (the pattern's centre-of-mass shift) at ``yx_m: (n, 2)`` metres ->
        ``(n, 2)`` (y, x) mrad: ``(lambda sigma / 2 pi) grad V_p``, towards higher potential."""
        return self._specimen.potential_gradient_V(as_points(yx_m)) * self._deflection_rad_per_V * 1e3

    def camera_fraction(self, yx_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(p_camera, halo_fraction)`` at ``(n, 2)`` metres: the probability that an electron
        reaches the camera, and the fraction of those in the halo; each ``(n,)``."""
        tau_h, tau_a, tau_l = self._specimen.scattering_depths(as_points(yx_m))
        return np.exp(-(tau_h + tau_a)), -np.expm1(-tau_l)

    def detector_probability(self, yx_m: np.ndarray, detector: str) -> np.ndarray:
        """Probability that an electron reaches image ``detector`` at ``(n, 2)`` metres -> ``(n,)``:
        HAADF ``1 - exp(-tau_H)``, ADF ``exp(-tau_H) (1 - exp(-tau_A))``, BF the camera's disk."""
        tau_h, tau_a, tau_l = self._specimen.scattering_depths(as_points(yx_m))
        if detector == "HAADF":
            return -np.expm1(-tau_h)
        if detector == "ADF":
            return np.exp(-tau_h) * -np.expm1(-tau_a)
        if detector == "BF":
            return np.exp(-(tau_h + tau_a + tau_l))
        raise InvalidArgument(f"detector={detector!r} has no image model; use one of "
                              f"{list(FOURD_IMAGE_DETECTORS)}")

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
        image of ``detector`` counts (``"HAADF"``, ``"ADF"``, ``"BF"``). ``None`` takes the
        constructor default. Axes are ``Axis.uniform("y"/"x", "m", -fov/2 + fov/(2n), fov/n, n)``."""
        return self._scan(fov_m, shape_px, dwell_s, detector, timeout_s)

    def acquire_pattern(self, exposure_s: float, detector: str = "4D",
                        timeout_s: float | None = None) -> Frame:
        """Expose at the parked probe: a ``(ky, kx)`` float64 frame of Poisson counts on the
        ``"ky"`` / ``"kx"`` axes (mrad, 0 at the camera centre)."""
        counts, frame_id, metadata = self._measure(exposure_s, detector, timeout_s)
        return Frame(counts, self._camera_axes, frame_id, metadata)

    def acquire_spectrum(self, exposure_s: float, detector: str = "4D",
                         timeout_s: float | None = None) -> Frame:
        """Expose at the parked probe: the pattern flattened row-major to ``(ky * kx,)`` float64
        counts on a :class:`PatternAxis` (``"k_index"``, px; see the class docs)."""
        counts, frame_id, metadata = self._measure(exposure_s, detector, timeout_s)
        return Frame(counts.reshape(-1), (self._axis,), frame_id, metadata)

    def _render_overview(self, pts: np.ndarray, shape_px: tuple[int, int],
                         pixel_m: tuple[float, float], dwell_s: float, detector: str,
                         rng: np.random.Generator) -> np.ndarray:
        expected = self.electrons(dwell_s) * self.detector_probability(pts, detector).reshape(
            shape_px)
        sigma_px = (gaussian_sigma_px(self.probe_fwhm_m, pixel_m[0]),
                    gaussian_sigma_px(self.probe_fwhm_m, pixel_m[1]))
        return rng.poisson(gaussian_filter(expected, sigma_px, mode="nearest")).astype(np.float64)

    def _render_spectrum(self, y_m: float, x_m: float, exposure_s: float,
                         key: tuple[int, int, int, float]) -> np.ndarray:
        expected = self._expected_patterns(np.array([[y_m, x_m]]), exposure_s)[0]
        return seeded_rng("pattern", *key).poisson(expected).astype(np.float64)

    def _spectrum_metadata(self) -> dict[str, Any]:
        return {**super()._spectrum_metadata(), "pattern_shape": self.pattern_shape,
                "k_mrad_per_px": self.k_mrad_per_px, "convergence_mrad": self.convergence_mrad,
                "high_tension_V": self.high_tension_V}

    # -- ground truth (scoring only) ----------------------------------------------------------
    def _expected_patterns(self, pts: np.ndarray, exposure: float) -> np.ndarray:
        p_camera, halo = self.camera_fraction(pts)
        probability = render_patterns(self.deflection_mrad(pts), halo, self.pattern_shape,
                                      self.k_mrad_per_px, self.convergence_mrad,
                                      self.disk_edge_mrad, self.halo_mrad)
        return (self.electrons(exposure) * p_camera)[:, None, None] * probability

    def expected_pattern(self, yx_m: Sequence[float] | np.ndarray,
                         exposure_s: float | None = None) -> np.ndarray:
        """Noise-free expected counts at ``yx_m = (y, x)`` metres: ``(ky, kx)`` float64."""
        pts = self._one_point(yx_m, "expected_pattern")
        return self._expected_patterns(pts, self._gt_exposure(exposure_s))[0]

    def expected_spectrum(self, yx_m: Sequence[float] | np.ndarray,
                          exposure_s: float | None = None) -> np.ndarray:
        """Noise-free expected counts at ``yx_m = (y, x)`` metres, flattened: ``(ky * kx,)``."""
        return self.expected_pattern(yx_m, exposure_s).reshape(-1)

    def expected_spectra(self, yx_m: np.ndarray, exposure_s: float | None = None) -> np.ndarray:
        """Noise-free flattened patterns at ``yx_m: (n, 2)`` metres -> ``(n, ky * kx)`` float64."""
        pts = as_points(yx_m)
        patterns = self._expected_patterns(pts, self._gt_exposure(exposure_s))
        return patterns.reshape(pts.shape[0], -1)
