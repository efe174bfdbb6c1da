"""``ParticleClassGate``: measure only at particles of the classes the user chose.

Each new overview is segmented (a :class:`~policies.candidate_models.Segmenter`, e.g.
``agent.vision.ParticleSegmenter``), every particle is classified by a
:class:`~policies.candidate_models.ParticleClassModel` (``agent.vision.ParticleClassifier``: a random
forest on shape, Fourier-power portions, Sobel edges and intensity), and only the candidates in the
chosen region (``inside``, ``near``, ``ring``, ``outside``; see :mod:`policies.restricted`) of the
particles of the chosen ``classes`` pass. In ``ring`` and ``near`` mode a candidate lying on a
particle of another class does not pass. Use it as the gate of a
:class:`~policies.gated.GatedPolicy` (``autoscope gate=particle_class``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from .candidate_models import CandidateGate, CandidateView, OverviewImage, ParticleClassModel, Segmenter
from .errors import PolicyConfigError
from .pool import check_choice, check_range
from .restricted import RESTRICT_MODES, check_segmenter, restrict_candidates, segment_overview

__all__ = ["ParticleClassGate"]

log = logging.getLogger(__name__)


class ParticleClassGate(CandidateGate):
    """Gate: candidates in region ``mode`` of the segmented particles classified as ``classes``.

    Args:
        segmenter: ``predict(image) -> (ny, nx) bool`` particle mask.
        classifier: a fitted :class:`~policies.candidate_models.ParticleClassModel`.
        classes: the particle classes to measure at (names the classifier knows, e.g. ``["rod"]``).
        mode: ``"inside"``, ``"near"``, ``"ring"`` or ``"outside"`` (of the chosen particles).
        distance_px: the distance of ``near`` / ``ring`` / ``outside`` (overview pixels).

    Attributes:
        last_kinds: (k,) str class of each particle of the latest overview.
        last_class_mask: (ny, nx) bool pixels of the chosen particles (None before the first call).
    """

    def __init__(self, segmenter: Segmenter, classifier: ParticleClassModel, classes: Sequence[str],
                 mode: str = "ring", distance_px: float = 8.0) -> None:
        self.segmenter = check_segmenter("ParticleClassGate", segmenter)
        if not isinstance(classifier, ParticleClassModel):
            raise PolicyConfigError(f"ParticleClassGate: classifier must be a policies.ParticleClassModel "
                                    f"(e.g. agent.vision.ParticleClassifier), got {type(classifier).__name__}")
        wanted = [str(c) for c in (classes or [])]
        known = classifier.classes  # raises when untrained
        unknown = sorted(set(wanted) - set(known))
        if not wanted or unknown:
            raise PolicyConfigError(f"ParticleClassGate: classes={wanted} must name at least one of the "
                                    f"classifier's classes {known} (unknown: {unknown})")
        self.classifier = classifier
        self.classes = wanted
        self.mode = check_choice("ParticleClassGate", "mode", mode, RESTRICT_MODES)
        self.distance_px = check_range("ParticleClassGate", "distance_px", distance_px, lo=0.0)
        self.last_kinds: np.ndarray | None = None
        self.last_class_mask: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"ParticleClassGate(classes={self.classes}, mode={self.mode!r}, distance_px={self.distance_px})"

    def gate_mask(self, candidates: CandidateView, overview: OverviewImage | None = None) -> np.ndarray:
        """(n,) bool over ``candidates`` (gate protocol); needs the ``overview`` frame."""
        image, particles = segment_overview("ParticleClassGate", self.segmenter, overview)
        labels, kind_of = self.classifier.classify_particles(image, particles)
        kinds = np.asarray(list(kind_of.values()), dtype=str)
        chosen = [label for label, kind in kind_of.items() if kind in self.classes]
        class_mask = np.isin(labels, chosen)
        self.last_kinds, self.last_class_mask = kinds, class_mask
        keep = restrict_candidates(candidates, class_mask, self.mode, self.distance_px)
        if self.mode in ("near", "ring"):  # not on a particle of another class
            other = particles & ~class_mask
            keep &= ~restrict_candidates(candidates, other, "inside")
        counts = {str(c): int(np.sum(kinds == c)) for c in np.unique(kinds)} if kinds.size else {}
        log.info("particle classes %s; measuring %s (%s, %.1f px): %d of %d candidates",
                 counts, self.classes, self.mode, self.distance_px, int(keep.sum()), candidates.n)
        return keep

    def describe(self) -> dict[str, Any]:
        """The gate, its segmenter and its classifier, for the run's record."""
        return {"gate": type(self).__name__, "segmenter": self.segmenter.describe(),
                "classifier": self.classifier.describe()}
