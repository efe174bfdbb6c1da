"""Ground-truth labels from the emulator's exact geometry (for training and scoring only).

:class:`~drivers.emulator.PlasmonEmulator` knows its specimen exactly: every particle is a signed
distance function (metres, negative inside). That lets it label positions ("worth a high-fidelity
acquisition") and its own overview pixels (particle kind per pixel), so the image models of
``agent.vision`` are trained and scored without any hand labelling.

Positions are given in metres in the overview calibration (pixel centres of the frame's axes). The
emulator's ground truth ignores drift, so label overviews acquired without drift
(``drift_m_per_s = (0, 0)``, the default). Imports nothing from ``agent``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from drivers import validation
from drivers.errors import ConfigurationError, InvalidArgument
from drivers.frames import Frame

from .driver import PlasmonEmulator
from .sample import Sample

__all__ = [
    "KIND_CODES",
    "KIND_NAMES",
    "LABEL_RULES",
    "EmulatorMasks",
    "LabelRule",
    "emulator_masks",
    "frame_positions_m",
    "label_positions",
    "top_labels",
]

KIND_NAMES: tuple[str, ...] = ("background", "disk", "rod", "triangle")
"""Names of the per-pixel kind codes (index = code)."""

KIND_CODES: dict[str, int] = {name: code for code, name in enumerate(KIND_NAMES)}
"""Per-pixel kind code of each particle kind; 0 is bare support (background)."""

LABEL_RULES: tuple[str, ...] = ("hotspot", "rod_tip", "corner", "inside", "edge", "particle")
"""Built-in position labelling rules (see :func:`label_positions`)."""

#: A custom rule: ``rule(sample, yx_m (n, 2) metres) -> (n,) bool``.
LabelRule = Callable[[Sample, np.ndarray], np.ndarray]


def _sample_of(emulator: PlasmonEmulator | Sample) -> Sample:
    """The emulator's :class:`Sample` (or the argument itself when it already is one)."""
    if isinstance(emulator, PlasmonEmulator):
        return emulator.sample
    if isinstance(emulator, Sample):
        return emulator
    raise InvalidArgument(
        f"emulator must be a drivers.emulator.PlasmonEmulator (or its Sample), got "
        f"{type(emulator).__name__}: it has no exact particle geometry to label with")


def _tip_points(sample: Sample, kinds: tuple[str, ...]) -> np.ndarray:
    """(k, 2) metres: outline points of rod tips and/or triangle corners (offset 0)."""
    pts = [p.hotspots_m(0.0) for p in sample.particles if p.kind in kinds]
    return np.concatenate(pts, axis=0) if pts else np.zeros((0, 2))


def _min_sdf(sample: Sample, yx_m: np.ndarray) -> np.ndarray:
    d = sample.sdf_all(yx_m)
    return d.min(axis=0) if d.shape[0] else np.full(yx_m.shape[0], np.inf)


