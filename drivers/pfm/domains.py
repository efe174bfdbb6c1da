"""Ferroelectric domain patterns: up (+1) and down (-1) polarization, walls where the sign changes.

Every pattern answers one question exactly enough for the physics: the *signed wall distance*
``s(y, x)`` in metres, positive inside up domains and negative inside down domains, so that
``|s|`` is the distance to the nearest domain wall and ``sign(s)`` the polarity.

Two kinds, both reproducible from a seed:

* :class:`RandomDomains` (``"random"``): white noise smoothed by a Gaussian (periodic, in Fourier
  space) and thresholded (a level set of a Gaussian random field), sampled on a square grid of
  ``grid_px`` pixels over the sample; the signed distance comes from exact Euclidean distance
  transforms of both phases (wall at the midpoint between unlike pixels) and is interpolated
  bilinearly, so it is accurate to about half a grid pixel. ``domain_size_m`` is the mean width
  of a domain along a straight line: by Rice's formula a field smoothed with Gaussian ``sigma``
  crosses zero every ``pi * sqrt(2) * sigma`` on average, so
  ``sigma = domain_size_m / (pi * sqrt(2))``.
* :class:`StripeDomains` (``"stripes"``): straight parallel stripes of random orientation and
  offset, up stripes ``2 * domain_size_m * up_fraction`` wide and down stripes
  ``2 * domain_size_m * (1 - up_fraction)`` wide; the signed distance is analytic (exact).

Positions are ``(y, x)`` metres with the origin at the sample centre; ``yx_m`` arrays are
``(n, 2)`` float64 (see :func:`drivers.emulator.sample.as_points`).
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.ndimage import distance_transform_edt, fourier_gaussian, map_coordinates

from drivers.errors import InvalidArgument

__all__ = ["DomainPattern", "RandomDomains", "StripeDomains", "DOMAIN_KINDS", "make_domains"]

DOMAIN_KINDS: tuple[str, ...] = ("random", "stripes")
"""The pattern kinds :func:`make_domains` knows."""

_SEED_TAG = 0xD0FA1


class DomainPattern(abc.ABC):
    """Base of the domain patterns: polarity and wall distance from :meth:`signed_distance_m`.

    A pattern declares ``extent_m`` (side of the square sample it covers, metres, centred at the
    origin), ``domain_size_m`` and ``up_fraction`` (``math.nan`` where they do not apply to a
    hand-made pattern).
    """

    kind: ClassVar[str] = "pattern"
    extent_m: float
    domain_size_m: float
    up_fraction: float

    @abc.abstractmethod
    def signed_distance_m(self, yx_m: np.ndarray) -> np.ndarray:
        """Signed distance to the nearest wall (metres): ``(n, 2)`` -> ``(n,)`` float64, positive
        in up domains, negative in down domains."""

    def polarity(self, yx_m: np.ndarray) -> np.ndarray:
        """``(n, 2)`` metres -> ``(n,)`` int8: +1 in up domains, -1 in down domains."""
        return np.where(self.signed_distance_m(yx_m) >= 0.0, 1, -1).astype(np.int8)

    def wall_distance_m(self, yx_m: np.ndarray) -> np.ndarray:
        """Distance to the nearest domain wall (metres): ``(n, 2)`` -> ``(n,)`` float64 >= 0."""
        return np.abs(self.signed_distance_m(yx_m))

    @abc.abstractmethod
    def describe(self) -> dict[str, float | str]:
        """Plain-dict summary (for logs and metadata)."""


@dataclass(frozen=True, eq=False)
class RandomDomains(DomainPattern):
    """A thresholded Gaussian random field on a grid (see the module docstring).

    Args:
        extent_m: side of the square sample (metres), centred at the origin.
        domain_size_m: mean domain width along a line (metres).
        up_fraction: area fraction of up domains (the threshold is that quantile of the field).
        signed_grid_m: (g, g) float64 signed wall distance (metres) at the grid pixel centres
            ``-extent/2 + (i + 0.5) * extent / g``.
    """

    kind: ClassVar[str] = "random"

    extent_m: float
    domain_size_m: float
    up_fraction: float
    signed_grid_m: np.ndarray

    @property
    def pitch_m(self) -> float:
        """Grid pixel pitch (metres)."""
        return self.extent_m / self.signed_grid_m.shape[0]

    def signed_distance_m(self, yx_m: np.ndarray) -> np.ndarray:
        pitch = self.pitch_m
        coords = (np.asarray(yx_m, dtype=np.float64).T + 0.5 * self.extent_m) / pitch - 0.5
        return map_coordinates(self.signed_grid_m, coords, order=1, mode="nearest")

    def describe(self) -> dict[str, float | str]:
        return {"kind": self.kind, "extent_m": self.extent_m, "domain_size_m": self.domain_size_m,
                "up_fraction": self.up_fraction, "grid_px": int(self.signed_grid_m.shape[0])}

    @classmethod
    def random(cls, seed: int, extent_m: float, domain_size_m: float, up_fraction: float = 0.5,
               grid_px: int = 1024) -> RandomDomains:
        """Draw the pattern from ``seed`` (see the module docstring). Raises ``InvalidArgument``
        when the grid cannot resolve the domains (fewer than 8 pixels per domain width) or the
        sample holds no wall."""
        pitch = extent_m / grid_px
        if domain_size_m < 8.0 * pitch:
            raise InvalidArgument(
                f"domain_size_m={domain_size_m!r} spans fewer than 8 pattern pixels of "
                f"{pitch:.3g} m; raise pattern_px or domain_size_m")
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), _SEED_TAG]))
        sigma_px = domain_size_m / (math.pi * math.sqrt(2.0)) / pitch
        noise_ft = np.fft.rfft2(rng.standard_normal((grid_px, grid_px)))
        field = np.fft.irfft2(fourier_gaussian(noise_ft, sigma_px, n=grid_px), s=(grid_px, grid_px))
        up = field > np.quantile(field, 1.0 - up_fraction)
        if up.all() or not up.any():
            raise InvalidArgument(
                f"the domain pattern has no wall (up_fraction={up_fraction!r}, domain_size_m="
                f"{domain_size_m!r}); use a smaller domain_size_m or an up_fraction in (0, 1)")
        # edt(mask): distance from each True pixel to the nearest False pixel centre; the wall
        # lies half a pixel before it.
        inside_up = distance_transform_edt(up) - 0.5
        inside_down = distance_transform_edt(~up) - 0.5
        signed = np.where(up, inside_up, -inside_down) * pitch
        return cls(float(extent_m), float(domain_size_m), float(up_fraction), signed)


@dataclass(frozen=True, eq=False)
class StripeDomains(DomainPattern):
    """Straight stripe domains (analytic; see the module docstring).

    Args:
        extent_m: side of the square sample (metres).
        domain_size_m: mean stripe width (half the period) in metres.
        up_fraction: fraction of each period that is up.
        angle_rad: direction of the walls, from +x towards +y.
        offset_m: shift of the stripes along their normal (metres).
    """

    kind: ClassVar[str] = "stripes"

    extent_m: float
    domain_size_m: float
    up_fraction: float
    angle_rad: float
    offset_m: float

    @property
    def period_m(self) -> float:
        return 2.0 * self.domain_size_m

    def normal_coordinate_m(self, yx_m: np.ndarray) -> np.ndarray:
        """Position along the stripes' normal, ``(n, 2)`` -> ``(n,)`` metres (0 at a wall whose
        up stripe lies on the positive side)."""
        pts = np.asarray(yx_m, dtype=np.float64)
        c, s = math.cos(self.angle_rad), math.sin(self.angle_rad)
        return pts[:, 0] * c - pts[:, 1] * s + self.offset_m

    def signed_distance_m(self, yx_m: np.ndarray) -> np.ndarray:
        period = self.period_m
        up_width = period * self.up_fraction
        phase = np.mod(self.normal_coordinate_m(yx_m), period)
        up = phase < up_width
        d_up = np.minimum(phase, up_width - phase)
        d_down = np.minimum(phase - up_width, period - phase)
        return np.where(up, d_up, -d_down)

    def describe(self) -> dict[str, float | str]:
        return {"kind": self.kind, "extent_m": self.extent_m, "domain_size_m": self.domain_size_m,
                "up_fraction": self.up_fraction, "angle_rad": self.angle_rad,
                "offset_m": self.offset_m}

    @classmethod
    def random(cls, seed: int, extent_m: float, domain_size_m: float,
               up_fraction: float = 0.5) -> StripeDomains:
        """Stripes of random orientation and offset drawn from ``seed``."""
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), _SEED_TAG, 1]))
        angle = float(rng.uniform(0.0, math.pi))
        offset = float(rng.uniform(0.0, 2.0 * domain_size_m))
        return cls(float(extent_m), float(domain_size_m), float(up_fraction), angle, offset)


def make_domains(kind: str, seed: int, extent_m: float, domain_size_m: float,
                 up_fraction: float = 0.5, grid_px: int = 1024) -> DomainPattern:
    """Build a pattern of ``kind`` (``"random"`` or ``"stripes"``; ``grid_px`` applies to
    ``"random"`` only). Unknown kinds and out-of-range fractions raise ``InvalidArgument``."""
    if not 0.0 < up_fraction < 1.0:
        raise InvalidArgument(f"up_fraction={up_fraction!r} must lie strictly between 0 and 1")
    if domain_size_m > 0.5 * extent_m:
        raise InvalidArgument(
            f"domain_size_m={domain_size_m!r} exceeds half the sample extent {extent_m!r} m; "
            "the field would hold hardly any wall: use a smaller domain_size_m")
    if kind == "random":
        return RandomDomains.random(seed, extent_m, domain_size_m, up_fraction, grid_px)
    if kind == "stripes":
        return StripeDomains.random(seed, extent_m, domain_size_m, up_fraction)
    raise InvalidArgument(f"pattern={kind!r} is not known; use one of {list(DOMAIN_KINDS)}")
