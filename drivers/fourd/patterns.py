"""Diffraction patterns on a pixelated camera, and the flattened-pattern signal axis.

**Camera.** ``shape = (ky, kx)`` pixels of pitch ``k_mrad_per_px``; pixel ``(i, j)`` is centred at
``((i - (ky - 1) / 2) p, (j - (kx - 1) / 2) p)`` mrad, so 0 mrad (the optical axis, where the
undeflected beam lands) is the geometric centre of the camera. ``ky`` runs along the sample's y and
``kx`` along its x (no scan rotation).

**Pattern.** A probe of convergence semi-angle ``alpha`` gives a bright-field disk of radius
``alpha``; a low-angle diffuse halo (Gaussian of standard deviation ``halo_mrad`` per axis) takes
the fraction ``h`` of the electrons that reach the camera. The specimen's in-plane field shifts the
whole pattern by the deflection ``theta`` (:mod:`drivers.fourd.optics`), so its centre of mass
(relative to the camera centre) is ``theta``. The disk rim is blurred by a Gaussian of standard
deviation ``edge_mrad`` (the camera's point spread and the source size): the disk profile is
``erfc((|k - theta| - alpha) / (sqrt(2) edge_mrad)) / 2``. A smooth profile sampled at pixels keeps
the centre of mass of the samples equal to the shift (the aliasing error falls as
``exp(-2 pi^2 edge^2 / p^2)``), where a sharp or one-pixel-ramp rim is off by up to 1e-2 pixel.
The disk is normalised over the camera (it always lies inside it), the halo by its analytic
integral (the part of its tail beyond the camera edge is lost, as on a real camera).

**Flattened patterns.** The experiment loop takes 1-D spectra only, so a pattern travels as its
row-major flattening ``(ky * kx,)`` on a :class:`drivers.frames.PatternAxis` named ``"k_index"`` (units ``"px"``,
values ``0 .. ky * kx - 1``) that also carries ``pattern_shape`` and ``k_mrad_per_px``; reshape
with ``data.reshape(axis.pattern_shape)``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erfc

from drivers.frames import Axis, PatternAxis

__all__ = ["PatternAxis", "camera_axes", "render_patterns"]


def camera_axes(shape: tuple[int, int], k_mrad_per_px: float) -> tuple[Axis, Axis]:
    """``(ky, kx)`` axes in mrad at the camera pixel centres, 0 at the camera centre."""
    ky, kx = int(shape[0]), int(shape[1])
    p = float(k_mrad_per_px)
    return (Axis.uniform("ky", "mrad", -0.5 * (ky - 1) * p, p, ky),
            Axis.uniform("kx", "mrad", -0.5 * (kx - 1) * p, p, kx))


def render_patterns(shift_mrad: np.ndarray, halo_fraction: np.ndarray, shape: tuple[int, int],
                    k_mrad_per_px: float, convergence_mrad: float, edge_mrad: float,
                    halo_mrad: float) -> np.ndarray:
    """Probability per camera pixel of each pattern (see the module docstring).

    Args:
        shift_mrad: (n, 2) float64 deflection (y, x) of each pattern, mrad.
        halo_fraction: (n,) float64 fraction of the camera's electrons in the halo, in [0, 1].
        shape: (ky, kx) camera pixels.
        k_mrad_per_px: camera pitch (mrad).
        convergence_mrad: disk radius (mrad).
        edge_mrad: Gaussian blur of the disk rim (mrad).
        halo_mrad: halo standard deviation per axis (mrad).

    Returns:
        (n, ky, kx) float64, each summing to 1 minus the halo tail beyond the camera.
    """
    ky_axis, kx_axis = camera_axes(shape, k_mrad_per_px)
    p = float(k_mrad_per_px)
    dy = ky_axis.values[None, :, None] - shift_mrad[:, 0, None, None]
    dx = kx_axis.values[None, None, :] - shift_mrad[:, 1, None, None]
    r = np.sqrt(dy * dy + dx * dx)
    disk = 0.5 * erfc((r - convergence_mrad) / (math.sqrt(2.0) * edge_mrad))
    disk /= disk.sum(axis=(1, 2), keepdims=True)
    halo = np.exp(-0.5 * (r / halo_mrad) ** 2) * (p * p / (2.0 * math.pi * halo_mrad**2))
    h = np.asarray(halo_fraction, dtype=np.float64)[:, None, None]
    return (1.0 - h) * disk + h * halo