def label_positions(emulator: PlasmonEmulator | Sample, yx_m: np.ndarray,
                    rule: str | LabelRule = "hotspot", distance_m: float = 5e-9) -> np.ndarray:
    """Label positions by the emulator's exact particle geometry.

    Args:
        emulator: a ``PlasmonEmulator`` (or its ``Sample``).
        yx_m: (n, 2) float64 sample positions, metres (e.g. a candidate set's ``yx_m``).
        rule: one of :data:`LABEL_RULES`, or a callable ``rule(sample, yx_m) -> (n,) bool``:

            * ``"hotspot"``: outside every particle and within ``distance_m`` of a rod tip or a
              triangle corner (where the low-energy dipole modes are strongest);
            * ``"rod_tip"`` / ``"corner"``: the same for rod tips only / triangle corners only;
            * ``"inside"``: inside a particle;
            * ``"edge"``: outside, within ``distance_m`` of a particle outline;
            * ``"particle"``: inside or within ``distance_m`` of a particle.
        distance_m: the distance (metres, > 0) the rules use.

    Returns:
        (n,) bool, True = positive ("worth a high-fidelity acquisition" under this rule).
    """
    sample = _sample_of(emulator)
    pts = np.asarray(yx_m, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or not np.all(np.isfinite(pts)):
        raise InvalidArgument(f"yx_m must be a finite (n, 2) array of metres, got shape {pts.shape}")
    dist = validation.positive("label_positions: distance_m", distance_m, unit=" m", fix="e.g. 5e-9")
    if callable(rule):
        out = np.asarray(rule(sample, pts))
        if out.shape != (pts.shape[0],):
            raise InvalidArgument(f"custom rule returned shape {out.shape}; it must return "
                                  f"({pts.shape[0]},) bool, one label per position")
        return out.astype(bool)
    if rule not in LABEL_RULES:
        raise ConfigurationError(f"rule={rule!r} is not known; use one of {list(LABEL_RULES)} or "
                                 "a callable rule(sample, yx_m) -> (n,) bool")
    sdf = _min_sdf(sample, pts)
    if rule == "inside":
        return sdf < 0.0
    if rule == "edge":
        return (sdf >= 0.0) & (sdf <= dist)
    if rule == "particle":
        return sdf <= dist
    kinds = {"hotspot": ("rod", "triangle"), "rod_tip": ("rod",), "corner": ("triangle",)}[rule]
    tips = _tip_points(sample, kinds)
    if tips.shape[0] == 0:
        return np.zeros(pts.shape[0], dtype=bool)
    d_tip = np.sqrt(((pts[:, None, :] - tips[None, :, :]) ** 2).sum(-1)).min(axis=1)
    return (sdf >= 0.0) & (d_tip <= dist)


def top_labels(truth: np.ndarray, top_fraction: float = 0.05) -> np.ndarray:
    """(n,) bool: ``truth`` (e.g. a reward's noise-free value per position) at or above its
    ``1 - top_fraction`` quantile; NaN values are never positive."""
    t = np.asarray(truth, dtype=np.float64)
    validation.in_range("top_fraction", top_fraction, 0.0, 1.0, lo_open=True, hi_open=True, fix="e.g. 0.05")
    frac = float(top_fraction)
    finite = np.isfinite(t)
    if not finite.any():
        raise InvalidArgument("the truth is NaN at every position: no top to label")
    cut = np.quantile(t[finite], 1.0 - frac)
    return finite & (np.where(finite, t, -np.inf) >= cut)


def frame_positions_m(frame: Frame) -> np.ndarray:
    """(ny * nx, 2) float64 metres of every pixel centre of a 2-D overview frame (row-major)."""
    if not isinstance(frame, Frame) or frame.data.ndim != 2:
        raise InvalidArgument("overview must be a 2-D drivers.frames.Frame (from acquire_overview)")
    ay, ax = frame.axes
    yy, xx = np.meshgrid(ay.values, ax.values, indexing="ij")
    return np.stack([yy.ravel(), xx.ravel()], axis=1)


@dataclass(frozen=True, eq=False)
class EmulatorMasks:
    """Per-pixel truth of an emulator overview.

    Args:
        kind: (ny, nx) int8 particle kind code per pixel (:data:`KIND_CODES`, 0 = support).
        instance: (ny, nx) int32, 0 = support, ``k + 1`` = inside ``sample.particles[k]``.
        particle_kinds: kind name of each particle, in ``sample.particles`` order.
    """

    kind: np.ndarray
    instance: np.ndarray
    particle_kinds: tuple[str, ...]

    @property
    def particles(self) -> np.ndarray:
        """(ny, nx) bool: inside any particle."""
        return self.instance > 0


def emulator_masks(emulator: PlasmonEmulator | Sample, overview: Frame) -> EmulatorMasks:
    """Exact particle masks of an overview acquired by ``emulator`` (pixel centres, no drift).

    Returns:
        :class:`EmulatorMasks` with the kind and instance maps, (ny, nx) each.
    """
    sample = _sample_of(emulator)
    pts = frame_positions_m(overview)
    shape = overview.data.shape
    kinds = tuple(str(p.kind) for p in sample.particles)
    if not kinds:
        zeros = np.zeros(shape, dtype=np.int32)
        return EmulatorMasks(zeros.astype(np.int8), zeros, kinds)
    d = sample.sdf_all(pts)
    nearest = np.argmin(d, axis=0)
    inside = d[nearest, np.arange(pts.shape[0])] < 0.0
    instance = np.where(inside, nearest + 1, 0).astype(np.int32).reshape(shape)
    codes = np.array([0] + [KIND_CODES[k] for k in kinds], dtype=np.int8)
    return EmulatorMasks(codes[instance], instance, kinds)
