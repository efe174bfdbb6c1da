"""Scores of the vision models: precision / recall / F-beta, the F-beta-optimal threshold, AUROC and
intersection over union. Inputs are plain arrays; every function checks shapes and names the field.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata

from ._checks import check_float
from .errors import VisionInputError

__all__ = ["fbeta_scores", "best_fbeta_threshold", "auroc", "iou", "accuracy"]


def _pair(scores: Any, labels: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1)
    if s.shape != y.shape:
        raise VisionInputError(f"{what}: {s.shape[0]} scores but {y.shape[0]} labels; pass one "
                               "label per score")
    if s.size == 0:
        raise VisionInputError(f"{what}: no scores given")
    if not np.all(np.isfinite(s)):
        raise VisionInputError(f"{what}: scores hold NaN or infinite values")
    if y.dtype != np.bool_:
        if not np.all(np.isin(y, (0, 1))):
            raise VisionInputError(f"{what}: labels must be bool or 0/1")
        y = y.astype(bool)
    return s, y


def fbeta_scores(predicted: Any, labels: Any, beta: float = 1.0 / 3.0) -> dict[str, float]:
    """Precision, recall and F-beta of binary predictions.

    Args:
        predicted: (n,) bool predictions (True = positive).
        labels: (n,) bool truth.
        beta: recall weight; beta < 1 favours precision (beta = 1/3 weighs precision 9:1).

    Returns:
        ``{"precision", "recall", "f_beta", "tp", "fp", "fn"}``; precision is 1.0 when nothing is
        predicted positive (no false positive was made), recall is 0.0 when nothing is positive.
    """
    b = check_float("fbeta_scores", "beta", beta, lo=0.0, lo_open=True)
    p, y = _pair(np.asarray(predicted, dtype=np.float64), labels, "fbeta_scores")
    pred = p > 0.5
    tp = float(np.sum(pred & y))
    fp = float(np.sum(pred & ~y))
    fn = float(np.sum(~pred & y))
    precision = tp / (tp + fp) if tp + fp > 0 else 1.0
    recall = tp / (tp + fn) if tp + fn > 0 else 0.0
    b2 = b * b
    denom = b2 * precision + recall
    f = (1.0 + b2) * precision * recall / denom if denom > 0 else 0.0
    return {"precision": precision, "recall": recall, "f_beta": f, "tp": tp, "fp": fp, "fn": fn}


def best_fbeta_threshold(scores: Any, labels: Any, beta: float = 1.0 / 3.0) -> tuple[float, float]:
    """The score threshold that maximises F-beta of ``scores >= threshold`` against ``labels``.

    The threshold returned lies halfway between the lowest accepted score and the next lower
    distinct score (a margin against new data), or just below the only score there is.

    Args:
        scores: (n,) float, higher = more likely positive (e.g. probabilities).
        labels: (n,) bool; at least one must be True.
        beta: recall weight (1/3: precision weighted 9:1).

    Returns:
        (threshold, best F-beta).
    """
    b = check_float("best_fbeta_threshold", "beta", beta, lo=0.0, lo_open=True)
    s, y = _pair(scores, labels, "best_fbeta_threshold")
    n_pos = int(y.sum())
    if n_pos == 0:
        raise VisionInputError("best_fbeta_threshold: labels hold no positive; the validation set "
                               "needs at least one positive to choose a threshold")
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    tp = np.cumsum(y_sorted)
    fp = np.cumsum(~y_sorted)
    # Only the last index of each run of equal scores is a valid cut (ties go together).
    last = np.r_[s_sorted[1:] != s_sorted[:-1], True]
    tp, fp, cut_scores = tp[last], fp[last], s_sorted[last]
    precision = tp / (tp + fp)
    recall = tp / n_pos
    b2 = b * b
    denom = b2 * precision + recall
    f = np.where(denom > 0, (1.0 + b2) * precision * recall / np.where(denom > 0, denom, 1.0), 0.0)
    k = int(np.argmax(f))
    lower = cut_scores[k + 1] if k + 1 < cut_scores.size else cut_scores[k] - 1e-6
    return float(0.5 * (cut_scores[k] + lower)), float(f[k])


def auroc(scores: Any, labels: Any) -> float:
    """Area under the ROC curve (Mann-Whitney U with midranks for ties), in [0, 1].

    Args:
        scores: (n,) float; labels: (n,) bool with at least one positive and one negative.
    """
    s, y = _pair(scores, labels, "auroc")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise VisionInputError(f"auroc needs positives and negatives, got {n_pos} and {n_neg}")
    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def iou(predicted: Any, truth: Any) -> float:
    """Intersection over union of two boolean masks of the same shape (1.0 when both are empty)."""
    p = np.asarray(predicted).astype(bool)
    t = np.asarray(truth).astype(bool)
    if p.shape != t.shape:
        raise VisionInputError(f"iou: predicted mask {p.shape} and truth {t.shape} differ in shape")
    union = np.logical_or(p, t).sum()
    return 1.0 if union == 0 else float(np.logical_and(p, t).sum() / union)


def accuracy(predicted: Any, truth: Any) -> float:
    """Fraction of equal entries of two (n,) label arrays."""
    p, t = np.asarray(predicted).reshape(-1), np.asarray(truth).reshape(-1)
    if p.shape != t.shape or p.size == 0:
        raise VisionInputError(f"accuracy: {p.size} predictions but {t.size} truths (need equal, > 0)")
    return float(np.mean(p == t))
