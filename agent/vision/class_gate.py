"""``ParticleClassGate``: measure only at particles of the classes the user chose.

Each new overview is segmented (a :class:`~agent.vision.segmentation.ParticleSegmenter` or any
``predict(image) -> (ny, nx) bool``), every particle is classified from its features
(:func:`~agent.vision.particles.particle_features`: shape, Fourier-power portions, Sobel edges,
intensity) by a :class:`~agent.vision.particles.ParticleClassifier` (random forest), and only the
candidates in the chosen region (``inside``, ``near``, ``ring``, ``outside``; see
:mod:`agent.vision.restrict`) of the particles of the chosen ``classes`` pass. In ``ring`` and
``near`` mode a candidate lying on a particle of another class does not pass. Use it as the gate of
a :class:`~agent.vision.gated_policy.GatedPolicy` (``autoscope gate=particle_class``).
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from agent.candidates import CandidateSet
from drivers.frames import Frame

from ._checks import check_choice, check_float
from .errors import VisionConfigError
from .particles import ParticleClassifier, particle_dataset_from_emulator, particle_features
from .restrict import RESTRICT_MODES, restrict_candidates, segment_overview

__all__ = ["ParticleClassGate", "train_particle_classifier_on_emulator"]

log = logging.getLogger(__name__)


class ParticleClassGate:
    """Gate: candidates in region ``mode`` of the segmented particles classified as ``classes``.

    Args:
        segmenter: ``predict(image) -> (ny, nx) bool`` particle mask.
        classifier: a fitted :class:`ParticleClassifier`.
        classes: the particle classes to measure at (names the classifier knows, e.g. ``["rod"]``).
        mode: ``"inside"``, ``"near"``, ``"ring"`` or ``"outside"`` (of the chosen particles).
        distance_px: the distance of ``near`` / ``ring`` / ``outside`` (overview pixels).

    Attributes:
        last_kinds: (k,) str class of each particle of the latest overview.
        last_class_mask: (ny, nx) bool pixels of the chosen particles (None before the first call).
    """

    def __init__(self, segmenter: Any, classifier: ParticleClassifier, classes: Sequence[str],
                 mode: str = "ring", distance_px: float = 8.0) -> None:
        if not callable(getattr(segmenter, "predict", None)):
            raise VisionConfigError(f"ParticleClassGate: segmenter must have predict(image) -> "
                                    f"(ny, nx) bool, got {type(segmenter).__name__}")
        if not isinstance(classifier, ParticleClassifier):
            raise VisionConfigError(f"ParticleClassGate: classifier must be a ParticleClassifier, got "
                                    f"{type(classifier).__name__}")
        wanted = [str(c) for c in (classes or [])]
        known = classifier.classes  # raises VisionNotFittedError when untrained
        unknown = sorted(set(wanted) - set(known))
        if not wanted or unknown:
            raise VisionConfigError(f"ParticleClassGate: classes={wanted} must name at least one of the "
                                    f"classifier's classes {known} (unknown: {unknown})")
        self.segmenter = segmenter
        self.classifier = classifier
        self.classes = wanted
        self.mode = check_choice("ParticleClassGate", "mode", mode, RESTRICT_MODES)
        self.distance_px = check_float("ParticleClassGate", "distance_px", distance_px, lo=0.0)
        self.last_kinds: np.ndarray | None = None
        self.last_class_mask: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"ParticleClassGate(classes={self.classes}, mode={self.mode!r}, distance_px={self.distance_px})"

    def gate_mask(self, candidates: CandidateSet, overview: Frame | None = None) -> np.ndarray:
        """(n,) bool over ``candidates`` (gate protocol); needs the ``overview`` frame."""
        image, particles = segment_overview("ParticleClassGate", self.segmenter, overview)
        feats, regions, labels = particle_features(image, particles, self.classifier.min_area_px)
        kinds = self.classifier.predict(feats) if regions else np.zeros(0, dtype=str)
        chosen = [reg.label for reg, kind in zip(regions, kinds) if kind in self.classes]
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


def train_particle_classifier_on_emulator(classifier: ParticleClassifier | None = None,
                                          train_seeds: Iterable[int] = (100, 101, 102, 103),
                                          segmenter: Any = None, fov_m: float = 2e-7,
                                          shape_px: int = 256, dwell_s: float = 2e-6,
                                          emulator_kwargs: Mapping[str, Any] | None = None
                                          ) -> ParticleClassifier:
    """Fit ``classifier`` on the particles of emulator overviews, labelled by their true kind
    (disk, rod, triangle). ``segmenter`` gives the masks the features are computed on (None: the
    exact masks); use the same segmenter as the gate so training and use see the same masks."""
    classifier = ParticleClassifier() if classifier is None else classifier
    feats, kinds = particle_dataset_from_emulator(train_seeds, segmenter, classifier.min_area_px,
                                                  fov_m=fov_m, shape_px=shape_px, dwell_s=dwell_s,
                                                  emulator_kwargs=emulator_kwargs)
    return classifier.fit(feats, kinds)
