"""agent.vision.metrics: precision / recall / F-beta, the F-beta-optimal threshold, AUROC, IoU."""

from __future__ import annotations

import numpy as np
import pytest

from agent.vision import (
    VisionConfigError,
    VisionInputError,
    accuracy,
    auroc,
    best_fbeta_threshold,
    fbeta_scores,
    iou,
)


def test_fbeta_known_counts():
    pred = np.array([1, 1, 1, 0, 0, 0], dtype=bool)
    truth = np.array([1, 1, 0, 1, 0, 0], dtype=bool)
    s = fbeta_scores(pred, truth, beta=1.0 / 3.0)
    assert (s["tp"], s["fp"], s["fn"]) == (2, 1, 1)
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["recall"] == pytest.approx(2 / 3)
    assert s["f_beta"] == pytest.approx(2 / 3)  # P = R gives F = P for every beta
    s1 = fbeta_scores([1, 0, 0, 0], [1, 1, 1, 1], beta=1.0 / 3.0)  # P = 1, R = 1/4
    assert s1["f_beta"] == pytest.approx((1 + 1 / 9) * 0.25 / (1 / 9 + 0.25))
    none = fbeta_scores([0, 0], [1, 0])
    assert none["precision"] == 1.0 and none["recall"] == 0.0 and none["f_beta"] == 0.0


def test_best_threshold_prefers_precision_with_small_beta():
    # Top two scores are positives, then a negative, then many positives below it.
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    labels = np.array([1, 1, 0, 1, 1, 1, 1], dtype=bool)
    thr, f = best_fbeta_threshold(scores, labels, beta=1.0 / 3.0)
    # cut after 0.8: P = 1, R = 1/3 -> F = 0.8333; cut after 0.3: P = 6/7, R = 1 -> F = 0.8696
    assert thr == pytest.approx(0.3 - 1e-6 / 2, abs=1e-6)
    assert f == pytest.approx((1 + 1 / 9) * (6 / 7) / ((6 / 7) / 9 + 1))
    scores2 = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    labels2 = np.array([1, 1, 0, 0, 1], dtype=bool)
    thr2, f2 = best_fbeta_threshold(scores2, labels2, beta=1.0 / 3.0)
    assert thr2 == pytest.approx(0.75)  # halfway between the last accepted and the next score
    assert f2 == pytest.approx((1 + 1 / 9) * (2 / 3) / (1 / 9 + 2 / 3))
    assert np.sum(scores2 >= thr2) == 2


def test_best_threshold_keeps_ties_together_and_needs_a_positive():
    thr, _ = best_fbeta_threshold([0.5, 0.5, 0.1], [1, 0, 0])
    assert thr < 0.5  # the tie is accepted or rejected as a whole
    with pytest.raises(VisionInputError, match="no positive"):
        best_fbeta_threshold([0.2, 0.1], [0, 0])
    with pytest.raises(VisionConfigError, match="beta"):
        best_fbeta_threshold([0.2, 0.1], [1, 0], beta=0.0)


def test_auroc_iou_accuracy_known_values():
    assert auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert auroc([0.5, 0.5], [0, 1]) == pytest.approx(0.5)
    with pytest.raises(VisionInputError, match="positives and negatives"):
        auroc([0.1, 0.2], [1, 1])
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[:2] = True
    b[1:3] = True
    assert iou(a, b) == pytest.approx(4 / 12)
    assert iou(np.zeros((2, 2)), np.zeros((2, 2))) == 1.0
    with pytest.raises(VisionInputError, match="shape"):
        iou(a, b[:2])
    assert accuracy(["a", "b", "c"], ["a", "b", "b"]) == pytest.approx(2 / 3)
    with pytest.raises(VisionInputError, match="scores"):
        fbeta_scores([1, 0, 1], [1, 0])
