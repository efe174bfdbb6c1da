"""Training and test sets drawn from the emulator: candidate patches with labels, overviews with
masks. Each seed is a different random specimen; hold out seeds to score a model on unseen ones.

Defaults match the loop's defaults (``conf/experiment/default.yaml``): a 200 nm field of 256 x 256
pixels at 2 us dwell (the cheap low-fidelity survey), 16 px patches on a 4 px grid, 14 px margin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np

from agent.candidates import CandidateSet, make_candidates
from drivers.frames import Frame

from .emulator_truth import EmulatorMasks, LabelRule, emulator_labels, emulator_masks
from .errors import VisionConfigError

__all__ = ["EmulatorView", "emulator_view", "emulator_patch_dataset"]


@dataclass(frozen=True, eq=False)
class EmulatorView:
    """One emulated survey: the emulator, its overview, the candidates and the exact truth.

    Args:
        emulator: the ``PlasmonEmulator`` (its ``sample`` holds the exact geometry).
        overview: the (ny, nx) HAADF frame.
        candidates: candidate grid with (n, w, w) float32 patches.
        masks: per-pixel kind and instance maps of the overview.
    """

    emulator: Any
    overview: Frame
    candidates: CandidateSet
    masks: EmulatorMasks

    def labels(self, rule: str | LabelRule = "hotspot", distance_m: float = 5e-9) -> np.ndarray:
        """(n,) bool candidate labels under ``rule`` (see :func:`emulator_labels`)."""
        return emulator_labels(self.emulator, self.candidates, rule, distance_m)


def emulator_view(seed: int, fov_m: float = 2e-7, shape_px: int = 256, dwell_s: float = 2e-6,
                  window_px: int = 16, stride_px: int = 4, margin_px: int | None = 14,
                  normalise: str = "zscore",
                  emulator_kwargs: Mapping[str, Any] | None = None) -> EmulatorView:
    """Acquire one emulated survey of specimen ``seed`` and build its candidates and masks.

    Args:
        seed: the emulator seed (specimen and noise).
        fov_m: field of view (metres).
        shape_px: overview side (pixels).
        dwell_s: overview pixel dwell (seconds): shorter = noisier survey.
        window_px, stride_px, margin_px, normalise: candidate grid (see ``make_candidates``).
        emulator_kwargs: further ``PlasmonEmulator`` arguments (e.g. ``n_particles``).
    """
    from drivers.emulator import PlasmonEmulator

    kwargs = dict(emulator_kwargs or {})
    if "seed" in kwargs:
        raise VisionConfigError("emulator_kwargs must not hold 'seed'; pass it as the seed argument")
    em = PlasmonEmulator(seed=int(seed), **kwargs)
    frame = em.acquire_overview(fov_m, (int(shape_px), int(shape_px)), dwell_s)
    cands = make_candidates(frame, window_px, stride_px, margin_px, normalise)
    return EmulatorView(em, frame, cands, emulator_masks(em, frame))


def emulator_patch_dataset(seeds: Iterable[int], rule: str | LabelRule = "hotspot",
                           distance_m: float = 5e-9, **view_kwargs: Any
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Candidate patches and labels of several specimens, concatenated.

    Args:
        seeds: emulator seeds, one survey each.
        rule, distance_m: the labelling rule (see :func:`emulator_labels`).
        view_kwargs: survey and grid settings of :func:`emulator_view`.

    Returns:
        (patches (N, w, w) float32, labels (N,) bool).
    """
    patches, labels = [], []
    for seed in seeds:
        view = emulator_view(int(seed), **view_kwargs)
        patches.append(view.candidates.patches)
        labels.append(view.labels(rule, distance_m))
    if not patches:
        raise VisionConfigError("emulator_patch_dataset: seeds is empty; pass at least one seed")
    return np.concatenate(patches), np.concatenate(labels)
