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

__all__ = ["REWARD_TOP", "EmulatorView", "emulator_patch_dataset", "emulator_view", "top_labels"]

REWARD_TOP = "reward_top"
"""Label rule of :func:`emulator_patch_dataset`: the top share of the reward's noise-free truth."""


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

    def reward_truth(self, reward: Any) -> np.ndarray:
        """(n,) float64 noise-free value of ``reward`` at every candidate (the emulator's
        ``ground_truth``: the measured target without shot noise)."""
        if reward is None or not callable(reward):
            raise VisionConfigError("reward labels need the reward (a callable spectrum -> value), "
                                    f"got {type(reward).__name__}")
        return np.asarray(self.emulator.ground_truth(reward, self.candidates.yx_m), np.float64)

    def reward_labels(self, reward: Any, top_fraction: float = 0.05) -> np.ndarray:
        """(n,) bool: the candidates in the top ``top_fraction`` of :meth:`reward_truth` (maximised;
        NaN truths are never positive)."""
        return top_labels(self.reward_truth(reward), top_fraction)


def top_labels(truth: np.ndarray, top_fraction: float = 0.05) -> np.ndarray:
    """(n,) bool: ``truth`` at or above its ``1 - top_fraction`` quantile (finite values only)."""
    t = np.asarray(truth, dtype=np.float64)
    frac = float(top_fraction)
    if not 0.0 < frac < 1.0:
        raise VisionConfigError(f"top_fraction={top_fraction} must lie in (0, 1), e.g. 0.05")
    finite = np.isfinite(t)
    if not finite.any():
        raise VisionConfigError("the reward's truth is NaN at every candidate: no top to label")
    cut = np.quantile(t[finite], 1.0 - frac)
    return finite & (np.where(finite, t, -np.inf) >= cut)


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
                           distance_m: float = 5e-9, reward: Any = None, top_fraction: float = 0.05,
                           **view_kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Candidate patches and labels of several specimens, concatenated.

    Args:
        seeds: emulator seeds, one survey each.
        rule, distance_m: the labelling rule (see :func:`emulator_labels`), or ``"reward_top"``:
            each specimen's top ``top_fraction`` of ``reward``'s noise-free truth.
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
