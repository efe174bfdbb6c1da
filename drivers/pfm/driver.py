"""``PFMEmulator``: piezoresponse force microscopy with switching spectroscopy on ferroelectric domains."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Unpack

import numpy as np
from scipy.ndimage import gaussian_filter

from drivers import validation
from drivers.emulator.base import A2_PER_M2, PointProbeEmulator, gaussian_sigma_px
from drivers.emulator.sample import as_points
from drivers.emulator.scan import ScanKwargs, ScanSettings
from drivers.emulator.seeding import seeded_rng
from drivers.emulator.validation import finite, integer, positive
from drivers.errors import InvalidArgument
from drivers.frames import Axis, Frame

from .domains import DOMAIN_KINDS, DomainPattern, make_domains
from .switching import LoopParameters, loop_response, triangle_sweep

__all__ = ["PFMEmulator", "PFM_IMAGE_DETECTORS", "PFM_SPECTROMETERS", "PFM_OVERVIEW_UNITS"]

PFM_IMAGE_DETECTORS: tuple[str, ...] = ("topography", "amplitude", "phase")
PFM_SPECTROMETERS: tuple[str, ...] = ("PFM",)
PFM_OVERVIEW_UNITS: dict[str, str] = {"topography": "m", "amplitude": "pm", "phase": "deg"}
"""Units of each overview channel's values."""

_TEXTURE_WAVES = 24
_TEXTURE_WAVELENGTH_M = (50e-9, 600e-9)
_PHASE_OFFSET_DEG = 90.0
_SPIKE_SIZE = (0.5, 1.5)


def _fraction(name: str, value: object, upper_open: bool = True) -> float:
    return validation.probability(name, value, hi_open=upper_open, error=InvalidArgument)


