"""Shorter dwell from recorded counts: exact binomial thinning with a deterministic seed.

Keeping each recorded count independently with probability ``fraction`` turns Poisson counts of
rate ``r`` into Poisson counts of rate ``fraction * r``: exactly what a dwell ``fraction`` times as
long would have recorded. The random stream is seeded from ``(seed, pixel, fraction)`` only, so the
same seed, position and exposure always give the same spectrum, whatever was acquired before.
"""

from __future__ import annotations

import numpy as np

__all__ = ["thinning_rng", "thin_counts"]

_STREAM_TAG = 0x7E1A5  # separates this stream from any other use of the same seed


def thinning_rng(seed: int, pixel: tuple[int, int], fraction: float) -> np.random.Generator:
    """Generator seeded from ``seed`` (>= 0), the ``(row, col)`` pixel and the exact float64 bits of
    ``fraction``."""
    bits = int(np.array(float(fraction), dtype=np.float64).view(np.uint64))
    entropy = [_STREAM_TAG, int(seed), int(pixel[0]), int(pixel[1]), bits]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def thin_counts(counts: np.ndarray, fraction: float, seed: int, pixel: tuple[int, int]) -> np.ndarray:
    """Binomially thinned copy of ``counts``.

    Args:
        counts: (n,) non-negative integer counts (any integer dtype, or integral floats).
        fraction: keep probability in (0, 1]; 1 returns the counts unchanged.
        seed: non-negative experiment seed.
        pixel: (row, col) of the spectrum, part of the seed.

    Returns:
        (n,) int64, element-wise ``<= counts``.
    """
    counts = np.asarray(counts).astype(np.int64)
    if fraction >= 1.0:
        return counts.copy()
    return thinning_rng(seed, pixel, fraction).binomial(counts, fraction).astype(np.int64)
