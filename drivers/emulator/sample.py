"""The emulated specimen: random Ag nanoparticles on a thin amorphous-carbon film.

Geometry is analytic: every particle is a signed distance function (SDF, metres, negative inside) of
the in-plane probe position, so any probe position is evaluated exactly (no grid lookup).

Conventions
-----------
* Positions are ``(y, x)`` in metres, origin at the centre of the square sample (and of the default
  scan); ``yx_m`` arrays are ``(n, 2)`` float64.
* A particle's ``angle_rad`` is measured from +x towards +y; its local frame has ``u`` along that
  direction and ``v`` perpendicular to it.
* ``thickness_m`` is the particle's height along the beam; ``projected_thickness_m(yx_m)`` is the
  path length of the beam through the particle at each position (``(n,)`` float64, metres).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from drivers.errors import InvalidArgument

__all__ = [
    "Particle",
    "Disk",
    "Rod",
    "Triangle",
    "Sample",
    "PARTICLE_KINDS",
    "as_points",
]

NM = 1e-9

PARTICLE_KINDS: tuple[str, ...] = ("disk", "rod", "triangle")
"""The particle shapes :meth:`Sample.random` knows."""

# Size ranges of the random particles (metres). Thickness is along the beam.
_DISK_DIAMETER_M = (12 * NM, 50 * NM)
_ROD_WIDTH_M = (12 * NM, 22 * NM)
_ROD_ASPECT = (1.8, 4.5)
_ROD_MAX_LENGTH_M = 64 * NM
_TRIANGLE_SIDE_M = (20 * NM, 60 * NM)
_TRIANGLE_CORNER_RADIUS_M = (1.5 * NM, 4.0 * NM)
_SLAB_THICKNESS_M = (15 * NM, 30 * NM)

# Support texture: a sum of plane waves (analytic, so it is exact anywhere).
_TEXTURE_WAVES = 24
_TEXTURE_WAVELENGTH_M = (4 * NM, 40 * NM)
_TEXTURE_RELATIVE_STD = 0.12


def as_points(yx_m: Sequence[float] | Sequence[Sequence[float]] | np.ndarray,
              name: str = "yx_m") -> np.ndarray:
    """Validate positions; return ``(n, 2)`` float64 metres (a single pair gives n = 1)."""
    pts = np.asarray(yx_m, dtype=np.float64)
    if pts.ndim == 1:
        pts = pts.reshape(1, -1)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise InvalidArgument(
            f"{name} must be (y, x) metres or an (n, 2) array of them, got shape {pts.shape}"
        )
    if not np.all(np.isfinite(pts)):
        raise InvalidArgument(f"{name} holds NaN or infinite values; pass finite metres")
    return pts


@dataclass(frozen=True)
class Particle:
    """Base of every particle shape.

    Args:
        centre_yx_m: (y, x) centre in metres.
        angle_rad: in-plane orientation, from +x towards +y.
        thickness_m: height along the beam (metres).
    """

    kind: ClassVar[str] = "particle"

    centre_yx_m: tuple[float, float]
    angle_rad: float
    thickness_m: float

    # -- geometry every shape provides --------------------------------------------------------
    def sdf(self, yx_m: np.ndarray) -> np.ndarray:
        """Signed distance (metres) to the outline: ``(n, 2)`` -> ``(n,)``, negative inside."""
        raise NotImplementedError

    def projected_thickness_m(self, yx_m: np.ndarray) -> np.ndarray:
        """Beam path length through the particle (metres), ``(n, 2)`` -> ``(n,)``; 0 outside."""
        raise NotImplementedError

    @property
    def size_m(self) -> float:
        """Largest in-plane dimension (metres)."""
        raise NotImplementedError

    @property
    def bounding_radius_m(self) -> float:
        """Radius of a circle about the centre that contains the whole particle (metres)."""
        raise NotImplementedError

    @property
    def inner_radius_m(self) -> float:
        """Radius of a circle about the centre that lies wholly inside the particle (metres)."""
        raise NotImplementedError

    def hotspots_m(self, offset_m: float) -> np.ndarray:
        """Points ``offset_m`` outside the particle where its low-energy dipole mode is strongest
        (rod tips, triangle corners, disk rim points): ``(k, 2)`` float64 metres."""
        raise NotImplementedError

    # -- shared helpers -----------------------------------------------------------------------
    def local_uv(self, yx_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates in the particle frame: ``u`` along ``angle_rad``, ``v`` perpendicular
        (metres, each ``(n,)``)."""
        dy = yx_m[:, 0] - self.centre_yx_m[0]
        dx = yx_m[:, 1] - self.centre_yx_m[1]
        c, s = math.cos(self.angle_rad), math.sin(self.angle_rad)
        return dx * c + dy * s, -dx * s + dy * c

    def to_sample_yx(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`local_uv`: ``(n, 2)`` sample (y, x) metres."""
        c, s = math.cos(self.angle_rad), math.sin(self.angle_rad)
        x = self.centre_yx_m[1] + u * c - v * s
        y = self.centre_yx_m[0] + u * s + v * c
        return np.stack([np.asarray(y, dtype=np.float64), np.asarray(x, dtype=np.float64)], axis=-1)

    def boundary_points_m(self, n: int = 96) -> np.ndarray:
        """``n`` points on the outline (``(n, 2)`` metres, never inside it), found by sphere tracing
        inwards along rays from the centre (every shape here is convex, so each ray crosses the
        outline once and a step of ``sdf`` never overshoots it)."""
        theta = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
        direction = np.stack([np.sin(theta), np.cos(theta)], axis=1)
        centre = np.asarray(self.centre_yx_m, dtype=np.float64)
        r = np.full(n, 1.01 * self.bounding_radius_m)
        for _ in range(24):
            step = self.sdf(centre + direction * r[:, None])
            r -= step
            if step.max() < 1e-12:
                break
        return centre + direction * r[:, None]

    def describe(self) -> dict[str, float | str | tuple[float, float]]:
        """Plain-dict summary (for logs and ``mode_summary``)."""
        return {
            "kind": self.kind,
            "centre_yx_m": (float(self.centre_yx_m[0]), float(self.centre_yx_m[1])),
            "angle_rad": float(self.angle_rad),
            "thickness_m": float(self.thickness_m),
            "size_m": float(self.size_m),
        }


def _slab_profile(depth_m: np.ndarray, thickness_m: float) -> np.ndarray:
    """Projected thickness of a flat slab of height ``thickness_m`` whose rim is a half-cylinder of
    radius ``thickness_m / 2``; ``depth_m`` is the distance inside the outline (``-sdf``)."""
    rim = 0.5 * thickness_m
    d = np.clip(depth_m, 0.0, rim)
    return 2.0 * np.sqrt(np.maximum(rim * rim - (rim - d) ** 2, 0.0))


@dataclass(frozen=True)
class Disk(Particle):
    """A flat disk (slab) of ``diameter_m`` and height ``thickness_m``."""

    kind: ClassVar[str] = "disk"

    diameter_m: float = 30 * NM

    def sdf(self, yx_m: np.ndarray) -> np.ndarray:
        dy = yx_m[:, 0] - self.centre_yx_m[0]
        dx = yx_m[:, 1] - self.centre_yx_m[1]
        return np.hypot(dy, dx) - 0.5 * self.diameter_m

    def projected_thickness_m(self, yx_m: np.ndarray) -> np.ndarray:
        return _slab_profile(-self.sdf(yx_m), self.thickness_m)

    @property
    def size_m(self) -> float:
        return float(self.diameter_m)

    @property
    def bounding_radius_m(self) -> float:
        return 0.5 * float(self.diameter_m)

    @property
    def inner_radius_m(self) -> float:
        return 0.5 * float(self.diameter_m)

    def hotspots_m(self, offset_m: float) -> np.ndarray:
        theta = np.linspace(0.0, 2.0 * np.pi, 8, endpoint=False)
        r = 0.5 * self.diameter_m + offset_m
        return self.to_sample_yx(r * np.cos(theta), r * np.sin(theta))

    def describe(self) -> dict[str, float | str | tuple[float, float]]:
        return {**super().describe(), "diameter_m": float(self.diameter_m)}


@dataclass(frozen=True)
class Rod(Particle):
    """A capsule (spherocylinder) of total ``length_m`` (tip to tip) and ``width_m``, lying along
    ``angle_rad``; its height along the beam equals its width (``thickness_m`` is set to it)."""

    kind: ClassVar[str] = "rod"

    length_m: float = 50 * NM
    width_m: float = 15 * NM

    def __post_init__(self) -> None:
        if self.length_m < self.width_m:
            raise InvalidArgument(
                f"Rod length_m={self.length_m} must be at least its width_m={self.width_m}"
            )
        object.__setattr__(self, "thickness_m", float(self.width_m))

    @property
    def radius_m(self) -> float:
        return 0.5 * float(self.width_m)

    @property
    def half_segment_m(self) -> float:
        """Half-length of the capsule's axis segment (between the centres of its end caps)."""
        return 0.5 * float(self.length_m) - self.radius_m

    @property
    def aspect_ratio(self) -> float:
        return float(self.length_m / self.width_m)

    def axis_distance_m(self, yx_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(distance to the axis segment, u, v), each ``(n,)`` metres."""
        u, v = self.local_uv(yx_m)
        du = np.maximum(np.abs(u) - self.half_segment_m, 0.0)
        return np.hypot(du, v), u, v

    def sdf(self, yx_m: np.ndarray) -> np.ndarray:
        dist, _, _ = self.axis_distance_m(yx_m)
        return dist - self.radius_m

    def projected_thickness_m(self, yx_m: np.ndarray) -> np.ndarray:
        dist, _, _ = self.axis_distance_m(yx_m)
        r = self.radius_m
        return 2.0 * np.sqrt(np.maximum(r * r - dist * dist, 0.0))

    @property
    def size_m(self) -> float:
        return float(self.length_m)

    @property
    def bounding_radius_m(self) -> float:
        return 0.5 * float(self.length_m)

    @property
    def inner_radius_m(self) -> float:
        return self.radius_m

    def hotspots_m(self, offset_m: float) -> np.ndarray:
        r = 0.5 * self.length_m + offset_m
        return self.to_sample_yx(np.array([r, -r]), np.zeros(2))

    def describe(self) -> dict[str, float | str | tuple[float, float]]:
        return {**super().describe(), "length_m": float(self.length_m),
                "width_m": float(self.width_m), "aspect_ratio": self.aspect_ratio}


@dataclass(frozen=True)
class Triangle(Particle):
    """An equilateral triangular prism (slab) of ``side_m`` (of the sharp outline) and height
    ``thickness_m``, corners rounded with ``corner_radius_m``; the first corner points along
    ``angle_rad``."""

    kind: ClassVar[str] = "triangle"

    side_m: float = 40 * NM
    corner_radius_m: float = 2 * NM

    def __post_init__(self) -> None:
        inradius = self.side_m / (2.0 * math.sqrt(3.0))
        if not 0.0 <= self.corner_radius_m < inradius:
            raise InvalidArgument(
                f"Triangle corner_radius_m={self.corner_radius_m} must lie in [0, {inradius}) "
                f"(the inradius of side_m={self.side_m})"
            )

    @property
    def inradius_m(self) -> float:
        return float(self.side_m / (2.0 * math.sqrt(3.0)))

    def vertices_uv(self, inradius_m: float) -> np.ndarray:
        """(3, 2) (u, v) corners of an equilateral triangle of the given inradius,
        counter-clockwise, the first on +u."""
        ang = np.array([0.0, 2.0 * np.pi / 3.0, 4.0 * np.pi / 3.0])
        return 2.0 * inradius_m * np.stack([np.cos(ang), np.sin(ang)], axis=1)

    def corners_m(self) -> np.ndarray:
        """(3, 2) sample (y, x) metres of the sharp (unrounded) corners."""
        uv = self.vertices_uv(self.inradius_m)
        return self.to_sample_yx(uv[:, 0], uv[:, 1])

    def sdf(self, yx_m: np.ndarray) -> np.ndarray:
        u, v = self.local_uv(yx_m)
        verts = self.vertices_uv(self.inradius_m - self.corner_radius_m)
        dist = np.full(u.shape, np.inf)
        inside = np.ones(u.shape, dtype=bool)
        for i in range(3):
            a, b = verts[i], verts[(i + 1) % 3]
            eu, ev = b[0] - a[0], b[1] - a[1]
            wu, wv = u - a[0], v - a[1]
            t = np.clip((wu * eu + wv * ev) / (eu * eu + ev * ev), 0.0, 1.0)
            dist = np.minimum(dist, np.hypot(wu - t * eu, wv - t * ev))
            inside &= (eu * wv - ev * wu) >= 0.0  # left of every counter-clockwise edge
        return np.where(inside, -dist, dist) - self.corner_radius_m

    def projected_thickness_m(self, yx_m: np.ndarray) -> np.ndarray:
        return _slab_profile(-self.sdf(yx_m), self.thickness_m)

    @property
    def size_m(self) -> float:
        return float(self.side_m)

    @property
    def bounding_radius_m(self) -> float:
        return 2.0 * self.inradius_m

    @property
    def inner_radius_m(self) -> float:
        return self.inradius_m

    def hotspots_m(self, offset_m: float) -> np.ndarray:
        # The rounded corner lies corner_radius_m inside the sharp vertex along the bisector
        # (equilateral: r / sin 30 deg - r = r).
        r = 2.0 * self.inradius_m - self.corner_radius_m + offset_m
        ang = np.array([0.0, 2.0 * np.pi / 3.0, 4.0 * np.pi / 3.0])
        return self.to_sample_yx(r * np.cos(ang), r * np.sin(ang))

    def describe(self) -> dict[str, float | str | tuple[float, float]]:
        return {**super().describe(), "side_m": float(self.side_m),
                "corner_radius_m": float(self.corner_radius_m)}


@dataclass(frozen=True, eq=False)
class Sample:
    """Particles on a carbon film filling a square of side ``extent_m`` centred at the origin.

    Args:
        particles: the Ag particles (non-overlapping).
        extent_m: side of the square sample (metres); the scan may cover at most this.
        support_thickness_m: mean thickness of the carbon film (metres).
        texture: (k, 4) float64 plane waves ``(ky, kx, phase, amplitude)`` (rad/m, rad/m, rad, 1)
            modulating the film thickness by ``1 + sum(amplitude * cos(k . r + phase))``.
    """

    particles: tuple[Particle, ...]
    extent_m: float
    support_thickness_m: float
    texture: np.ndarray

    def support_thickness_at(self, yx_m: np.ndarray) -> np.ndarray:
        """Carbon film thickness (metres) at ``(n, 2)`` positions -> ``(n,)``."""
        if self.support_thickness_m == 0.0:
            return np.zeros(yx_m.shape[0])
        phase = yx_m @ self.texture[:, :2].T + self.texture[:, 2]
        modulation = 1.0 + np.cos(phase) @ self.texture[:, 3]
        return self.support_thickness_m * np.clip(modulation, 0.0, None)

    def silver_thickness_at(self, yx_m: np.ndarray) -> np.ndarray:
        """Summed beam path through all particles (metres) at ``(n, 2)`` positions -> ``(n,)``."""
        total = np.zeros(yx_m.shape[0])
        for p in self.particles:
            total += p.projected_thickness_m(yx_m)
        return total

    def sdf_all(self, yx_m: np.ndarray) -> np.ndarray:
        """``(n_particles, n)`` signed distances to every particle (metres)."""
        if not self.particles:
            return np.empty((0, yx_m.shape[0]))
        return np.stack([p.sdf(yx_m) for p in self.particles])

    def nearest_particle(self, yx_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(index of the nearest particle, its signed distance), each ``(n,)``."""
        d = self.sdf_all(yx_m)
        idx = np.argmin(d, axis=0)
        return idx, d[idx, np.arange(d.shape[1])]

    def count(self, kind: str) -> int:
        return sum(1 for p in self.particles if p.kind == kind)

    @classmethod
    def random(
        cls,
        seed: int,
        extent_m: float = 200 * NM,
        n_particles: int = 12,
        kinds: Sequence[str] = PARTICLE_KINDS,
        min_gap_m: float = 6 * NM,
        support_thickness_m: float = 3 * NM,
        edge_margin_m: float = 12 * NM,
        max_attempts: int = 4000,
    ) -> Sample:
        """Draw a reproducible random sample.

        Particles are placed by rejection sampling, largest first: a proposal is accepted only if
        its outline keeps ``min_gap_m`` from every placed particle and ``edge_margin_m`` from the
        sample border. The first ``len(kinds)`` particles take each kind once, the rest are drawn
        uniformly from ``kinds``. Raises ``InvalidArgument`` when the particles do not fit.
        """
        unknown = [k for k in kinds if k not in PARTICLE_KINDS]
        if not kinds or unknown:
            raise InvalidArgument(
                f"particle_kinds={list(kinds)} must be a non-empty subset of {list(PARTICLE_KINDS)}"
            )
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5A3D1E]))
        chosen = list(kinds)[: max(0, n_particles)]
        while len(chosen) < n_particles:
            chosen.append(str(rng.choice(list(kinds))))
        # Draw a first shape per slot to order them largest first (denser packing).
        proposals = [_draw_shape(rng, kind) for kind in chosen]
        order = sorted(range(n_particles), key=lambda i: -proposals[i]["bound"])

        placed: list[Particle] = []
        outlines: list[np.ndarray] = []
        half = 0.5 * extent_m
        for slot in order:
            kind = chosen[slot]
            shape = proposals[slot]
            for attempt in range(max_attempts):
                if attempt:
                    shape = _draw_shape(rng, kind)
                room = half - edge_margin_m - shape["bound"]
                if room <= 0.0:
                    continue
                centre = (float(rng.uniform(-room, room)), float(rng.uniform(-room, room)))
                particle = _build(kind, shape, centre, float(rng.uniform(0.0, 2.0 * np.pi)))
                # The bounding circle lies inside the margin by construction of ``room``; only
                # neighbours whose bounding circles come close need the exact outline test.
                dist = [math.dist(particle.centre_yx_m, q.centre_yx_m) for q in placed]
                if any(d < particle.inner_radius_m + q.inner_radius_m + min_gap_m
                       for d, q in zip(dist, placed)):
                    continue  # certainly too close: no need for outlines
                near = [k for k, q in enumerate(placed) if dist[k] <= particle.bounding_radius_m
                        + q.bounding_radius_m + min_gap_m]
                if near:
                    outline = particle.boundary_points_m()
                    if not all(_apart(particle, outline, placed[k], outlines[k], min_gap_m)
                               for k in near):
                        continue
                placed.append(particle)
                outlines.append(particle.boundary_points_m())
                break
            else:
                raise InvalidArgument(
                    f"could not place {n_particles} particles on a {extent_m * 1e9:.0f} nm sample "
                    f"with min_gap_m={min_gap_m}: reduce n_particles or enlarge sample_extent_m"
                )

        texture = _draw_texture(rng)
        return cls(tuple(placed), float(extent_m), float(support_thickness_m), texture)


