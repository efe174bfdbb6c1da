"""Core-loss EELS on the emulator's specimen: Ag particles on a carbon film, hundreds of eV.

Model (per incident electron, probabilities per channel; counts = electrons x probability)
----------------------------------------------------------------------------------------
* **Edges.** The particle element's and the support element's ionisation edges: Ag M5 / M4
  (367 / 373 eV, 3 : 2 by the 3d5/2 : 3d3/2 occupancy) and C K (284 eV). Onsets and shapes
  ("Abrupt onset" / "Delayed maximum") come from exspy's element database
  (``exspy.material.elements.<El>.Atomic_properties.Binding_energies``) when exspy is installed, from
  the same numbers kept here otherwise (``edge_database="builtin"`` skips exspy).

  - abrupt (sawtooth, K shells): a step at the onset, then ``(E / E0)^-s`` (s = 2.5, slower than
    the background, as hydrogenic K cross sections), plus, for C K, the pi* peak of amorphous
    carbon 1.5 eV above the onset (ELNES, 0.8 of the step);
  - delayed maximum (M4,5 of 4d metals: the centrifugal barrier of the d final states):
    ``x^2 / (1 + x^2) (E / E0)^-s`` with ``x = (E - E0) / 25 eV``: the maximum lies ~40 eV above
    the onset.

  Each shape is broadened at the onset by the energy resolution (``zlp_fwhm_eV``, a Gaussian
  step) and scaled to a single-scattering probability per eV per metre of the element's
  projected thickness at its maximum: C K 1e4 /m/eV (3e-5 /eV in a 3 nm film), Ag M4,5 6e3 /m/eV
  (1.2e-4 /eV under 20 nm of Ag), the orders of magnitude of Hartree-Slater cross sections at
  200 kV and ~10 mrad collection.
* **Background.** The tail of the valence losses, ``(b_C t_C + b_Ag t_Ag) (E / 284 eV)^-r`` with
  ``r = background_power`` (3 by default; b_C 1e3, b_Ag 1.5e3 /m/eV): a C K jump ratio of ~7 on
  the bare film, below 1 at the Ag M4,5 edge under thick particles.
* **Thickness.** Single-scattering signals are carried by the unscattered beam: every row is
  scaled by the zero-loss fraction ``exp(-t_Ag / 90 nm - t_C / 150 nm)`` of the low-loss model,
  so the carbon edge under a thick particle is weaker than on the bare film.

The model is low rank like :class:`~drivers.emulator.physics.SpectrumModel` (3 rows: background,
support edge, particle edges), so ground truth over thousands of positions is one product; the
emulator's noise (Poisson from beam current x exposure), clock, dose and ground-truth paths are
:class:`~drivers.emulator.PlasmonEmulator`'s.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import erf

from ..errors import InvalidArgument
from .driver import PlasmonEmulator
from .physics import ZLP_MFP_AG_M, ZLP_MFP_C_M
from .sample import NM, Sample

__all__ = ["CoreLossEmulator", "CoreLossModel", "Edge", "edge", "BUILTIN_EDGES"]

log = logging.getLogger(__name__)

#: (element, subshell) -> (onset eV, exspy's shape name): used when exspy is not installed
BUILTIN_EDGES: dict[tuple[str, str], tuple[float, str]] = {
    ("C", "K"): (284.0, "Abrupt onset"),
    ("Ag", "M5"): (367.0, "Delayed maximum"),
    ("Ag", "M4"): (373.0, "Delayed maximum"),
}
EDGE_DECAY_POWER = 2.5
DELAY_WIDTH_EV = 25.0
PI_STAR_OFFSET_EV, PI_STAR_FWHM_EV, PI_STAR_HEIGHT = 1.5, 1.5, 0.8
C_K_PER_M_PER_EV = 3e-5 / (3 * NM)
AG_M45_PER_M_PER_EV = 1.2e-4 / (20 * NM)
BACKGROUND_PER_M_PER_EV = {"C": 3e-6 / (3 * NM), "Ag": 3e-5 / (20 * NM)}
BACKGROUND_REF_EV = 284.0


@dataclass(frozen=True)
class Edge:
    """One ionisation edge: ``element``, ``subshell``, ``onset_eV``, ``shape`` (exspy's name) and
    where the numbers came from (``"exspy"`` or ``"builtin"``)."""

    element: str
    subshell: str
    onset_eV: float
    shape: str
    source: str


def edge(element: str, subshell: str, database: str = "exspy") -> Edge:
    """The onset and shape of ``element``'s ``subshell`` edge, from exspy's database (``database=
    "exspy"``, falling back to :data:`BUILTIN_EDGES` when exspy is not installed) or the built-in
    table (``"builtin"``)."""
    if database not in ("exspy", "builtin"):
        raise InvalidArgument(f"edge_database={database!r} must be 'exspy' or 'builtin'")
    if database == "exspy":
        try:
            from exspy.material import elements
        except ImportError:
            log.info("exspy is not installed (the replay extra): edge onsets from the built-in table")
        else:
            path = f"{element}.Atomic_properties.Binding_energies.{subshell}"
            if not elements.has_item(path):
                raise InvalidArgument(f"exspy's database has no {element} {subshell} edge")
            onset = float(elements.get_item(f"{path}.onset_energy (eV)"))
            shape = str(elements.get_item(f"{path}.edge")) if elements.has_item(f"{path}.edge") else ""
            return Edge(element, subshell, onset, shape, "exspy")
    try:
        onset, shape = BUILTIN_EDGES[(element, subshell)]
    except KeyError:
        raise InvalidArgument(f"no built-in {element} {subshell} edge; known: {sorted(BUILTIN_EDGES)} "
                              f"(install exspy for the others)") from None
    return Edge(element, subshell, onset, shape, "builtin")


def _edge_shape(energy: np.ndarray, e: Edge, resolution_eV: float) -> np.ndarray:
    """Unit-maximum edge shape on ``energy`` (eV), broadened at the onset."""
    sigma = max(resolution_eV, 1e-3) / (2.0 * math.sqrt(2.0 * math.log(2.0)))

    def raw(x: np.ndarray) -> np.ndarray:
        above = np.clip(x, e.onset_eV, None)
        decay = (above / e.onset_eV) ** -EDGE_DECAY_POWER
        if e.shape.lower().startswith("delayed"):
            u = (above - e.onset_eV) / DELAY_WIDTH_EV
            return u * u / (1.0 + u * u) * decay
        out = decay
        if e.element == "C" and e.subshell == "K":  # pi* of amorphous carbon
            w = PI_STAR_FWHM_EV / (2.0 * math.sqrt(2.0 * math.log(2.0)))
            out = out + PI_STAR_HEIGHT * np.exp(-0.5 * ((x - e.onset_eV - PI_STAR_OFFSET_EV) / w) ** 2)
        return out

    step = 0.5 * (1.0 + erf((energy - e.onset_eV) / (sigma * math.sqrt(2.0))))
    fine = np.linspace(e.onset_eV, e.onset_eV + 400.0, 8001)
    peak = float(np.max(raw(fine)))
    return step * raw(energy) / peak


class CoreLossModel:
    """Noise-free core-loss model of one sample on one energy axis (see the module docs).

    ``probabilities(yx_m)`` = ``coefficients (n, 3) @ basis (3, C)``; the rows are the power-law
    background, the support's edge and the particle's edges.

    Args:
        sample: the specimen.
        energy_eV: (C,) channel centres (eV), uniform, > 0.
        resolution_eV: energy resolution (onset broadening).
        background_power: exponent ``r`` of the background ``E^-r``.
        edge_database: ``"exspy"`` or ``"builtin"`` (see :func:`edge`).
    """

    modes: tuple = ()  # no plasmon modes on a core-loss axis

    def __init__(self, sample: Sample, energy_eV: np.ndarray, resolution_eV: float,
                 background_power: float = 3.0, edge_database: str = "exspy") -> None:
        self.sample = sample
        self.energy_eV = np.asarray(energy_eV, dtype=np.float64)
        if self.energy_eV.size < 2 or self.energy_eV[0] <= 0:
            raise InvalidArgument("a core-loss axis needs >= 2 channels above 0 eV (energy_offset_eV > 0)")
        step = float(self.energy_eV[1] - self.energy_eV[0])
        self.edges = (edge("C", "K", edge_database), edge("Ag", "M5", edge_database),
                      edge("Ag", "M4", edge_database))
        c_k, m5, m4 = self.edges
        support = C_K_PER_M_PER_EV * _edge_shape(self.energy_eV, c_k, resolution_eV)
        m45 = 0.6 * _edge_shape(self.energy_eV, m5, resolution_eV) + 0.4 * _edge_shape(self.energy_eV, m4,
                                                                                      resolution_eV)
        particle = AG_M45_PER_M_PER_EV * m45 / float(np.max(m45) or 1.0)
        background = (self.energy_eV / BACKGROUND_REF_EV) ** (-float(background_power))
        self.basis = np.stack([background, support, particle]) * step  # (3, C) per metre (rows 1-2)

    @property
    def n_modes(self) -> int:
        return 0

    def coefficients(self, yx_m: np.ndarray) -> np.ndarray:
        """``(n, 3)`` weights of the basis rows at positions ``yx_m (n, 2)`` metres."""
        t_ag = self.sample.silver_thickness_at(yx_m)
        t_c = self.sample.support_thickness_at(yx_m)
        unscattered = np.exp(-t_ag / ZLP_MFP_AG_M - t_c / ZLP_MFP_C_M)
        bg = BACKGROUND_PER_M_PER_EV["C"] * t_c + BACKGROUND_PER_M_PER_EV["Ag"] * t_ag
        return np.stack([bg, t_c, t_ag], axis=1) * unscattered[:, None]

    def probabilities(self, yx_m: np.ndarray) -> np.ndarray:
        """Loss probability per electron in each channel: ``(n, 2)`` -> ``(n, C)`` float64."""
        return self.coefficients(yx_m) @ self.basis


class CoreLossEmulator(PlasmonEmulator):
    """The plasmon emulator's specimen, beam, clock, dose and noise, with core-loss spectra.

    ``autoscope driver=emulator_coreloss reward=edge_intensity`` (C K, the support's edge, over the
    default axis 200-520 eV; ``reward.edge_onset_eV=367 'reward.pre_edge_eV=[320,362]'`` for the
    particles' Ag M4,5). Ground truth goes through the same ``expected_spectra`` path as the
    low-loss emulator.

    Args:
        background_power: exponent ``r`` of the power-law background ``A E^-r``.
        edge_database: ``"exspy"`` (edge onsets and shapes from exspy's database; the built-in table
            when exspy is missing) or ``"builtin"``.
        energy_offset_eV, dispersion_eV, n_channels, zlp_fwhm_eV: the core-loss axis (defaults
            200 eV, 0.5 eV/channel, 640 channels: 200-519.5 eV) and the energy resolution.
        **options: every other keyword of :class:`PlasmonEmulator` (``seed``, the sample, the beam
            and the :class:`drivers.emulator.ScanSettings` keywords).
    """

    def __init__(self, *, energy_offset_eV: float = 200.0, dispersion_eV: float = 0.5,
                 n_channels: int = 640, zlp_fwhm_eV: float = 1.0, background_power: float = 3.0,
                 edge_database: str = "exspy", **options: Any) -> None:
        power = float(background_power)
        if not (math.isfinite(power) and 1.0 <= power <= 6.0):
            raise InvalidArgument(f"background_power={background_power!r} must lie in [1, 6] (typically 2-5)")
        if edge_database not in ("exspy", "builtin"):
            raise InvalidArgument(f"edge_database={edge_database!r} must be 'exspy' or 'builtin'")
        try:
            offset = float(energy_offset_eV)
        except (TypeError, ValueError):
            raise InvalidArgument(f"energy_offset_eV={energy_offset_eV!r} must be a number of eV") from None
        if not offset > 0:
            raise InvalidArgument(f"energy_offset_eV={energy_offset_eV!r} must be > 0 for a core-loss axis")
        self.background_power = power
        self.edge_database = edge_database
        super().__init__(energy_offset_eV=energy_offset_eV, dispersion_eV=dispersion_eV,
                         n_channels=n_channels, zlp_fwhm_eV=zlp_fwhm_eV, **options)

    def __repr__(self) -> str:
        return (f"CoreLossEmulator(seed={self.seed}, n_particles={self.n_particles}, "
                f"axis {self._axis.values[0]:g}-{self._axis.values[-1]:g} eV, clock={self.clock_kind!r})")

    def _install_sample(self, sample: Sample) -> None:
        self._sample = sample
        self._edge_model = CoreLossModel(sample, self._axis.values, self.zlp_fwhm_eV, self.background_power,
                                         self.edge_database)
        self._model = self._edge_model  # type: ignore[assignment]  # the spectra come from its probabilities()

    @property
    def edges(self) -> tuple[Edge, ...]:
        """The ionisation edges in the spectra (support's first), with where their onsets came from."""
        return self._edge_model.edges
