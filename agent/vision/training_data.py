"""Training and test sets for the image models, drawn from the emulator: candidate patches with
labels, overviews with masks, particle features with their true kinds. Each seed is a different
random specimen; hold out seeds to score a model on unseen ones. The labels themselves come from the
emulator's exact geometry (:mod:`drivers.emulator.labels`); this module cuts the surveys into the
agent's candidates and particles.

Defaults match the loop's defaults (``conf/experiment/default.yaml``): a 200 nm field of 256 x 256
pixels at 2 us dwell (the cheap low-fidelity survey), 16 px patches on a 4 px grid, 14 px margin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.candidates import CandidateSet, make_candidates
from drivers.emulator import PlasmonEmulator
from drivers.emulator.labels import (
    EmulatorMasks,
    LabelRule,
    emulator_masks,
    label_positions,
    top_labels,
)
from drivers.frames import Frame
from rewards import evaluate_at, first_objective

from .errors import VisionConfigError
from .particles import FEATURE_NAMES, component_kinds, particle_features

__all__ = ["REWARD_TOP", "EmulatorView", "ShapePx", "emulator_patch_dataset", "emulator_view",
           "particle_dataset_from_emulator", "survey_shape"]

REWARD_TOP = "reward_top"
"""Label rule of :func:`emulator_patch_dataset`: the top share of the reward's noise-free truth."""

ShapePx = int | Sequence[int]
"""A survey's pixels: one side (a square) or ``[ny, nx]``."""


def survey_shape(shape_px: ShapePx) -> tuple[int, int]:
    """``(ny, nx)`` of a survey given as one side or as ``[ny, nx]``."""
    if isinstance(shape_px, int):
        return int(shape_px), int(shape_px)
    sides = tuple(int(v) for v in shape_px)
    if len(sides) != 2:
        raise VisionConfigError(f"shape_px={list(shape_px)!r} must be one side or [ny, nx], e.g. 256")
    return sides[0], sides[1]


@dataclass(frozen=True, eq=False)
class EmulatorView:
    """One emulated survey: the emulator, its overview, the candidates and the exact truth.

    Args:
        emulator: the ``PlasmonEmulator`` (its ``sample`` holds the exact geometry).
        overview: the (ny, nx) HAADF frame.
        candidates: candidate grid with (n, w, w) float32 patches.
        masks: per-pixel kind and instance maps of the overview.
    """

    emulator: PlasmonEmulator
    overview: Frame
    candidates: CandidateSet
    masks: EmulatorMasks

    def labels(self, rule: str | LabelRule = "hotspot", distance_m: float = 5e-9) -> np.ndarray:
        """(n,) bool candidate labels under ``rule`` (see
        :func:`drivers.emulator.labels.label_positions`)."""
        return label_positions(self.emulator, self.candidates.yx_m, rule, distance_m)

    def reward_truth(self, reward: Any) -> np.ndarray:
        """(n,) float64 noise-free value of ``reward`` at every candidate (its first objective for
        a vector reward): the reward of the emulator's expected spectra, the measured target
        without shot noise; NaN where the reward fails."""
        if reward is None or not callable(reward):
            raise VisionConfigError("reward labels need the reward (a callable spectrum -> value), "
                                    f"got {type(reward).__name__}")
        em = self.emulator
        return first_objective(evaluate_at(reward, em.expected_spectra, em.signal_axis,
                                           self.candidates.yx_m))

    def reward_labels(self, reward: Any, top_fraction: float = 0.05) -> np.ndarray:
        """(n,) bool: the candidates in the top ``top_fraction`` of :meth:`reward_truth` (maximised;
        NaN truths are never positive)."""
        return top_labels(self.reward_truth(reward), top_fraction)


