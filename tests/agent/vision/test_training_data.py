"""agent.vision.training_data: emulator surveys cut into the agent's candidates, labelled by the
emulator's exact geometry or by the top share of a reward's noise-free truth."""

from __future__ import annotations

import numpy as np
import pytest

from agent.vision import REWARD_TOP, VisionConfigError, emulator_patch_dataset, emulator_view
from agent.vision.training_data import survey_shape
from rewards.bands import BandIntensity


def test_default_survey_has_a_few_percent_hotspots():
    view = emulator_view(0)
    y = view.labels("hotspot")
    assert view.candidates.n == 57 * 57
    assert 0.01 < y.mean() < 0.06  # rare positives: the gate's class imbalance
    assert (view.labels("inside") & y).sum() == 0


def test_candidate_labels_agree_with_the_pixel_masks():
    view = emulator_view(3, shape_px=64, window_px=8, stride_px=2, margin_px=4)
    cands = view.candidates
    inside_px = view.masks.particles[cands.yx_px[:, 0], cands.yx_px[:, 1]]
    assert np.array_equal(view.labels("inside"), inside_px)  # same geometry, same pixel centres


def test_reward_top_dataset_labels_each_specimen_by_its_truth():
    reward = BandIntensity(window_eV=[1.5, 2.4], background="none", units="eV")
    view = emulator_view(100)
    truth = view.reward_truth(reward)
    x, y = emulator_patch_dataset([100], REWARD_TOP, reward=reward, top_fraction=0.05)
    assert x.shape[0] == y.size == view.candidates.n
    assert abs(y.mean() - 0.05) < 0.01
    assert truth[y].min() >= truth[~y].max()
    with pytest.raises(VisionConfigError, match="reward"):
        view.reward_labels(None)


def test_survey_shape_and_errors():
    assert survey_shape(256) == (256, 256) and survey_shape([128, 96]) == (128, 96)
    with pytest.raises(VisionConfigError, match="shape_px"):
        survey_shape([1, 2, 3])
    with pytest.raises(VisionConfigError, match="seed"):
        emulator_view(0, emulator_kwargs={"seed": 1})
    with pytest.raises(VisionConfigError, match="seeds is empty"):
        emulator_patch_dataset([])
