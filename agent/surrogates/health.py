"""Collapse / flat-prediction health check shared by the surrogates.

*Collapsed*: the candidates' latent embeddings (or, for a coordinate GP, their coordinates) are
closer together than a small fraction of the kernel lengthscale, so the GP sees them all as one point
(the gpax ``viDKL`` failure in DESIGN.md section 4). *Flat*: the predicted mean barely varies over
the candidates compared with the spread of the measured targets.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist

from .protocol import HealthReport

__all__ = ["latent_spread", "assess_health"]


def _subsample(n: int, max_points: int) -> np.ndarray:
    """Evenly spaced, deterministic row subset of size <= max_points."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))


def latent_spread(latent: np.ndarray, lengthscale: np.ndarray, max_points: int = 256) -> float:
    """Median pairwise distance between rows of ``latent`` in lengthscale units.

    Args:
        latent: (m, k) float64 latent positions (embeddings or coordinates).
        lengthscale: (k,) float64 ARD lengthscales of the kernel (or a scalar).
        max_points: at most this many rows (evenly spaced) enter the O(m^2) distance computation.

    Returns:
        The median distance, float; NaN when fewer than two rows are given.
    """
    z = np.asarray(latent, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] < 2:
        return float("nan")
    ls = np.broadcast_to(np.asarray(lengthscale, dtype=np.float64).reshape(-1), (z.shape[1],))
    scaled = z[_subsample(z.shape[0], max(2, int(max_points)))] / ls
    return float(np.median(pdist(scaled)))


def assess_health(
    latent: np.ndarray,
    lengthscale: np.ndarray,
    predicted_mean: np.ndarray,
    target_std: float,
    collapse_fraction: float,
    flat_fraction: float,
    max_points: int = 256,
) -> HealthReport:
    """Judge a fitted surrogate over a set of inputs (normally the candidates).

    Args:
        latent: (m, k) float64 embeddings of the inputs.
        lengthscale: (k,) float64 kernel lengthscales (same latent units).
        predicted_mean: (m,) float64 predictive mean at the inputs, reward units.
        target_std: std of the training targets, reward units; 0.0 when they were constant
            (then any prediction counts as flat: nothing has been learned yet).
        collapse_fraction: collapsed when the median latent distance < this many lengthscales.
        flat_fraction: flat when std(predicted_mean) < this fraction of ``target_std``.
        max_points: subsample size for the pairwise distances.
    """
    spread = latent_spread(latent, lengthscale, max_points)
    collapsed = bool(np.isfinite(spread) and spread < collapse_fraction)
    pm = np.asarray(predicted_mean, dtype=np.float64).reshape(-1)
    pred_sd = float(np.std(pm)) if pm.size > 1 else 0.0
    if target_std > 0:
        mean_spread = pred_sd / target_std
        flat = bool(pm.size > 1 and mean_spread < flat_fraction)
    else:
        mean_spread = float("nan")
        flat = True
    problems = []
    if collapsed:
        problems.append(
            f"latent space collapsed: median candidate distance {spread:.3g} lengthscales "
            f"< {collapse_fraction:g}"
        )
    if flat:
        if target_std > 0:
            problems.append(
                f"flat prediction: std of the mean over candidates is {mean_spread:.3g} of the "
                f"training-target std < {flat_fraction:g}"
            )
        else:
            problems.append("flat prediction: the training targets are constant")
    ok = not problems
    message = "ok" if ok else "; ".join(problems)
    if ok:
        message = f"ok: latent spread {spread:.3g} lengthscales, mean spread {mean_spread:.3g}"
    return HealthReport(
        ok=ok,
        collapsed=collapsed,
        flat=flat,
        latent_spread=spread,
        mean_spread=mean_spread,
        message=message,
    )
