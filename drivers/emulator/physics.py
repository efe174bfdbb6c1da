"""Loss physics of the emulator: localized surface plasmon modes, EELS spectra and the HAADF signal.

Model (per incident electron, probabilities; counts = electrons x probability)
-----------------------------------------------------------------------------
* **Plasmon modes.** Each particle carries a few modes (:class:`Mode`). Mode energies come from the
  quasi-static resonance of a Drude metal (Ag: plasma energy 9.0 eV, background permittivity 4.0)
  in a medium of permittivity 1.7 (carbon film + vacuum),
  ``E = E_p / sqrt(eps_inf + eps_m (1-L)/L)``, with ``L`` the depolarization factor of an
  equivalent spheroid, times a retardation red shift ``1 / sqrt(1 + (size / 180 nm)^2)``:

  - rod, longitudinal dipole: prolate spheroid of the rod's aspect ratio (red-shifts with aspect
    ratio, ~1.6-2.7 eV); transverse dipole from the short-axis factor (~3.5-3.7 eV);
  - disk, in-plane dipole: oblate spheroid of diameter/thickness (red-shifts with diameter);
  - triangle, corner dipole: prolate spheroid of effective aspect ratio
    ``1 + 0.85 (side / thickness)(1 - 2 r_corner / side)`` (lowest for large, thin, sharp
    triangles); edge mode: the oblate in-plane factor of a disk of the same side (higher);
  - face (breathing / bulk-like) mode over the interior, 3.6 eV falling to 3.3 eV with size.

  Line shapes are Lorentzians (FWHM 0.1-0.3 eV, growing with size: radiative damping), integrated
  exactly over each channel.
* **Where modes are excited.** Dipole modes follow the signed distance ``d`` to the outline: a peak
  ``PEAK_OFFSET_M`` (2 nm) outside the edge, Gaussian fall-off inside (``INSIDE_WIDTH_M``, 3 nm) and
  exponential decay outside over ``decay_m``: the harmonic combination of a near-field length
  (0.3 x size) and the aloof-beam length ``v / (2 omega)``, clipped to 5-20 nm. An angular weight
  puts rod longitudinal modes at the tips (``(|u| / (L/2))^3``, zero at the side's middle), triangle
  corner modes at the corners (Gaussian in the distance to the nearest sharp vertex, width
  0.35 x side), edge modes on the flat sides and disk dipoles evenly round the rim. The face mode
  follows a logistic step ``1 / (1 + exp((d + 1 nm) / 1.5 nm))`` (inside) scaled by thickness.
* **Background.** Zero-loss peak: Gaussian core of weight ``exp(-t_Ag/90 nm - t_C/150 nm)`` and a
  power-law tail ``a (1 + t / 20 nm) |E|^-3`` with ``a = 1e-3 eV^2`` (thicker -> stronger tail);
  Ag volume plasmon (3.8 eV, FWHM 0.35 eV) proportional to the local Ag path length; a weak linear
  carbon-film background proportional to the film thickness.
* **HAADF.** Scattering probability ``1 - exp(-(t_Ag / 100 nm + t_C / lambda_C))`` where the carbon
  length follows Z-contrast: ``lambda_C = 100 nm / ((6/47)^1.7 n_C/n_Ag)`` (~1.9 um). BF is the
  unscattered fraction ``exp(-(t_Ag / 40 nm + t_C / 300 nm))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import erf, expit

from .sample import NM, Disk, Particle, Rod, Sample, Triangle

__all__ = [
    "Mode",
    "SpectrumModel",
    "build_modes",
    "mode_amplitudes",
    "detector_probability",
    "prolate_long_axis_factor",
    "inplane_factor",
    "drude_resonance_eV",
    "EDGE_MODE_KINDS",
    "E_CHARGE_C",
]

E_CHARGE_C = 1.602176634e-19
HBAR_EV_S = 6.582119569e-16
C_M_S = 299_792_458.0
ELECTRON_REST_EV = 510_998.95

AG_PLASMA_EV = 9.0
AG_EPS_INF = 4.0
EPS_MEDIUM = 1.7
RETARDATION_LENGTH_M = 180 * NM

PEAK_OFFSET_M = 2 * NM
INSIDE_WIDTH_M = 3 * NM
DECAY_RANGE_M = (5 * NM, 20 * NM)
FACE_EDGE_M = 1 * NM
FACE_SOFTNESS_M = 1.5 * NM

DIPOLE_STRENGTH = 2.5e-3  # integrated loss probability at the hot spot of a 40 nm particle
FACE_STRENGTH = 1.2e-3  # per 20 nm of particle thickness
SHAPE_FACTOR = {
    "rod_longitudinal": 1.0,
    "rod_transverse": 0.25,
    "disk_dipole": 0.5,
    "triangle_corner": 0.9,
    "triangle_edge": 0.35,
}
EDGE_MODE_KINDS: tuple[str, ...] = tuple(SHAPE_FACTOR)
"""Mode kinds localized at edges, tips and corners (dipolar, low energy)."""

BULK_EV, BULK_WIDTH_EV, BULK_PER_M = 3.8, 0.35, 1.0e-3 / (20 * NM)
ZLP_MFP_AG_M, ZLP_MFP_C_M = 90 * NM, 150 * NM
TAIL_AMPLITUDE_EV2, TAIL_POWER, TAIL_THICKNESS_M = 1.0e-3, 3.0, 20 * NM
CARBON_PER_M_PER_EV = 2.0e-5 / NM  # at 4.4 eV, linear in energy

HAADF_MFP_AG_M = 100 * NM
_N_AG, _N_C = 5.86e28, 1.0e29  # atoms per m^3
HAADF_MFP_C_M = HAADF_MFP_AG_M / ((6.0 / 47.0) ** 1.7 * _N_C / _N_AG)
BF_MFP_AG_M, BF_MFP_C_M = 40 * NM, 300 * NM


# -- resonance energies -------------------------------------------------------------------------
def prolate_long_axis_factor(aspect: float) -> float:
    """Depolarization factor along the long axis of a prolate spheroid, ``aspect = a / b >= 1``."""
    if aspect <= 1.0 + 1e-9:
        return 1.0 / 3.0
    e2 = 1.0 - 1.0 / aspect**2
    e = math.sqrt(e2)
    return (1.0 - e2) / e2 * (0.5 / e * math.log((1.0 + e) / (1.0 - e)) - 1.0)


def inplane_factor(diameter_m: float, thickness_m: float) -> float:
    """In-plane depolarization factor of a spheroid with in-plane diameter and height along the
    beam (oblate when ``diameter_m > thickness_m``)."""
    r = diameter_m / thickness_m
    if r >= 1.0 + 1e-9:
        e2 = 1.0 - 1.0 / r**2
        e = math.sqrt(e2)
        lz = (1.0 - math.sqrt(1.0 - e2) / e * math.asin(e)) / e2
    else:
        lz = prolate_long_axis_factor(1.0 / r)
    return 0.5 * (1.0 - lz)


def drude_resonance_eV(depolarization: float, size_m: float) -> float:
    """Dipole resonance (eV) of a Drude Ag particle with the given depolarization factor, with a
    retardation red shift growing with its size (metres)."""
    e_qs = AG_PLASMA_EV / math.sqrt(
        AG_EPS_INF + EPS_MEDIUM * (1.0 - depolarization) / depolarization
    )
    return e_qs / math.sqrt(1.0 + (size_m / RETARDATION_LENGTH_M) ** 2)


def _electron_speed_m_s(high_tension_V: float) -> float:
    gamma = 1.0 + high_tension_V / ELECTRON_REST_EV
    return C_M_S * math.sqrt(1.0 - 1.0 / gamma**2)


def _decay_length_m(size_m: float, energy_eV: float, speed_m_s: float) -> float:
    near_field = 0.3 * size_m
    aloof = speed_m_s / (2.0 * energy_eV / HBAR_EV_S)
    return float(np.clip(1.0 / (1.0 / near_field + 1.0 / aloof), *DECAY_RANGE_M))


def _dipole_width_eV(size_m: float) -> float:
    return float(np.clip(0.10 + 0.003 * size_m / NM, 0.10, 0.30))


@dataclass(frozen=True)
class Mode:
    """One localized surface plasmon mode.

    Args:
        particle: index into ``Sample.particles``.
        particle_kind: ``"disk"``, ``"rod"`` or ``"triangle"``.
        kind: ``"rod_longitudinal"``, ``"rod_transverse"``, ``"disk_dipole"``,
            ``"triangle_corner"``, ``"triangle_edge"`` or ``"face"``.
        energy_eV: resonance energy.
        width_eV: Lorentzian FWHM.
        strength: loss probability per electron (integrated over the line) where the spatial
            weight is 1.
        decay_m: exponential decay length outside the particle (metres; unused by ``"face"``).
    """

    particle: int
    particle_kind: str
    kind: str
    energy_eV: float
    width_eV: float
    strength: float
    decay_m: float


def build_modes(sample: Sample, high_tension_V: float) -> tuple[Mode, ...]:
    """All plasmon modes of every particle of ``sample`` (see the module docstring)."""
    speed = _electron_speed_m_s(high_tension_V)
    modes: list[Mode] = []

    def dipole(i: int, p: Particle, kind: str, energy: float) -> Mode:
        size = p.size_m
        strength = DIPOLE_STRENGTH * SHAPE_FACTOR[kind] * math.sqrt(size / (40 * NM))
        return Mode(i, p.kind, kind, energy, _dipole_width_eV(size), strength,
                    _decay_length_m(size, energy, speed))

    for i, p in enumerate(sample.particles):
        size = p.size_m
        if isinstance(p, Rod):
            l_long = prolate_long_axis_factor(p.aspect_ratio)
            modes.append(dipole(i, p, "rod_longitudinal", drude_resonance_eV(l_long, size)))
            l_trans = 0.5 * (1.0 - l_long)
            modes.append(dipole(i, p, "rod_transverse", drude_resonance_eV(l_trans, p.width_m)))
        elif isinstance(p, Disk):
            energy = drude_resonance_eV(inplane_factor(p.diameter_m, p.thickness_m), size)
            modes.append(dipole(i, p, "disk_dipole", energy))
        elif isinstance(p, Triangle):
            sharp = 1.0 - 2.0 * p.corner_radius_m / p.side_m
            aspect = 1.0 + 0.85 * (p.side_m / p.thickness_m) * sharp
            corner = drude_resonance_eV(prolate_long_axis_factor(aspect), size)
            edge = drude_resonance_eV(inplane_factor(p.side_m, p.thickness_m), size)
            modes.append(dipole(i, p, "triangle_corner", corner))
            modes.append(dipole(i, p, "triangle_edge", max(edge, corner + 0.15)))
        face_eV = 3.6 - 0.3 * float(np.clip((size - 10 * NM) / (50 * NM), 0.0, 1.0))
        modes.append(Mode(i, p.kind, "face", face_eV, 0.25,
                          FACE_STRENGTH * p.thickness_m / (20 * NM), FACE_SOFTNESS_M))
    return tuple(modes)


# -- where the modes are excited ----------------------------------------------------------------
def _edge_profile(d: np.ndarray, decay_m: float) -> np.ndarray:
    x = d - PEAK_OFFSET_M
    outside = np.exp(-np.maximum(x, 0.0) / decay_m)
    inside = np.exp(-0.5 * (np.minimum(x, 0.0) / INSIDE_WIDTH_M) ** 2)
    return np.where(x >= 0.0, outside, inside)


def _angular_weight(p: Particle, kind: str, yx_m: np.ndarray) -> np.ndarray:
    if isinstance(p, Rod):
        u, _ = p.local_uv(yx_m)
        tip = np.clip(np.abs(u) / (0.5 * p.length_m), 0.0, 1.0) ** 3
        return tip if kind == "rod_longitudinal" else 1.0 - tip
    if isinstance(p, Triangle):
        corners = p.corners_m()
        d2 = ((yx_m[:, None, :] - corners[None, :, :]) ** 2).sum(axis=2).min(axis=1)
        corner = np.exp(-d2 / (0.35 * p.side_m) ** 2)
        return corner if kind == "triangle_corner" else 1.0 - corner
    return np.ones(yx_m.shape[0])


def mode_amplitudes(sample: Sample, modes: tuple[Mode, ...], yx_m: np.ndarray) -> np.ndarray:
    """Loss probability of each mode at each position: ``yx_m (n, 2)`` metres -> ``(n, M)``."""
    out = np.empty((yx_m.shape[0], len(modes)))
    sdf_cache: dict[int, np.ndarray] = {}
    for m, mode in enumerate(modes):
        p = sample.particles[mode.particle]
        if mode.particle not in sdf_cache:
            sdf_cache[mode.particle] = p.sdf(yx_m)
        d = sdf_cache[mode.particle]
        if mode.kind == "face":
            out[:, m] = mode.strength * expit(-(d + FACE_EDGE_M) / FACE_SOFTNESS_M)
        else:
            out[:, m] = mode.strength * _angular_weight(p, mode.kind, yx_m) * _edge_profile(
                d, mode.decay_m)
    return out


# -- spectra -------------------------------------------------------------------------------------
def _lorentz_channels(lo: np.ndarray, hi: np.ndarray, centre: float, fwhm: float) -> np.ndarray:
    g = 0.5 * fwhm
    return (np.arctan((hi - centre) / g) - np.arctan((lo - centre) / g)) / np.pi


class SpectrumModel:
    """Noise-free EELS model of one sample on one energy axis.

    ``probabilities(yx_m)`` is a low-rank product ``coefficients (n, K) @ basis (K, C)``:
    K = modes + 4 background terms, so thousands of positions cost one matrix product.

    Args:
        sample: the specimen.
        energy_eV: (C,) channel centres (eV), uniform.
        zlp_fwhm_eV: FWHM of the zero-loss peak's Gaussian core.
        high_tension_V: accelerating voltage (sets the aloof decay length).
    """

    def __init__(self, sample: Sample, energy_eV: np.ndarray, zlp_fwhm_eV: float,
                 high_tension_V: float) -> None:
        self.sample = sample
        self.energy_eV = np.asarray(energy_eV, dtype=np.float64)
        self.modes = build_modes(sample, high_tension_V)
        step = float(self.energy_eV[1] - self.energy_eV[0]) if self.energy_eV.size > 1 else 1e-3
        lo, hi = self.energy_eV - 0.5 * step, self.energy_eV + 0.5 * step
        rows = [_lorentz_channels(lo, hi, m.energy_eV, m.width_eV) for m in self.modes]
        sigma = zlp_fwhm_eV / (2.0 * math.sqrt(2.0 * math.log(2.0)))
        rows.append(0.5 * (erf(hi / (sigma * math.sqrt(2))) - erf(lo / (sigma * math.sqrt(2)))))
        e_abs = np.maximum(np.abs(self.energy_eV), zlp_fwhm_eV)
        rows.append(TAIL_AMPLITUDE_EV2 * e_abs ** (-TAIL_POWER) * step)
        rows.append(CARBON_PER_M_PER_EV * np.clip(self.energy_eV, 0.0, None) / 4.4 * step)
        rows.append(BULK_PER_M * _lorentz_channels(lo, hi, BULK_EV, BULK_WIDTH_EV))
        self.basis = np.stack(rows)  # (K, C)

    @property
    def n_modes(self) -> int:
        return len(self.modes)

    def coefficients(self, yx_m: np.ndarray) -> np.ndarray:
        """``(n, K)`` weights of the basis rows at positions ``yx_m (n, 2)`` metres."""
        t_ag = self.sample.silver_thickness_at(yx_m)
        t_c = self.sample.support_thickness_at(yx_m)
        zlp = np.exp(-t_ag / ZLP_MFP_AG_M - t_c / ZLP_MFP_C_M)
        tail = 1.0 + (t_ag + t_c) / TAIL_THICKNESS_M
        background = np.stack([zlp, tail, t_c, t_ag], axis=1)
        return np.concatenate([mode_amplitudes(self.sample, self.modes, yx_m), background], axis=1)

    def probabilities(self, yx_m: np.ndarray) -> np.ndarray:
        """Loss probability per electron in each channel: ``(n, 2)`` -> ``(n, C)`` float64."""
        return self.coefficients(yx_m) @ self.basis


def detector_probability(sample: Sample, yx_m: np.ndarray, detector: str) -> np.ndarray:
    """Probability that an electron reaches the image ``detector`` (``"HAADF"`` or ``"BF"``) at
    each position: ``(n, 2)`` metres -> ``(n,)`` float64 in [0, 1]."""
    t_ag = sample.silver_thickness_at(yx_m)
    t_c = sample.support_thickness_at(yx_m)
    if detector == "HAADF":
        return 1.0 - np.exp(-(t_ag / HAADF_MFP_AG_M + t_c / HAADF_MFP_C_M))
    if detector == "BF":
        return np.exp(-(t_ag / BF_MFP_AG_M + t_c / BF_MFP_C_M))
    raise ValueError(f"detector {detector!r} has no image model")
