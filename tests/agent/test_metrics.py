"""Scoring functions on hand-made cases."""

import numpy as np
import pytest

from agent import metrics


def test_top_fraction_mask_and_recall():
    truth = np.arange(200, dtype=float)  # top 1 % = 2 items: 198, 199
    mask = metrics.top_fraction_mask(truth, 0.01)
    assert np.flatnonzero(mask).tolist() == [198, 199]
    assert metrics.recall([0, 199, 5], truth, 0.01) == 0.5
    assert metrics.recall([199, 199], truth, 0.01) == 0.5  # repeats count once
    low = metrics.top_fraction_mask(truth, 0.01, maximize=False)
    assert np.flatnonzero(low).tolist() == [0, 1]
    with pytest.raises(ValueError):
        metrics.top_fraction_mask(truth, 0.0)


def test_nan_truth_is_never_a_target():
    truth = np.array([np.nan, 1.0, 2.0, 3.0])
    assert np.flatnonzero(metrics.top_fraction_mask(truth, 0.25)).tolist() == [3]


def test_recall_curve_and_steps_to_recall():
    truth = np.arange(100, dtype=float)  # top 1 %: index 99; top 5 %: 95..99
    order = [3, 96, 99, 97, 95, 98]
    assert metrics.recall_curve(order, truth, 0.05).tolist() == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert metrics.steps_to_recall(order, truth, 0.5, 0.05) == 4
    assert metrics.steps_to_recall([1, 2], truth, 0.5, 0.05) is None


def test_regret():
    truth = np.array([1.0, 5.0, 3.0])
    assert metrics.simple_regret([0, 2], truth) == 2.0
    assert metrics.regret_curve([0, 2, 1], truth).tolist() == [4.0, 2.0, 0.0]
    assert metrics.simple_regret([1], truth, maximize=False) == 4.0


def test_r2_and_pearson():
    t = np.array([1.0, 2.0, 3.0, 4.0])
    assert metrics.r2_score(t, t) == 1.0
    assert metrics.r2_score(np.full(4, t.mean()), t) == 0.0
    assert metrics.r2_score(-t, t) < 0
    assert metrics.pearson(2 * t + 1, t) == pytest.approx(1.0)
    assert np.isnan(metrics.pearson(np.ones(4), t))
