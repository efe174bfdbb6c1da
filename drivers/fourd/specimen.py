"""The 4D-STEM specimen: random nanoparticles of several materials on a thin amorphous-carbon film.

Every particle is an elliptical dome whose projected thickness is

    t(r) = t0 * (1 - rho^2)^(3/2)   for rho < 1 (0 outside),   rho^2 = (u / a)^2 + (v / b)^2

with ``(u, v)`` the particle frame (``u`` along ``angle_rad``, measured from +x towards +y) and
``a >= b`` its in-plane semi-axes. (The projection of a sphere, ``sqrt(1 - rho^2)``, has a slope
that diverges at the rim; a real probe of finite size averages that out. The dome keeps the slope
finite, ``|grad t| <= 1.5 t0 / b``, and continuous, so the field is exact at every position.)

The projected potential is ``V_p(r) = sum_i MIP_i t_i(r) + MIP_C t_C`` (V m) with each material's
mean inner potential (:data:`MATERIALS`); the film has a uniform thickness, so only the particles
deflect the beam (see :mod:`drivers.fourd.optics`). Scattering out of the pattern follows three
exponential attenuation depths per material: beyond the ADF ring into the HAADF detector
(``haadf_mfp_m``), into the ADF ring (``adf_mfp_m``), and into the low-angle diffuse halo that
stays on the camera (``halo_mfp_m``).

Positions are ``(y, x)`` metres, origin at the centre of the square sample; ``yx_m`` arrays are
``(n, 2)`` float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from drivers.errors import InvalidArgument

__all__ = ["Material", "MATERIALS", "SUPPORT_MATERIAL", "DomeParticle", "Specimen"]


@dataclass(frozen=True)
class Material:
    """Electron-optical properties of one material.

    Args:
        name: e.g. ``"Au"``.
        mip_V: mean inner potential (V).
        haadf_mfp_m: attenuation depth for scattering to the HAADF range (metres).
        adf_mfp_m: attenuation depth for scattering to the ADF ring (metres).
        halo_mfp_m: attenuation depth for low-angle diffuse scattering that stays on the camera.
    """

    name: str
    mip_V: float
    haadf_mfp_m: float
    adf_mfp_m: float
    halo_mfp_m: float


MATERIALS: dict[str, Material] = {
    m.name: m
    for m in (
        Material("Au", 29.0, 60e-9, 45e-9, 35e-9),
        Material("Pt", 30.0, 55e-9, 42e-9, 33e-9),
        Material("Ag", 21.0, 90e-9, 60e-9, 45e-9),
        Material("Fe3O4", 17.0, 250e-9, 100e-9, 70e-9),
        Material("SiO2", 10.0, 1200e-9, 250e-9, 150e-9),
    )
}
"""Particle materials (mean inner potentials from electron holography, rounded)."""

SUPPORT_MATERIAL = Material("C", 9.0, 3000e-9, 400e-9, 250e-9)
"""The amorphous-carbon support film."""


@dataclass(frozen=True)
class DomeParticle:
    """One particle (see the module docstring).

    Args:
        centre_yx_m: (y, x) centre in metres.
        semi_axes_m: (a, b) in-plane semi-axes in metres, ``a >= b > 0``.
        angle_rad: direction of ``a``, from +x towards +y.
        thickness_m: projected thickness at the centre, ``t0`` (metres).
        material: its :class:`Material`.
    """

    centre_yx_m: tuple[float, float]
    semi_axes_m: tuple[float, float]
    angle_rad: float
    thickness_m: float
    material: Material

    def __post_init__(self) -> None:
        a, b = (float(v) for v in self.semi_axes_m)
        if not a >= b > 0.0:
            raise InvalidArgument(f"DomeParticle semi_axes_m={self.semi_axes_m} must be (a, b) with "
                                  "a >= b > 0 metres")
        if not self.thickness_m > 0.0:
            raise InvalidArgument(f"DomeParticle thickness_m={self.thickness_m} must be > 0 metres")
        object.__setattr__(self, "semi_axes_m", (a, b))

    def _local(self, yx_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
        dy = yx_m[:, 0] - self.centre_yx_m[0]
        dx = yx_m[:, 1] - self.centre_yx_m[1]
        c, s = math.cos(self.angle_rad), math.sin(self.angle_rad)
        return dx * c + dy * s, -dx * s + dy * c, c, s

    def rho2(self, yx_m: np.ndarray) -> np.ndarray:
        """Squared normalised radius ``(u/a)^2 + (v/b)^2``: ``(n, 2)`` -> ``(n,)``."""
        u, v, _, _ = self._local(yx_m)
        a, b = self.semi_axes_m
        return (u / a) ** 2 + (v / b) ** 2

    def projected_thickness_m(self, yx_m: np.ndarray) -> np.ndarray:
        """Beam path length through the particle (metres): ``(n, 2)`` -> ``(n,)``, 0 outside."""
        inside = np.clip(1.0 - self.rho2(yx_m), 0.0, None)
        return self.thickness_m * inside**1.5

    def thickness_gradient(self, yx_m: np.ndarray) -> np.ndarray:
        """``grad t`` (dimensionless, metres per metre) as ``(n, 2)`` (d/dy, d/dx); 0 outside."""
        u, v, c, s = self._local(yx_m)
        a, b = self.semi_axes_m
        inside = np.clip(1.0 - (u / a) ** 2 - (v / b) ** 2, 0.0, None)
        dt_drho2 = -1.5 * self.thickness_m * np.sqrt(inside)
        du, dv = 2.0 * u / a**2, 2.0 * v / b**2  # d(rho^2)/du, d(rho^2)/dv
        # u = dx c + dy s, v = -dx s + dy c:  d/dy = s d/du + c d/dv, d/dx = c d/du - s d/dv
        gy = dt_drho2 * (s * du + c * dv)
        gx = dt_drho2 * (c * du - s * dv)
        return np.stack([gy, gx], axis=1)

    @property
    def max_slope(self) -> float:
        """Largest ``|grad t|`` anywhere: ``1.5 t0 / b``."""
        return 1.5 * self.thickness_m / min(self.semi_axes_m)

    @property
    def bounding_radius_m(self) -> float:
        return float(max(self.semi_axes_m))

    def describe(self) -> dict[str, float | str | tuple[float, float]]:
        return {"material": self.material.name,
                "centre_yx_m": (float(self.centre_yx_m[0]), float(self.centre_yx_m[1])),
                "semi_axes_m": (float(self.semi_axes_m[0]), float(self.semi_axes_m[1])),
                "angle_rad": float(self.angle_rad), "thickness_m": float(self.thickness_m),
                "mip_V": self.material.mip_V}


@dataclass(frozen=True, eq=False)
class Specimen:
    """Particles on a uniform carbon film filling a square of side ``extent_m`` at the origin.

    Args:
        particles: the particles (non-overlapping).
        extent_m: side of the square sample (metres).
        support_thickness_m: carbon film thickness (metres).
    """

    particles: tuple[DomeParticle, ...]
    extent_m: float
    support_thickness_m: float

    def projected_potential_V_m(self, yx_m: np.ndarray) -> np.ndarray:
        """``V_p`` (V m): ``(n, 2)`` -> ``(n,)``."""
        out = np.full(yx_m.shape[0], SUPPORT_MATERIAL.mip_V * self.support_thickness_m)
        for p in self.particles:
            out += p.material.mip_V * p.projected_thickness_m(yx_m)
        return out

    def potential_gradient_V(self, yx_m: np.ndarray) -> np.ndarray:
        """``grad V_p`` (V) as ``(n, 2)`` (d/dy, d/dx): minus the beam-integrated in-plane field."""
        out = np.zeros((yx_m.shape[0], 2))
        for p in self.particles:
            out += p.material.mip_V * p.thickness_gradient(yx_m)
        return out

    def scattering_depths(self, yx_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(tau_haadf, tau_adf, tau_halo)``, each ``(n,)``: sums of thickness over attenuation
        depth along the beam for the three scattering ranges."""
        c = SUPPORT_MATERIAL
        t_c = self.support_thickness_m
        tau_h = np.full(yx_m.shape[0], t_c / c.haadf_mfp_m)
        tau_a = np.full(yx_m.shape[0], t_c / c.adf_mfp_m)
        tau_l = np.full(yx_m.shape[0], t_c / c.halo_mfp_m)
        for p in self.particles:
            t = p.projected_thickness_m(yx_m)
            tau_h += t / p.material.haadf_mfp_m
            tau_a += t / p.material.adf_mfp_m
            tau_l += t / p.material.halo_mfp_m
        return tau_h, tau_a, tau_l

    @property
    def max_gradient_V(self) -> float:
        """Upper bound of ``|grad V_p|`` anywhere (V): the largest particle's ``MIP * max_slope``
        (particles do not overlap)."""
        return max((p.material.mip_V * p.max_slope for p in self.particles), default=0.0)

    @classmethod
    def random(
        cls,
        seed: int,
        extent_m: float = 200e-9,
        n_particles: int = 12,
        materials: Sequence[str] = ("Au", "Ag", "Fe3O4", "SiO2"),
        radius_range_m: tuple[float, float] = (5e-9, 20e-9),
        min_gap_m: float = 4e-9,
        support_thickness_m: float = 5e-9,
        edge_margin_m: float = 8e-9,
        max_attempts: int = 4000,
    ) -> Specimen:
        """Draw a reproducible random specimen.

        Each particle: long semi-axis ``a`` uniform in ``radius_range_m``, ``b = a`` times a factor
        uniform in [0.6, 1], random orientation, centre thickness ``2 b`` times a factor uniform in
        [0.6, 1] (flattened spheroids), material cycling through ``materials`` (the first
        ``len(materials)`` take each once, the rest drawn uniformly). Placement is rejection
        sampling, largest first, keeping bounding circles ``min_gap_m`` apart and
        ``edge_margin_m`` inside the border. Raises ``InvalidArgument`` when they do not fit.
        """
        unknown = [m for m in materials if m not in MATERIALS]
        if not materials or unknown:
            raise InvalidArgument(f"materials={list(materials)} must be a non-empty subset of "
                                  f"{sorted(MATERIALS)}")
        lo, hi = float(radius_range_m[0]), float(radius_range_m[1])
        if not 0.0 < lo <= hi:
            raise InvalidArgument(f"radius_range_m={list(radius_range_m)} must be [lo, hi] with "
                                  "0 < lo <= hi metres")
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x4D57E]))
        chosen = list(materials)[: max(0, n_particles)]
        while len(chosen) < n_particles:
            chosen.append(str(rng.choice(list(materials))))
        radii = sorted((float(rng.uniform(lo, hi)) for _ in chosen), reverse=True)
        half = 0.5 * extent_m
        placed: list[DomeParticle] = []
        for radius, name in zip(radii, chosen):
            room = half - edge_margin_m - radius
            if room <= 0.0:
                raise InvalidArgument(
                    f"a particle of radius {radius:.3g} m does not fit a {extent_m:.3g} m sample; "
                    "reduce radius_range_m or enlarge sample_extent_m")
            for _ in range(max_attempts):
                centre = (float(rng.uniform(-room, room)), float(rng.uniform(-room, room)))
                if all(math.dist(centre, q.centre_yx_m) >= radius + q.bounding_radius_m + min_gap_m
                       for q in placed):
                    break
            else:
                raise InvalidArgument(
                    f"could not place {n_particles} particles on a {extent_m * 1e9:.0f} nm sample "
                    f"with min_gap_m={min_gap_m}: reduce n_particles or enlarge sample_extent_m")
            b = radius * float(rng.uniform(0.6, 1.0))
            thickness = 2.0 * b * float(rng.uniform(0.6, 1.0))
            placed.append(DomeParticle(centre, (radius, b), float(rng.uniform(0.0, math.pi)),
                                       thickness, MATERIALS[name]))
        return cls(tuple(placed), float(extent_m), float(support_thickness_m))