def _draw_shape(rng: np.random.Generator, kind: str) -> dict[str, float]:
    """Random size parameters of one particle kind (metres), with its bounding radius."""
    if kind == "disk":
        d = float(rng.uniform(*_DISK_DIAMETER_M))
        return {"diameter": d, "thickness": float(rng.uniform(*_SLAB_THICKNESS_M)), "bound": d / 2}
    if kind == "rod":
        aspect = float(rng.uniform(*_ROD_ASPECT))
        w = float(rng.uniform(_ROD_WIDTH_M[0], min(_ROD_WIDTH_M[1], _ROD_MAX_LENGTH_M / aspect)))
        return {"length": w * aspect, "width": w, "bound": w * aspect / 2}
    side = float(rng.uniform(*_TRIANGLE_SIDE_M))
    radius = min(float(rng.uniform(*_TRIANGLE_CORNER_RADIUS_M)), 0.1 * side)
    return {"side": side, "corner_radius": radius,
            "thickness": float(rng.uniform(*_SLAB_THICKNESS_M)), "bound": side / math.sqrt(3.0)}


def _build(kind: str, shape: dict[str, float], centre: tuple[float, float],
           angle: float) -> Particle:
    if kind == "disk":
        return Disk(centre, angle, shape["thickness"], diameter_m=shape["diameter"])
    if kind == "rod":
        return Rod(centre, angle, shape["width"], length_m=shape["length"], width_m=shape["width"])
    return Triangle(centre, angle, shape["thickness"], side_m=shape["side"],
                    corner_radius_m=shape["corner_radius"])


