"""Quality-gate labels from the measured target: the top share of the reward's noise-free truth."""

from __future__ import annotations

import numpy as np
import pytest

from agent.vision import (
    REWARD_TOP,
    VisionConfigError,
    emulator_patch_dataset,
    emulator_view,
    top_labels,
)
from rewards.bands import BandIntensity


def test_top_labels_mark_the_top_share_of_finite_values():
    t = np.array([1.0, 5.0, np.nan, 3.0, 9.0, 7.0, 2.0, 8.0, 4.0, 6.0, 0.0])
    lab = top_labels(t, 0.2)
    assert lab.tolist() == [False, False, False, False, True, False, False, True, False, False, False]
    with pytest.raises(VisionConfigError):
        top_labels(t, 0.0)
    with pytest.raises(VisionConfigError):
        top_labels(np.full(4, np.nan), 0.1)


def test_reward_top_dataset_labels_each_specimen_by_its_truth():
    reward = BandIntensity(window_eV=[1.5, 2.4], background="none", units="eV")
    view = emulator_view(100)
    truth = view.reward_truth(reward)
    x, y = emulator_patch_dataset([100], REWARD_TOP, reward=reward, top_fraction=0.05)
    assert x.shape[0] == y.size == view.candidates.n
    assert abs(y.mean() - 0.05) < 0.01
    assert truth[y].min() >= truth[~y].max()
