"""How reliable is a recorded dataset's ground truth? Split-half agreement of the denoised target.

The benchmark scores every method against "the reward on the denoised cube". If that map is mostly
noise, its top 1 % is a lottery and a discovery metric ranks luck. Split-half test: split the
recorded data into two halves whose noise is independent, build the truth from each half exactly
as the dataset config builds it (same denoising, same reward, same candidates), and compare:

* **counts** (EDS spectrum images): each pixel's and channel's counts ``c`` are split binomially,
  ``A ~ Binomial(c, 0.5)``, ``B = c - A`` (fixed seed). For Poisson counts the two halves are
  independent Poisson images with half the dose each (binomial thinning), so they differ only by
  counting noise;
* **float cubes** (KPFM df(V), PFM/BEPS loops): no counts to split, so the signal axis is split into
  its even and odd channels (each half keeps the whole sweep at half the sampling, with its own
  axis values). The channels are separate readings, so their noise is independent if it is white
  along the sweep; noise correlated between neighbouring channels would make the halves agree more
  than they should (the test is then optimistic). Adding and subtracting a residual (the other
  option) needs a noise model of the instrument, which these files do not carry.

Figures (over the candidates with a finite value in both halves): Spearman's rho of the two maps,
its Spearman-Brown projection to the full data ``2 rho / (1 + rho)``, and the overlap of the two
top-1 % sets ``|A and B| / max(|A|, |B|)`` (1: the same candidates). Each half carries half the data,
so these figures are conservative for the full-data truth. A dataset whose top-1 % overlap is below
:data:`UNRELIABLE_OVERLAP` is flagged "truth unreliable: not ranked" in the report.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from agent.metrics import top_fraction_mask

__all__ = [
    "SPLIT_SEED",
    "UNRELIABLE_OVERLAP",
    "Reliability",
    "binomial_halves",
    "channel_halves",
    "split_half_reliability",
    "top_overlap",
]

#: Seed of the binomial split (the same halves every time).
SPLIT_SEED = 12345
#: Below this top-1 % overlap of the two halves the truth is "unreliable: not ranked".
UNRELIABLE_OVERLAP = 0.3


@dataclass(frozen=True)
class Reliability:
    """Split-half agreement of one dataset's truth map.

    Args:
        method: ``"binomial counts"`` or ``"even/odd channels"``.
        n: candidates with a finite value in both halves.
        n_top: size of the top-1 % set (of the first half).
        spearman: Spearman rho of the two half maps.
        spearman_brown: ``2 rho / (1 + rho)``, the projected full-data reliability.
        top1_overlap: ``|A and B| / max(|A|, |B|)`` of the two top-1 % sets.
        top5_overlap: the same for the top 5 %.
        threshold: :data:`UNRELIABLE_OVERLAP`.
        unreliable: ``top1_overlap < threshold``.
    """

    method: str
    n: int
    n_top: int
    spearman: float
    spearman_brown: float
    top1_overlap: float
    top5_overlap: float
    threshold: float
    unreliable: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def binomial_halves(cube: np.ndarray, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Split integer counts into two halves: ``A ~ Binomial(cube, 0.5)``, ``B = cube - A``."""
    c = np.asarray(cube)
    if c.dtype.kind not in "iu" and not np.all(c == np.round(c)):
        raise ValueError("binomial_halves: the cube must hold integer counts")
    counts = np.clip(c, 0, None).astype(np.int64)
    a = np.random.default_rng(seed).binomial(counts, 0.5)
    return a, counts - a


def channel_halves(cube: np.ndarray, axis_values: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray],
                                                                       tuple[np.ndarray, np.ndarray]]:
    """Even and odd signal channels of a ``(ny, nx, nE)`` cube, each with its axis values."""
    c = np.asarray(cube)
    v = np.asarray(axis_values)
    return (c[..., 0::2], v[0::2]), (c[..., 1::2], v[1::2])


def top_overlap(a: np.ndarray, b: np.ndarray, fraction: float = 0.01, maximize: bool = True) -> float:
    """``|A and B| / max(|A|, |B|)`` of the top-``fraction`` sets of two maps (same candidates)."""
    ma = top_fraction_mask(np.asarray(a, dtype=np.float64), fraction, maximize)
    mb = top_fraction_mask(np.asarray(b, dtype=np.float64), fraction, maximize)
    denom = max(int(ma.sum()), int(mb.sum()))
    return float((ma & mb).sum() / denom) if denom else math.nan


def agreement(a: np.ndarray, b: np.ndarray, method: str, maximize: bool = True,
              threshold: float = UNRELIABLE_OVERLAP) -> Reliability:
    """:class:`Reliability` of two half maps over the same candidates."""
    from scipy import stats

    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if a.size < 3:
        raise ValueError(f"split-half agreement needs >= 3 candidates finite in both halves, got {a.size}")
    rho = float(stats.spearmanr(a, b).statistic)
    brown = 2 * rho / (1 + rho) if rho > -1 else math.nan
    o1 = top_overlap(a, b, 0.01, maximize)
    o5 = top_overlap(a, b, 0.05, maximize)
    n_top = int(top_fraction_mask(a, 0.01, maximize).sum())
    return Reliability(method, int(a.size), n_top, rho, float(brown), o1, o5, float(threshold),
                       bool(o1 < threshold))


def split_half_reliability(
    cube: np.ndarray,
    axis: Any,
    pixels: np.ndarray,
    reward: Callable[[np.ndarray, Any], Any],
    denoise: Callable[[np.ndarray], np.ndarray],
    counts: bool,
    maximize: bool = True,
    seed: int = SPLIT_SEED,
    threshold: float = UNRELIABLE_OVERLAP,
) -> tuple[Reliability, np.ndarray, np.ndarray]:
    """Split the recorded ``cube`` in two, denoise each half, evaluate ``reward`` at ``pixels``.

    Args:
        cube: (ny, nx, nE) recorded data (counts or floats).
        axis: the recorded signal axis (``drivers.frames.Axis``: name, units, values).
        pixels: (n, 2) int (row, col) of the candidates.
        reward: ``reward(spectrum, axis) -> float`` (a vector reward scores its first objective).
        denoise: ``denoise(half_cube) -> denoised half_cube``, the dataset's own denoising.
        counts: split binomially (True) or by even/odd channels (False).
        maximize: the top set is the highest values (False: the lowest).

    Returns:
        ``(reliability, map_a, map_b)``: the maps are (n,) float64 (NaN where the reward failed,
        :func:`rewards.evaluate`).
    """
    from drivers.frames import Axis
    from rewards import evaluate, first_objective

    if counts:
        a, b = binomial_halves(cube, seed)
        halves = [(a, axis), (b, axis)]
        method = "binomial counts (p = 0.5)"
    else:
        (ca, va), (cb, vb) = channel_halves(cube, axis.values)
        halves = [(ca, Axis(axis.name, axis.units, np.asarray(va, dtype=np.float64))),
                  (cb, Axis(axis.name, axis.units, np.asarray(vb, dtype=np.float64)))]
        method = "even/odd signal channels"
    px = np.asarray(pixels, dtype=np.int64)
    maps = []
    for half, ax in halves:
        den = denoise(half)
        spectra = (den[r, c].astype(np.float64) for r, c in px.tolist())
        maps.append(first_objective(evaluate(reward, spectra, ax)))
    return agreement(maps[0], maps[1], method, maximize, threshold), maps[0], maps[1]