def _apart(p: Particle, p_outline: np.ndarray, q: Particle, q_outline: np.ndarray,
           gap_m: float) -> bool:
    """True when the outlines of two convex particles stay at least ``gap_m`` apart (checks each
    outline against the other's exact SDF, so containment is caught too)."""
    return bool(q.sdf(p_outline).min() >= gap_m and p.sdf(q_outline).min() >= gap_m)


def _draw_texture(rng: np.random.Generator) -> np.ndarray:
    log_lo, log_hi = np.log(_TEXTURE_WAVELENGTH_M)
    wavelength = np.exp(rng.uniform(log_lo, log_hi, size=_TEXTURE_WAVES))
    direction = rng.uniform(0.0, 2.0 * np.pi, size=_TEXTURE_WAVES)
    k = 2.0 * np.pi / wavelength
    phase = rng.uniform(0.0, 2.0 * np.pi, size=_TEXTURE_WAVES)
    amp = rng.uniform(0.5, 1.0, size=_TEXTURE_WAVES)
    # Sum of k random-phase cosines has variance sum(a^2)/2: scale to the target std.
    amp *= _TEXTURE_RELATIVE_STD / math.sqrt(0.5 * float(np.sum(amp * amp)))
    return np.stack([k * np.sin(direction), k * np.cos(direction), phase, amp], axis=1)