def emulator_view(seed: int, fov_m: float = 2e-7, shape_px: ShapePx = 256, dwell_s: float = 2e-6,
                  window_px: int = 16, stride_px: int = 4, margin_px: int | None = 14,
                  normalise: str = "zscore",
                  emulator_kwargs: Mapping[str, Any] | None = None) -> EmulatorView:
    """Acquire one emulated survey of specimen ``seed`` and build its candidates and masks.

    Args:
        seed: the emulator seed (specimen and noise).
        fov_m: field of view (metres).
        shape_px: overview side (pixels), or ``[ny, nx]`` (``experiment.overview.shape_px``).
        dwell_s: overview pixel dwell (seconds): shorter = noisier survey.
        window_px, stride_px, margin_px, normalise: candidate grid (see ``make_candidates``).
        emulator_kwargs: further ``PlasmonEmulator`` arguments (e.g. ``n_particles``).
    """
    kwargs = dict(emulator_kwargs or {})
    if "seed" in kwargs:
        raise VisionConfigError("emulator_kwargs must not hold 'seed'; pass it as the seed argument")
    em = PlasmonEmulator(seed=int(seed), **kwargs)
    frame = em.acquire_overview(fov_m, survey_shape(shape_px), dwell_s)
    cands = make_candidates(frame, window_px, stride_px, margin_px, normalise)
    return EmulatorView(em, frame, cands, emulator_masks(em, frame))


def emulator_patch_dataset(seeds: Iterable[int], rule: str | LabelRule = "hotspot",
                           distance_m: float = 5e-9, reward: Any = None, top_fraction: float = 0.05,
                           **view_kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Candidate patches and labels of several specimens, concatenated.

    Args:
        seeds: emulator seeds, one survey each.
        rule, distance_m: the labelling rule (see :func:`drivers.emulator.labels.label_positions`),
            or ``"reward_top"``: each specimen's top ``top_fraction`` of ``reward``'s noise-free truth.
        reward, top_fraction: see ``rule="reward_top"``.
        view_kwargs: survey and grid settings of :func:`emulator_view`.

    Returns:
        (patches (N, w, w) float32, labels (N,) bool).
    """
    patches, labels = [], []
    for seed in seeds:
        view = emulator_view(int(seed), **view_kwargs)
        patches.append(view.candidates.patches)
        labels.append(view.reward_labels(reward, top_fraction) if rule == REWARD_TOP
                      else view.labels(rule, distance_m))
    if not patches:
        raise VisionConfigError("emulator_patch_dataset: seeds is empty; pass at least one seed")
    return np.concatenate(patches), np.concatenate(labels)


def particle_dataset_from_emulator(seeds: Iterable[int], segmenter: Any = None,
                                   min_area_px: int = 9, drop_background: bool = True,
                                   fov_m: float = 2e-7, shape_px: ShapePx = 256,
                                   dwell_s: float = 2e-6,
                                   emulator_kwargs: Mapping[str, Any] | None = None
                                   ) -> tuple[np.ndarray, list[str]]:
    """Particle features and their true kinds over emulator overviews.

    Args:
        seeds: emulator specimens.
        segmenter: mask source (``predict(image) -> (ny, nx) bool``); None = the exact masks.
        min_area_px: smallest component kept.
        drop_background: drop components that overlap no true particle (segmentation specks).
        fov_m, shape_px, dwell_s, emulator_kwargs: the survey.

    Returns:
        (features (k, F) float64, kinds (k,) of ``"disk"``, ``"rod"``, ``"triangle"`` [,
        ``"background"``]).
    """
    feats: list[np.ndarray] = []
    kinds: list[str] = []
    for seed in seeds:
        view = emulator_view(int(seed), fov_m=fov_m, shape_px=shape_px, dwell_s=dwell_s,
                             emulator_kwargs=emulator_kwargs)
        image = view.overview.data
        mask = view.masks.particles if segmenter is None else segmenter.predict(image)
        f, regions, labels = particle_features(image, mask, min_area_px)
        k = component_kinds(labels, regions, view.masks.instance, view.masks.particle_kinds)
        keep = [i for i, name in enumerate(k) if not (drop_background and name == "background")]
        feats.append(f[keep])
        kinds.extend(k[i] for i in keep)
    x = np.concatenate(feats) if feats else np.zeros((0, len(FEATURE_NAMES)))
    return x, kinds
