"""Scoring against a known truth (emulator or denoised replay): discovery, regret, map accuracy.

All functions take the truth as ``(n,)`` float64 over the candidate set and measured candidate
indices in the order they were measured. NaN truth values (a reward that failed on a pixel) are
never counted as targets.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "top_fraction_mask",
    "recall",
    "recall_curve",
    "simple_regret",
    "regret_curve",
    "r2_score",
    "pearson",
    "steps_to_recall",
]


def _oriented(truth: np.ndarray, maximize: bool) -> np.ndarray:
    t = np.asarray(truth, dtype=np.float64)
    return t if maximize else -t


def top_fraction_mask(truth: np.ndarray, fraction: float, maximize: bool = True) -> np.ndarray:
    """(n,) bool: the best ``ceil(fraction * n_finite)`` candidates (at least one).

    Ties at the threshold are all included, so the mask can hold a few more than the count.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction={fraction} must lie in (0, 1]")
    t = _oriented(truth, maximize)
    finite = np.isfinite(t)
    n_top = max(1, int(np.ceil(fraction * finite.sum())))
    if finite.sum() == 0:
        return np.zeros_like(finite)
    threshold = np.sort(t[finite])[::-1][n_top - 1]
    return finite & (t >= threshold)


def recall(measured: np.ndarray, truth: np.ndarray, fraction: float = 0.01,
           maximize: bool = True) -> float:
    """Share of the true top-``fraction`` candidates among the (distinct) measured ones."""
    mask = top_fraction_mask(truth, fraction, maximize)
    idx = np.unique(np.asarray(measured, dtype=np.int64))
    return float(mask[idx].sum() / mask.sum())


def recall_curve(measured: np.ndarray, truth: np.ndarray, fraction: float = 0.01,
                 maximize: bool = True) -> np.ndarray:
    """(m,) recall after each of the ``m`` measurements, in measurement order."""
    mask = top_fraction_mask(truth, fraction, maximize)
    seen = np.zeros_like(mask)
    out = np.empty(len(measured), dtype=np.float64)
    found = 0
    for k, i in enumerate(np.asarray(measured, dtype=np.int64)):
        if mask[i] and not seen[i]:
            found += 1
        seen[i] = True
        out[k] = found / mask.sum()
    return out


def simple_regret(measured: np.ndarray, truth: np.ndarray, maximize: bool = True) -> float:
    """True best value minus the true value of the best measured candidate (>= 0)."""
    t = _oriented(truth, maximize)
    idx = np.asarray(measured, dtype=np.int64)
    if idx.size == 0:
        return float("nan")
    return float(np.nanmax(t) - np.nanmax(t[idx]))


def regret_curve(measured: np.ndarray, truth: np.ndarray, maximize: bool = True) -> np.ndarray:
    """(m,) simple regret after each measurement."""
    t = _oriented(truth, maximize)
    vals = t[np.asarray(measured, dtype=np.int64)]
    vals = np.where(np.isfinite(vals), vals, -np.inf)
    return np.nanmax(t) - np.maximum.accumulate(vals)


def r2_score(pred: np.ndarray, truth: np.ndarray) -> float:
    """Coefficient of determination of ``pred`` against ``truth`` over finite pairs (can be < 0)."""
    p, t = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    ok = np.isfinite(p) & np.isfinite(t)
    ss_tot = np.sum((t[ok] - t[ok].mean()) ** 2)
    if ss_tot == 0:
        return float("nan")
    return float(1.0 - np.sum((t[ok] - p[ok]) ** 2) / ss_tot)


def pearson(pred: np.ndarray, truth: np.ndarray) -> float:
    """Pearson correlation over finite pairs; NaN when either side is constant."""
    p, t = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    ok = np.isfinite(p) & np.isfinite(t)
    p, t = p[ok] - p[ok].mean(), t[ok] - t[ok].mean()
    denom = np.sqrt(np.sum(p * p) * np.sum(t * t))
    return float(np.sum(p * t) / denom) if denom > 0 else float("nan")


def steps_to_recall(measured: np.ndarray, truth: np.ndarray, level: float = 0.5,
                    fraction: float = 0.01, maximize: bool = True) -> int | None:
    """Number of measurements after which recall first reaches ``level``; None if never."""
    curve = recall_curve(measured, truth, fraction, maximize)
    hit = np.nonzero(curve >= level - 1e-12)[0]
    return int(hit[0]) + 1 if hit.size else None
