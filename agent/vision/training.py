"""Training of the image models on emulator surveys, labelled by the emulator's exact geometry
(:mod:`drivers.emulator.labels`) or by a reward's noise-free truth: the quality gate's CNN, the
particle segmenter's U-Net and the particle classifier's forest. Each function takes the (untrained)
model, trains it and returns it; ``cache_path`` keeps a trained model between runs.

The survey settings (``fov_m``, ``shape_px``, ``dwell_s``) and the candidate grid (``window_px``,
``stride_px``, ``margin_px``, ``normalise``) must match the run's ``experiment.overview`` and
``experiment.candidates``: the configs in ``conf/gate`` and ``conf/prior`` interpolate them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from drivers.emulator.labels import LabelRule

from .errors import VisionConfigError
from .particles import ParticleClassifier
from .quality_gate import QualityGate
from .segmentation import ParticleSegmenter
from .training_data import (
    ShapePx,
    emulator_patch_dataset,
    emulator_view,
    particle_dataset_from_emulator,
)

__all__ = [
    "train_gate_on_emulator",
    "train_particle_classifier_on_emulator",
    "train_segmenter_on_emulator",
]

log = logging.getLogger(__name__)


def train_gate_on_emulator(gate: QualityGate | None = None,
                           train_seeds: Iterable[int] = (100, 101, 102, 103),
                           val_seeds: Iterable[int] = (200,), rule: str | LabelRule = "hotspot",
                           distance_m: float = 5e-9, fov_m: float = 2e-7, shape_px: ShapePx = 256,
                           dwell_s: float = 2e-6, window_px: int = 16, stride_px: int = 4,
                           margin_px: int | None = 14, normalise: str = "zscore",
                           emulator_kwargs: Mapping[str, Any] | None = None,
                           cache_path: str | None = None, reward: Any = None,
                           top_fraction: float = 0.05) -> QualityGate:
    """Train ``gate`` on emulator surveys labelled by their exact geometry or by the reward's
    noise-free truth.

    Args:
        gate: the (untrained) gate to train; None = ``QualityGate()``.
        train_seeds: specimens to train on (one survey each).
        val_seeds: other specimens on which the F-beta threshold is chosen.
        rule, distance_m: labelling rule (see :func:`drivers.emulator.labels.label_positions`), or
            ``"reward_top"``: the candidates in the top ``top_fraction`` of ``reward``'s
            noise-free truth on each specimen (the emulator's ``ground_truth``): the target the
            gate is for, instead of a geometric stand-in for it.
        fov_m, shape_px, dwell_s, window_px, stride_px, margin_px, normalise: the survey and the
            candidate grid; match the run's ``experiment.overview`` and ``experiment.candidates``.
        emulator_kwargs: further ``PlasmonEmulator`` arguments.
        cache_path: if the file exists, load the gate from it instead of training; otherwise train
            and save there.
        reward: the reward (``rule="reward_top"`` only; maximised).
        top_fraction: share of each specimen's candidates labelled positive (``"reward_top"``).

    Returns:
        the trained gate (the same object as ``gate`` when one was given).
    """
    gate = QualityGate() if gate is None else gate
    if cache_path is not None and Path(cache_path).is_file():
        log.info("quality gate loaded from %s (validation %s)", cache_path, gate.load(cache_path)
                 .val_metrics or "not recorded")
        return gate
    train_seeds, val_seeds = [int(v) for v in train_seeds], [int(v) for v in val_seeds]
    label = rule if isinstance(rule, str) else "a custom rule"
    log.info("quality gate: building patches of %d emulator specimens %s (threshold on %s), "
             "labels %s; training follows with a progress bar", len(train_seeds), train_seeds,
             val_seeds, label)
    view = dict(fov_m=fov_m, shape_px=shape_px, dwell_s=dwell_s, window_px=window_px,
                stride_px=stride_px, margin_px=margin_px, normalise=normalise,
                emulator_kwargs=emulator_kwargs, reward=reward, top_fraction=top_fraction)
    x, y = emulator_patch_dataset(train_seeds, rule, distance_m, **view)
    xv, yv = emulator_patch_dataset(val_seeds, rule, distance_m, **view)
    gate.fit(x, y, xv, yv)
    m = gate.val_metrics
    log.info("quality gate trained in %.1f s; on validation specimens %s: precision %.3f, recall "
             "%.3f, F(%.2g) %.3f at threshold %.3f (%d of %d passed, %d positive)",
             gate.train_time_s, val_seeds, m["precision"], m["recall"], gate.beta,
             m["f_beta"], m["threshold"], int(m["n_passed"]), int(m["n"]), int(m["n_positive"]))
    if cache_path is not None:
        gate.save(cache_path)
    return gate


def train_segmenter_on_emulator(segmenter: ParticleSegmenter | None = None,
                                train_seeds: Iterable[int] = (100, 101, 102),
                                fov_m: float = 2e-7, shape_px: ShapePx = 256, dwell_s: float = 2e-6,
                                emulator_kwargs: Mapping[str, Any] | None = None,
                                cache_path: str | None = None) -> ParticleSegmenter:
    """Train ``segmenter`` on emulator overviews with exact particle masks.

    Args:
        segmenter: the (untrained) segmenter; None = ``ParticleSegmenter()``.
        train_seeds: emulator specimens, one overview each.
        fov_m, shape_px, dwell_s: the survey (match the run's ``experiment.overview``).
        emulator_kwargs: further ``PlasmonEmulator`` arguments.
        cache_path: load from this file when it exists; otherwise train and save there.
    """
    seg = ParticleSegmenter() if segmenter is None else segmenter
    if cache_path is not None and Path(cache_path).is_file():
        return seg.load(cache_path)
    images, masks = [], []
    for seed in train_seeds:
        view = emulator_view(int(seed), fov_m=fov_m, shape_px=shape_px, dwell_s=dwell_s,
                             emulator_kwargs=emulator_kwargs)
        images.append(view.overview.data)
        masks.append(view.masks.particles)
    if not images:
        raise VisionConfigError("train_segmenter_on_emulator: train_seeds is empty")
    seg.fit(images, masks)
    if cache_path is not None:
        seg.save(cache_path)
    return seg


def train_particle_classifier_on_emulator(classifier: ParticleClassifier | None = None,
                                          train_seeds: Iterable[int] = (100, 101, 102, 103),
                                          segmenter: ParticleSegmenter | None = None, fov_m: float = 2e-7,
                                          shape_px: ShapePx = 256, dwell_s: float = 2e-6,
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
