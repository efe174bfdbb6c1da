"""Ground-truth labels from the emulator's exact geometry (for training and scoring only).

:class:`drivers.emulator.PlasmonEmulator` knows its specimen exactly: every particle is a signed
distance function (metres, negative inside). That lets it label its own candidates ("worth a
high-fidelity acquisition") and its own overview pixels (particle kind per pixel), so the vision
models here are trained and scored without any hand labelling.

Positions are taken from the overview calibration (candidate ``yx_m``, pixel centres of the frame's
axes). The emulator's ground truth ignores drift, so label overviews acquired without drift
(``drift_m_per_s = (0, 0)``, the default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from agent.candidates import CandidateSet
from drivers.frames import Frame

from ._checks import check_float
from .errors import VisionConfigError, VisionInputError

__all__ = [
    "KIND_CODES",
    "KIND_NAMES",
    "LABEL_RULES",
    "EmulatorMasks",
    "emulator_labels",
    "emulator_masks",
    "label_positions",
    "frame_positions_m",
]

KIND_NAMES: tuple[str, ...] = ("background", "disk", "rod", "triangle")
"""Names of the per-pixel kind codes (index = code)."""

KIND_CODES: dict[str, int] = {name: code for code, name in enumerate(KIND_NAMES)}
"""Per-pixel kind code of each particle kind; 0 is bare support (background)."""

LABEL_RULES: tuple[str, ...] = ("hotspot", "rod_tip", "corner", "inside", "edge", "particle")
"""Built-in candidate labelling rules (see :func:`label_positions`)."""

#: A custom rule: ``rule(sample, yx_m (n, 2) metres) -> (n,) bool``.
LabelRule = Callable[[Any, np.ndarray], np.ndarray]


def _sample_of(emulator: Any) -> Any:
    """The emulator's ``Sample`` (or the argument itself when it already is one)."""
    sample = getattr(emulator, "sample", emulator)
    if not hasattr(sample, "particles") or not hasattr(sample, "sdf_all"):
        raise VisionInputError(
            f"emulator must be a drivers.emulator.PlasmonEmulator (or its Sample), got "
            f"{type(emulator).__name__}: it has no exact particle geometry to label with")
    return sample


def _tip_points(sample: Any, kinds: tuple[str, ...]) -> np.ndarray:
    """(k, 2) metres: outline points of rod tips and/or triangle corners (offset 0)."""
    pts = [p.hotspots_m(0.0) for p in sample.particles if p.kind in kinds]
    return np.concatenate(pts, axis=0) if pts else np.zeros((0, 2))


def _min_sdf(sample: Any, yx_m: np.ndarray) -> np.ndarray:
    d = sample.sdf_all(yx_m)
    return d.min(axis=0) if d.shape[0] else np.full(yx_m.shape[0], np.inf)


def label_positions(emulator: Any, yx_m: np.ndarray, rule: str | LabelRule = "hotspot",
                    distance_m: float = 5e-9) -> np.ndarray:
    """Label positions by the emulator's exact particle geometry.

    Args:
        emulator: a ``PlasmonEmulator`` (or its ``Sample``).
        yx_m: (n, 2) float64 sample positions, metres.
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
        raise VisionInputError(f"yx_m must be a finite (n, 2) array of metres, got shape {pts.shape}")
    dist = check_float("emulator_labels", "distance_m", distance_m, lo=0.0, lo_open=True)
    if callable(rule):
        out = np.asarray(rule(sample, pts))
        if out.shape != (pts.shape[0],):
            raise VisionInputError(f"custom rule returned shape {out.shape}; it must return "
                                   f"({pts.shape[0]},) bool, one label per position")
        return out.astype(bool)
    if rule not in LABEL_RULES:
        raise VisionConfigError(f"rule={rule!r} is not known; use one of {list(LABEL_RULES)} or a "
                                "callable rule(sample, yx_m) -> (n,) bool")
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


def emulator_labels(emulator: Any, candidates: CandidateSet, rule: str | LabelRule = "hotspot",
                    distance_m: float = 5e-9) -> np.ndarray:
    """Label every candidate of ``candidates`` by the emulator's exact geometry.

    Args:
        emulator: the ``PlasmonEmulator`` that acquired the overview of ``candidates`` (no drift).
        candidates: the candidate grid; its ``yx_m`` (n, 2) metres are labelled.
        rule: see :func:`label_positions` (default ``"hotspot"``: just outside a rod tip or a
            triangle corner).
        distance_m: the rule's distance in metres (default 5 nm).

    Returns:
        (n,) bool, one label per candidate.
    """
    if not isinstance(candidates, CandidateSet):
        raise VisionInputError(f"candidates must be an agent.candidates.CandidateSet, got "
                               f"{type(candidates).__name__}; build it with make_candidates(overview)")
    return label_positions(emulator, candidates.yx_m, rule, distance_m)


def frame_positions_m(frame: Frame) -> np.ndarray:
    """(ny * nx, 2) float64 metres of every pixel centre of a 2-D overview frame (row-major)."""
    if not isinstance(frame, Frame) or frame.data.ndim != 2:
        raise VisionInputError("overview must be a 2-D drivers.frames.Frame (from acquire_overview)")
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


def emulator_masks(emulator: Any, overview: Frame) -> EmulatorMasks:
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