class PFMEmulator(PointProbeEmulator):
    """PFM emulator: topography / PFM amplitude / PFM phase overviews and switching-spectroscopy
    hysteresis loops over a random ferroelectric domain pattern.

    Implements :class:`drivers.Driver` and :class:`drivers.GroundTruth`. The domain pattern (up /
    down polarization, see :mod:`drivers.pfm.domains`) is drawn from ``seed``; positions are
    (y, x) metres with the origin at the sample and scan centre.

    **Loops** (:mod:`drivers.pfm.switching`). ``acquire_spectrum(exposure_s, "PFM")`` returns the
    piezoresponse (pm) at each step of the bias triangle ``0 -> +bias_max_V -> -bias_max_V -> 0``
    (``n_steps`` steps, signal axis ``"bias"`` in V, in sweep order, not monotonic). The loop's
    shape follows the distance ``d`` to the nearest domain wall and the local polarity ``p``,
    with ``near = exp(-d / wall_length_m)`` and the signed wall distance ``s = p * d``:

    * coercive half-width ``V_c = coercive_V * (1 - wall_coercive_drop * near)``: walls nucleate
      switching, so loops near walls switch at lower bias;
    * saturated response ``R_sat = response_pm * (1 - wall_response_drop * near)``: smaller loops
      (height and area) near walls;
    * imprint ``-imprint_V * tanh(s / wall_length_m)``: up domains shift the loop to negative
      bias, down domains to positive bias (the built-in field that stabilises each polarity),
      passing smoothly through zero at a wall.

    **Noise.** White noise of density ``noise_pm_sqrt_s`` (pm s^1/2): per step the standard
    deviation is ``noise_pm_sqrt_s / sqrt(exposure_s / n_steps)`` (``exposure_s`` is the time of
    the whole loop). Single-point spikes (recorded BEPS loops carry them, see
    ``shared/data/README.md``) hit each interior step (never the first or last one, never two
    adjacent ones) with probability ``spike_rate``; a spike adds ``+-spike_scale * response_pm``
    times a factor uniform in [0.5, 1.5]. The noise and the spikes are seeded from (``seed``,
    position rounded to 1e-12 m, ``exposure_s``) on two separate streams, so the same position
    and exposure give the same loop, and ``spike_rate=0`` leaves the noise unchanged. Measuring
    does not write domains: the sample is never changed.

    **Overviews** (``acquire_overview``; units in :data:`PFM_OVERVIEW_UNITS`): ``"topography"``
    is a smooth random surface of RMS ``roughness_m`` (independent of the domains) plus noise of
    density ``height_noise_m_sqrt_s``; ``"amplitude"`` and ``"phase"`` are the magnitude (pm) and
    angle (degrees in [0, 360)) of the lock-in signal ``p * R_sat(d)`` blurred by the tip
    (Gaussian of FWHM ``resolution_m``) plus complex noise of density ``noise_pm_sqrt_s``, with a
    90 degree lock-in phase offset: up domains near 90, down domains near 270 degrees, walls dark
    lines in the amplitude. Overviews are seeded from (``seed``, field, shape, dwell, detector).

    **Clock and dose.** As :class:`drivers.emulator.PlasmonEmulator` (see
    :mod:`drivers.emulator.base`): each loop costs ``exposure_s + readout_s``, each probe move
    ``settle_s``, each overview ``ny * nx * dwell_s + ny * line_flyback_s``. There is no electron
    beam: every ``dose_e`` is 0 ("blanked" means the tip bias is off).

    Args (keyword only):
        pattern: ``"random"`` (thresholded smooth random field) or ``"stripes"``.
        domain_size_m: mean domain width (random) or stripe width (stripes).
        up_fraction: area fraction of up domains, in (0, 1).
        pattern_px: grid side of the random pattern's wall-distance map (``"random"`` only).
        wall_length_m: how far from a wall its effect on the loops reaches (decay length).
        bias_max_V: largest bias of the sweep.
        n_steps: bias steps per loop (a multiple of 4).
        response_pm: saturated piezoresponse far from walls.
        coercive_V: coercive half-width of the loop far from walls.
        wall_coercive_drop: fractional drop of the coercive half-width at a wall, in [0, 1).
        wall_response_drop: fractional drop of the response at a wall, in [0, 1).
        imprint_V: magnitude of the imprint far from walls (sign set by the polarity).
        switching_width_V: width of the tanh switching step.
        slope_pm_per_V: non-hysteretic electrostatic slope of the response.
        noise_pm_sqrt_s: piezoresponse noise density (loops and amplitude / phase overviews).
        spike_rate: probability of a single-point spike per interior bias step, in [0, 0.5).
        spike_scale: spike size in units of ``response_pm``.
        resolution_m: tip resolution, FWHM of the overview blur.
        roughness_m: RMS surface roughness of the topography.
        height_noise_m_sqrt_s: topography noise density (m s^1/2).
        **scan: ``seed`` (of the domain pattern, the surface and all noise), ``sample_extent_m``
            (100 nm to 100 um) and the other :class:`drivers.emulator.ScanSettings` keywords; an
            AFM's defaults in :attr:`SCAN_DEFAULTS` (1 s loops, at most 60 s; ``readout_s`` is the
            time between loops: tip lift, bias reset; ``settle_s`` the tip settling; 1 ms overview
            dwell, 10 ms line retrace; ``drift_m_per_s`` the scanner's thermal drift).
    """

    SCAN_DEFAULTS = ScanSettings(sample_extent_m=2e-6, default_exposure_s=1.0, max_exposure_s=60.0,
                                 readout_s=0.01, settle_s=0.05, overview_dwell_s=1e-3,
                                 max_dwell_s=0.1, line_flyback_s=0.01)
    backend = "pfm-emulator"
    image_detectors = PFM_IMAGE_DETECTORS
    spectrometers = PFM_SPECTROMETERS
    signal_units = {"PFM": "V"}
    intensity_units = {"PFM": "pm"}
    capability_verbs = ("state", "expected_spectrum", "expected_spectra", "loop_parameters")

    def __init__(
        self,
        *,
        pattern: str = "random",
        domain_size_m: float = 250e-9,
        up_fraction: float = 0.5,
        pattern_px: int = 512,
        wall_length_m: float = 50e-9,
        bias_max_V: float = 8.5,
        n_steps: int = 64,
        response_pm: float = 10.0,
        coercive_V: float = 4.0,
        wall_coercive_drop: float = 0.5,
        wall_response_drop: float = 0.4,
        imprint_V: float = 0.8,
        switching_width_V: float = 0.5,
        slope_pm_per_V: float = 0.05,
        noise_pm_sqrt_s: float = 0.05,
        spike_rate: float = 0.01,
        spike_scale: float = 8.0,
        resolution_m: float = 20e-9,
        roughness_m: float = 1e-9,
        height_noise_m_sqrt_s: float = 1e-11,
        **scan: Unpack[ScanKwargs],
    ) -> None:
        super().__init__(**scan)
        if not 100e-9 <= self.sample_extent_m <= 100e-6:
            raise InvalidArgument(f"sample_extent_m={self.sample_extent_m!r} must lie in [1e-7, 1e-4] m "
                                  "(100 nm to 100 um)")
        if pattern not in DOMAIN_KINDS:
            raise InvalidArgument(f"pattern={pattern!r} is not known; use one of {list(DOMAIN_KINDS)}")
        self.pattern = pattern
        self.domain_size_m = positive("domain_size_m", domain_size_m, unit=" m")
        self.up_fraction = finite("up_fraction", up_fraction)
        self.pattern_px = integer("pattern_px", pattern_px, 64, 4096)
        self.wall_length_m = positive("wall_length_m", wall_length_m, unit=" m")
        self.bias_max_V = positive("bias_max_V", bias_max_V, maximum=200.0, unit=" V")
        self.n_steps = integer("n_steps", n_steps, 8, 4096)
        self.response_pm = positive("response_pm", response_pm, unit=" pm")
        self.coercive_V = positive("coercive_V", coercive_V, unit=" V")
        self.wall_coercive_drop = _fraction("wall_coercive_drop", wall_coercive_drop)
        self.wall_response_drop = _fraction("wall_response_drop", wall_response_drop)
        self.imprint_V = positive("imprint_V", imprint_V, allow_zero=True, unit=" V")
        self.switching_width_V = positive("switching_width_V", switching_width_V, unit=" V")
        self.slope_pm_per_V = finite("slope_pm_per_V", slope_pm_per_V)
        self.noise_pm_sqrt_s = positive("noise_pm_sqrt_s", noise_pm_sqrt_s, allow_zero=True,
                                        unit=" pm s^1/2")
        self.spike_rate = finite("spike_rate", spike_rate)
        if not 0.0 <= self.spike_rate < 0.5:
            raise InvalidArgument(f"spike_rate={spike_rate!r} must lie in [0, 0.5) (probability "
                                  "per bias step)")
        self.spike_scale = positive("spike_scale", spike_scale, allow_zero=True)
        self.resolution_m = positive("resolution_m", resolution_m, unit=" m")
        self.roughness_m = positive("roughness_m", roughness_m, allow_zero=True, unit=" m")
        self.height_noise_m_sqrt_s = positive("height_noise_m_sqrt_s", height_noise_m_sqrt_s,
                                              allow_zero=True, unit=" m s^1/2")
        reach = self.coercive_V + self.imprint_V + 2.0 * self.switching_width_V
        if reach > self.bias_max_V:
            raise InvalidArgument(
                f"bias_max_V={bias_max_V!r} does not saturate the loops: coercive_V + imprint_V + "
                f"2 * switching_width_V = {reach:.4g} V; raise bias_max_V or lower those")
        self._axis = Axis("bias", "V", triangle_sweep(self.bias_max_V, self.n_steps))
        self._install_domains(make_domains(self.pattern, self.seed, self.sample_extent_m,
                                           self.domain_size_m, self.up_fraction, self.pattern_px))
        self._texture = _surface_texture(self.seed, self.roughness_m)

    def __repr__(self) -> str:
        return (f"PFMEmulator(seed={self.seed}, pattern={self.pattern!r}, "
                f"domain_size_m={self.domain_size_m!r}, sample_extent_m={self.sample_extent_m!r}, "
                f"clock={self.clock_kind!r})")

    @classmethod
    def with_domains(cls, domains: DomainPattern, **kwargs: Any) -> PFMEmulator:
        """An emulator over a given (e.g. hand-made) domain ``pattern``; ``kwargs`` as the
        constructor. The pattern fixes ``sample_extent_m``; ``pattern``, ``domain_size_m``,
        ``up_fraction`` and ``pattern_px`` do not apply."""
        if not isinstance(domains, DomainPattern):
            raise InvalidArgument(f"domains must be a drivers.pfm.DomainPattern, got {type(domains)}")
        for name in ("sample_extent_m", "pattern", "domain_size_m", "up_fraction", "pattern_px"):
            if name in kwargs:
                raise InvalidArgument(f"with_domains: {name} comes from the pattern; drop it")
        extent = float(domains.extent_m)
        # Build over cheap placeholder stripes, then install the given pattern.
        emulator = cls(sample_extent_m=extent, pattern="stripes", domain_size_m=0.25 * extent,
                       **kwargs)
        emulator.pattern = domains.kind
        emulator.domain_size_m = float(domains.domain_size_m)
        emulator.up_fraction = float(domains.up_fraction)
        emulator._install_domains(domains)
        return emulator

    def _install_domains(self, domains: DomainPattern) -> None:
        self._domains = domains

    # -- read-only state ---------------------------------------------------------------------
    @property
    def domains(self) -> DomainPattern:
        """The ferroelectric domain pattern (polarity, wall distance)."""
        return self._domains

    @property
    def bias_axis(self) -> Axis:
        """(n_steps,) bias of each sweep step in V (sweep order)."""
        return self._axis

    @property
    def probe_area_A2(self) -> float:
        """Tip contact area ``pi (resolution_m / 2)^2`` in square angstroms (doses are all 0)."""
        return math.pi * (0.5 * self.resolution_m) ** 2 * A2_PER_M2

    def noise_pm(self, exposure_s: float) -> float:
        """Standard deviation (pm) of one bias step of a loop measured in ``exposure_s``."""
        exposure = positive("exposure_s", exposure_s, unit=" s")
        return self.noise_pm_sqrt_s / math.sqrt(exposure / self.n_steps)

    def state(self) -> dict[str, Any]:
        """Plain-dict instrument state: probe, last field of view, clock, sweep; no electron beam
        (``beam_current_A`` is 0, so dose estimates of a safety layer are 0 too)."""
        return {**super().state(), "beam_current_A": 0.0, "bias_max_V": self.bias_max_V,
                "n_steps": self.n_steps}

    # -- physics ------------------------------------------------------------------------------
    def loop_parameters(self, yx_m: Sequence[float] | np.ndarray) -> LoopParameters:
        """Loop shape at ``yx_m: (n, 2)`` metres (sample coordinates), see the class docs."""
        pts = as_points(yx_m)
        signed = self._domains.signed_distance_m(pts)
        near = np.exp(-np.abs(signed) / self.wall_length_m)
        response = self.response_pm * (1.0 - self.wall_response_drop * near)
        coercive = self.coercive_V * (1.0 - self.wall_coercive_drop * near)
        imprint = -self.imprint_V * np.tanh(signed / self.wall_length_m)
        n = pts.shape[0]
        return LoopParameters(
            response_pm=response,
            v_plus_V=imprint + coercive,
            v_minus_V=imprint - coercive,
            width_V=np.full(n, self.switching_width_V),
            slope_pm_per_V=np.full(n, self.slope_pm_per_V),
        )

    def remanent_signal_pm(self, yx_m: np.ndarray) -> np.ndarray:
        """Unblurred vertical PFM lock-in signal ``p * R_sat(d)`` (pm): ``(n, 2)`` -> ``(n,)``."""
        pts = as_points(yx_m)
        signed = self._domains.signed_distance_m(pts)
        near = np.exp(-np.abs(signed) / self.wall_length_m)
        polarity = np.where(signed >= 0.0, 1.0, -1.0)
        return polarity * self.response_pm * (1.0 - self.wall_response_drop * near)

    def height_m(self, yx_m: np.ndarray) -> np.ndarray:
        """Noise-free surface height (metres, mean 0): ``(n, 2)`` -> ``(n,)``."""
        pts = as_points(yx_m)
        if self._texture.shape[0] == 0:
            return np.zeros(pts.shape[0])
        phase = pts @ self._texture[:, :2].T + self._texture[:, 2]
        return np.cos(phase) @ self._texture[:, 3]

    # -- protocol verbs ----------------------------------------------------------------------
    def acquire_overview(
        self,
        fov_m: float | None = None,
        shape_px: tuple[int, int] | None = None,
        dwell_s: float | None = None,
        detector: str = "amplitude",
        timeout_s: float | None = None,
    ) -> Frame:
        """Scan a square field ``fov_m`` (metres, centred on the sample) into a ``(ny, nx)`` float64
        image of ``detector`` (``"topography"`` m, ``"amplitude"`` pm, ``"phase"`` degrees).
        ``None`` takes the constructor default. Axes are ``Axis.uniform("y"/"x", "m", -fov/2 +
        fov/(2n), fov/n, n)`` (pixel centres)."""
        return self._scan(fov_m, shape_px, dwell_s, detector, timeout_s)

    def acquire_spectrum(self, exposure_s: float, detector: str = "PFM",
                         timeout_s: float | None = None) -> Frame:
        """Run one switching loop at the parked tip in ``exposure_s`` seconds: a ``(n_steps,)``
        float64 piezoresponse (pm) on the ``bias`` axis (V, sweep order), with noise and spikes."""
        data, frame_id, metadata = self._measure(exposure_s, detector, timeout_s)
        return Frame(data, (self._axis,), frame_id, metadata)

    def _render_overview(self, pts: np.ndarray, shape_px: tuple[int, int],
                         pixel_m: tuple[float, float], dwell_s: float, detector: str,
                         rng: np.random.Generator) -> np.ndarray:
        sigma_px = (gaussian_sigma_px(self.resolution_m, pixel_m[0]),
                    gaussian_sigma_px(self.resolution_m, pixel_m[1]))
        if detector == "topography":
            height = gaussian_filter(self.height_m(pts).reshape(shape_px), sigma_px, mode="nearest")
            return height + self.height_noise_m_sqrt_s / math.sqrt(dwell_s) * rng.standard_normal(
                shape_px)
        signal = gaussian_filter(self.remanent_signal_pm(pts).reshape(shape_px), sigma_px,
                                 mode="nearest")
        sigma = self.noise_pm_sqrt_s / math.sqrt(dwell_s)
        x_part = signal + sigma * rng.standard_normal(shape_px)
        y_part = sigma * rng.standard_normal(shape_px)
        if detector == "amplitude":
            return np.hypot(x_part, y_part)
        return np.mod(_PHASE_OFFSET_DEG + np.degrees(np.arctan2(y_part, x_part)), 360.0)

    def _overview_metadata(self, detector: str) -> dict[str, Any]:
        return {"units": PFM_OVERVIEW_UNITS[detector]}

    def _render_spectrum(self, y_m: float, x_m: float, exposure_s: float,
                         key: tuple[int, int, int, float]) -> np.ndarray:
        expected = self.expected_spectra(np.array([[y_m, x_m]]))[0]
        noise = self.noise_pm(exposure_s) * seeded_rng("loop-noise", *key).standard_normal(
            self.n_steps)
        return expected + noise + self._spikes(seeded_rng("loop-spikes", *key))

    def _spectrum_metadata(self) -> dict[str, Any]:
        return {"units": "pm", "signal": "piezoresponse", "bias_max_V": self.bias_max_V,
                "n_steps": self.n_steps}

    def _spikes(self, rng: np.random.Generator) -> np.ndarray:
        """(n_steps,) spike offsets (pm): isolated interior steps, each with probability
        ``spike_rate`` (a Markov chain that forbids a spike right after a spike and fires with
        ``rate / (1 - rate)`` otherwise has exactly that stationary rate)."""
        n = self.n_steps
        draws = rng.random(n)
        signs = np.where(rng.random(n) < 0.5, -1.0, 1.0)
        sizes = rng.uniform(*_SPIKE_SIZE, size=n)
        out = np.zeros(n)
        if self.spike_rate == 0.0 or self.spike_scale == 0.0:
            return out
        p_fire = self.spike_rate / (1.0 - self.spike_rate)
        previous = draws[0] < self.spike_rate  # step 0 itself never spikes; it seeds the chain
        for i in range(1, n - 1):
            fire = (not previous) and draws[i] < p_fire
            if fire:
                out[i] = signs[i] * sizes[i] * self.spike_scale * self.response_pm
            previous = fire
        return out

    # -- ground truth (scoring only) ----------------------------------------------------------
    def expected_spectrum(self, yx_m: Sequence[float] | np.ndarray) -> np.ndarray:
        """Noise-free, spike-free loop at ``yx_m = (y, x)`` metres: ``(n_steps,)`` float64 pm."""
        return self.expected_spectra(
            self._one_point(yx_m, "expected_spectrum", "; use expected_spectra for many"))[0]

    def expected_spectra(self, yx_m: np.ndarray) -> np.ndarray:
        """Noise-free loops at ``yx_m: (n, 2)`` metres -> ``(n, n_steps)`` float64 pm (the loop
        does not depend on the exposure; only its noise does)."""
        return loop_response(self._axis.values, self.loop_parameters(yx_m))


def _surface_texture(seed: int, roughness_m: float) -> np.ndarray:
    """(k, 4) plane waves ``(ky, kx, phase, amplitude)`` whose sum has RMS ``roughness_m``."""
    if roughness_m == 0.0:
        return np.zeros((0, 4))
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x70F0]))
    log_lo, log_hi = np.log(_TEXTURE_WAVELENGTH_M)
    wavelength = np.exp(rng.uniform(log_lo, log_hi, size=_TEXTURE_WAVES))
    direction = rng.uniform(0.0, 2.0 * np.pi, size=_TEXTURE_WAVES)
    k = 2.0 * np.pi / wavelength
    phase = rng.uniform(0.0, 2.0 * np.pi, size=_TEXTURE_WAVES)
    amp = rng.uniform(0.5, 1.0, size=_TEXTURE_WAVES)
    amp *= roughness_m / math.sqrt(0.5 * float(np.sum(amp * amp)))  # RMS of random-phase cosines
    return np.stack([k * np.sin(direction), k * np.cos(direction), phase, amp], axis=1)
