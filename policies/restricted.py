"""Segmentation-guided candidates: restrict or weight the candidate grid by a particle mask.

The mask is over the overview pixels (``(ny, nx)`` bool, e.g. :meth:`ParticleSegmenter.predict`);
each candidate is judged at its overview pixel ``yx_px``. Distances are Euclidean, in overview
pixels, from the candidate pixel centre to the nearest mask pixel centre (0 inside the mask).

Modes of :func:`restrict_candidates`:

* ``"inside"``: on a particle (distance 0);
* ``"near"``: on a particle or within ``distance_px`` of one;
* ``"ring"``: off the particles but within ``distance_px`` of one (where the edge and corner
  dipole modes are excited: an aloof beam);
* ``"outside"``: farther than ``distance_px`` from every particle (bare support).

In the loop the mask is an availability mask: wrap the policy in
:class:`~policies.gated.GatedPolicy` with a :class:`SegmentationGate`, which segments each new
overview once (``prepare``) and removes the candidates outside the chosen region. The segmenter is
any :class:`~policies.candidate_models.Segmenter` (``agent.vision.ParticleSegmenter``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.ndimage import distance_transform_edt

from drivers.validation import bool_mask

from .candidate_models import CandidateGate, CandidateView, OverviewImage, Segmenter, overview_image
from .errors import PolicyConfigError, PolicyInputError
from .pool import check_choice, check_range

__all__ = ["RESTRICT_MODES", "restrict_candidates", "candidate_distances_px",
           "candidate_weights", "segment_overview", "check_candidates", "SegmentationGate"]

RESTRICT_MODES: tuple[str, ...] = ("inside", "near", "ring", "outside")


def check_candidates(owner: str, candidates: Any) -> CandidateView:
    """``candidates`` as a :class:`~policies.candidate_models.CandidateView`, or a clear error."""
    if not isinstance(candidates, CandidateView):
        raise PolicyInputError(f"{owner}: candidates must be a candidate set (agent.candidates."
                               f"CandidateSet: n, frame_id, yx_px, image_shape), got {type(candidates).__name__}")
    return candidates


def _check_mask(mask: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A (ny, nx) bool mask (bool or 0/1 numbers) of the overview's shape."""
    return bool_mask("mask", mask, shape, error=PolicyInputError)


def candidate_distances_px(candidates: CandidateView, mask: Any) -> np.ndarray:
    """(n,) float64 distance (overview pixels) from each candidate to the nearest mask pixel;
    0 on the mask, ``inf`` everywhere when the mask is empty.

    Args:
        candidates: the grid; ``mask`` must have its ``image_shape``.
        mask: (ny, nx) bool particle mask of the same overview.
    """
    cands = check_candidates("candidate_distances_px", candidates)
    m = _check_mask(mask, tuple(cands.image_shape))
    if not m.any():
        return np.full(cands.n, np.inf)
    dist = distance_transform_edt(~m)
    return dist[cands.yx_px[:, 0], cands.yx_px[:, 1]].astype(np.float64)


def restrict_candidates(candidates: CandidateView, mask: Any, mode: str = "inside",
                        distance_px: float = 0.0) -> np.ndarray:
    """Boolean mask over the candidates: those in the region ``mode`` of the particle ``mask``.

    Args:
        candidates: the candidate grid of the overview.
        mask: (ny, nx) bool, True on particles (``candidates.image_shape``).
        mode: ``"inside"``, ``"near"``, ``"ring"`` or ``"outside"`` (module docstring).
        distance_px: the distance of ``"near"``, ``"ring"`` and ``"outside"`` (overview pixels,
            >= 0; ignored by ``"inside"``).

    Returns:
        (n,) bool, True = keep the candidate (pass it as an availability/veto mask).
    """
    mode = check_choice("restrict_candidates", "mode", mode, RESTRICT_MODES)
    dmax = check_range("restrict_candidates", "distance_px", distance_px, lo=0.0)
    d = candidate_distances_px(candidates, mask)
    if mode == "inside":
        return d == 0.0
    if mode == "near":
        return d <= dmax
    if mode == "ring":
        return (d > 0.0) & (d <= dmax)
    return d > dmax


def candidate_weights(candidates: CandidateView, mask: Any, scale_px: float = 4.0) -> np.ndarray:
    """Soft weights ``exp(-distance / scale_px)`` in (0, 1]: 1 on particles, decaying off them.

    Args:
        candidates, mask: as :func:`restrict_candidates`.
        scale_px: decay length in overview pixels (> 0).

    Returns:
        (n,) float64 (all 0 when the mask is empty).
    """
    scale = check_range("candidate_weights", "scale_px", scale_px, lo=0.0, lo_open=True)
    d = candidate_distances_px(candidates, mask)
    return np.exp(-d / scale)


def segment_overview(owner: str, segmenter: Segmenter, overview: OverviewImage | np.ndarray | None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The overview's image and its ``(ny, nx)`` bool particle mask from ``segmenter.predict``.

    ``owner`` names the caller in the error raised when ``overview`` is None (a gate or prior
    whose ``prepare(candidates, overview)`` was called without the overview frame)."""
    image = overview_image(owner, overview)
    return image, np.asarray(segmenter.predict(image), dtype=bool)


def check_segmenter(owner: str, segmenter: Any) -> Segmenter:
    """``segmenter`` as a :class:`~policies.candidate_models.Segmenter`, or a clear config error."""
    if not isinstance(segmenter, Segmenter):
        raise PolicyConfigError(f"{owner}: segmenter must have predict(image) -> (ny, nx) bool mask "
                                f"(e.g. agent.vision.ParticleSegmenter), got {type(segmenter).__name__}")
    return segmenter


class SegmentationGate(CandidateGate):
    """Gate that keeps the candidates in a region of the segmented overview.

    Args:
        segmenter: anything with ``predict(image) -> (ny, nx) bool`` (e.g. a trained
            :class:`~agent.vision.segmentation.ParticleSegmenter`).
        mode: region to keep, see :func:`restrict_candidates` (default ``"ring"``: just off the
            particles, where the edge and corner dipole modes are excited).
        distance_px: its distance in overview pixels (default 8 px: 6.25 nm at the loop's default
            0.78 nm pixels).

    Attributes:
        last_mask: the (ny, nx) bool particle mask of the latest overview (None before).
    """

    def __init__(self, segmenter: Segmenter, mode: str = "ring", distance_px: float = 8.0) -> None:
        self.segmenter = check_segmenter("SegmentationGate", segmenter)
        self.mode = check_choice("SegmentationGate", "mode", mode, RESTRICT_MODES)
        self.distance_px = check_range("SegmentationGate", "distance_px", distance_px, lo=0.0)
        self.last_mask: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"SegmentationGate(mode={self.mode!r}, distance_px={self.distance_px})"

    def gate_mask(self, candidates: CandidateView, overview: OverviewImage | None = None) -> np.ndarray:
        """(n,) bool over ``candidates`` (gate protocol); needs the ``overview`` frame."""
        _, self.last_mask = segment_overview("SegmentationGate", self.segmenter, overview)
        return restrict_candidates(candidates, self.last_mask, self.mode, self.distance_px)

    def describe(self) -> dict[str, Any]:
        """The gate and its segmenter (type, training time and figures), for the run's record."""
        return {"gate": type(self).__name__, "segmenter": self.segmenter.describe()}
