"""Statistics over seeds: Student-t and percentile-bootstrap intervals, the paired Wilcoxon test
against the baseline, and random search's exact expected discovery curve."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BOOTSTRAP_SEED",
    "N_BOOTSTRAP",
    "Interval",
    "PairedTest",
    "bootstrap_band",
    "bootstrap_interval",
    "paired_wilcoxon",
    "random_expected_auc",
    "random_expected_recall",
    "random_reach_probability",
    "t_interval",
]


@dataclass(frozen=True)
class Interval:
    """Mean of ``n`` finite values and its two-sided confidence interval ``[lo, hi]``.

    ``lo``/``hi`` are NaN when ``n < 2`` (no spread to estimate); every field is NaN when ``n == 0``.
    """

    mean: float
    lo: float
    hi: float
    n: int
    confidence: float = 0.95

    @property
    def half_width(self) -> float:
        return 0.5 * (self.hi - self.lo)

    def format(self, digits: int = 3) -> str:
        """``"0.412 [0.301, 0.523]"``; ``"0.412"`` when n = 1; ``"n/a"`` when n = 0."""
        if self.n == 0:
            return "n/a"
        if self.n == 1 or not math.isfinite(self.lo):
            return f"{self.mean:.{digits}g}"
        return f"{self.mean:.{digits}g} [{self.lo:.{digits}g}, {self.hi:.{digits}g}]"


def t_interval(values: Iterable[float], confidence: float = 0.95) -> Interval:
    """Mean and Student-t interval ``mean +- t_{(1+c)/2, n-1} * s / sqrt(n)`` of the finite ``values``.

    Args:
        values: per-seed results (NaN and None are dropped).
        confidence: two-sided level in (0, 1).
    """
    from scipy import stats

    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence} must lie in (0, 1), e.g. 0.95")
    v = np.asarray([np.nan if x is None else x for x in values], dtype=np.float64)
    v = v[np.isfinite(v)]
    n = int(v.size)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, confidence)
    mean = float(v.mean())
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1, confidence)
    half = float(stats.t.ppf(0.5 + confidence / 2.0, n - 1) * v.std(ddof=1) / math.sqrt(n))
    return Interval(mean, mean - half, mean + half, n, confidence)


# ---------------------------------------------------------------------------------- bootstrap
#: Seed of the bootstrap resampling: the same sweep always gives the same intervals.
BOOTSTRAP_SEED = 20261206
#: Bootstrap resamples per interval.
N_BOOTSTRAP = 10_000


def bootstrap_interval(values: Iterable[float], confidence: float = 0.95, n_boot: int = N_BOOTSTRAP,
                       seed: int = BOOTSTRAP_SEED) -> Interval:
    """Mean and percentile-bootstrap interval of the mean of the finite ``values`` (over seeds).

    The interval is made of means of resampled seeds, so it never leaves the range of the data: a
    recall or an AUC in [0, 1] gets an interval inside [0, 1] (a Student-t interval can pass 0 or 1
    with few seeds). Deterministic: a fixed generator seed (``seed``); n < 2 gives no interval.

    Args:
        values: per-seed results (NaN and None are dropped).
        confidence: two-sided level in (0, 1).
        n_boot: resamples (>= 100).
        seed: the resampling generator's seed.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence} must lie in (0, 1), e.g. 0.95")
    if int(n_boot) < 100:
        raise ValueError(f"n_boot={n_boot} must be >= 100 resamples")
    v = np.asarray([np.nan if x is None else x for x in values], dtype=np.float64)
    v = v[np.isfinite(v)]
    n = int(v.size)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, confidence)
    mean = float(v.mean())
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1, confidence)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, n, size=(int(n_boot), n))].mean(axis=1)
    alpha = 0.5 * (1.0 - confidence)
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return Interval(mean, float(lo), float(hi), n, confidence)


def bootstrap_band(values: np.ndarray, confidence: float = 0.95, n_boot: int = 2_000,
                   seed: int = BOOTSTRAP_SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-column mean and percentile-bootstrap interval of ``values: (n_runs, m)``, resampling
    whole runs (rows; a curve's steps stay together). Rows with NaN in a column are left out of
    that column's mean. ``lo = hi = mean`` where fewer than two runs have a value."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    n_ok = ok.sum(axis=0)
    mean = np.where(n_ok > 0, np.where(ok, v, 0.0).sum(axis=0) / np.maximum(n_ok, 1), np.nan)
    if v.shape[0] < 2:
        return mean, mean.copy(), mean.copy()
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.shape[0], size=(int(n_boot), v.shape[0]))
    vals, oks = np.where(ok, v, 0.0)[idx], ok[idx]  # (n_boot, n_runs, m)
    cnt = oks.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(cnt > 0, vals.sum(axis=1) / np.maximum(cnt, 1), np.nan)
    alpha = 0.5 * (1.0 - confidence)
    lo = np.nanquantile(means, alpha, axis=0) if np.isfinite(means).any() else mean
    hi = np.nanquantile(means, 1.0 - alpha, axis=0) if np.isfinite(means).any() else mean
    single = n_ok < 2
    lo = np.where(single, mean, lo)
    hi = np.where(single, mean, hi)
    return mean, lo, hi


# ---------------------------------------------------------------------------------- paired test
@dataclass(frozen=True)
class PairedTest:
    """Wilcoxon signed-rank test of ``method - baseline`` over the seeds both ran.

    Args:
        n: seeds paired.
        mean_diff: mean paired difference (method minus baseline).
        p: two-sided p-value (NaN when n < 2 or undefined; 1.0 when every difference is 0).
        alpha: significance level of :attr:`significant`.
    """

    n: int
    mean_diff: float
    p: float
    alpha: float = 0.05

    @property
    def significant(self) -> bool:
        return math.isfinite(self.p) and self.p < self.alpha

    def format(self, digits: int = 2) -> str:
        """``"+0.12, p=0.004"``, ``"-0.01, p=0.43 n.s."`` or ``"n/a"``."""
        if self.n == 0 or not math.isfinite(self.mean_diff):
            return "n/a"
        if not math.isfinite(self.p):
            return f"{self.mean_diff:+.{digits}f} (n={self.n}, no test)"
        p = f"{self.p:.2g}" if self.p >= 1e-3 else f"{self.p:.1e}"
        return f"{self.mean_diff:+.{digits}f}, p={p}" + ("" if self.significant else " n.s.")


def paired_wilcoxon(method: dict[int, float], baseline: dict[int, float], alpha: float = 0.05) -> PairedTest:
    """``scipy.stats.wilcoxon`` on the per-seed differences ``method[s] - baseline[s]`` over the seeds
    present (and finite) in both.

    All-zero differences (identical runs) give p = 1; fewer than two pairs give p = NaN.
    """
    from scipy import stats

    seeds = sorted(s for s in set(method) & set(baseline)
                   if math.isfinite(method[s]) and math.isfinite(baseline[s]))
    if not seeds:
        return PairedTest(0, math.nan, math.nan, alpha)
    d = np.asarray([method[s] - baseline[s] for s in seeds], dtype=np.float64)
    mean_diff = float(d.mean())
    if d.size < 2:
        return PairedTest(int(d.size), mean_diff, math.nan, alpha)
    if np.all(np.abs(d) < 1e-12):
        return PairedTest(int(d.size), mean_diff, 1.0, alpha)
    p = float(stats.wilcoxon(d).pvalue)
    return PairedTest(int(d.size), mean_diff, p, alpha)


# ---------------------------------------------------------------------------------- random
def random_expected_recall(steps: np.ndarray | int, n_candidates: int) -> np.ndarray:
    """Expected recall of any top set after ``steps`` uniform draws without replacement among
    ``n_candidates``: the number of top candidates found is hypergeometric with mean ``n K / N``, so
    the recall ``found / K`` has mean exactly ``n / N`` whatever ``K``."""
    n = np.asarray(steps, dtype=np.float64)
    if n_candidates < 1:
        raise ValueError(f"n_candidates={n_candidates} must be >= 1")
    return np.clip(n / float(n_candidates), 0.0, 1.0)


def random_expected_auc(budget: int, n_candidates: int) -> float:
    """Random's expected area under the discovery curve over steps 1..budget: mean of n / N,
    ``(budget + 1) / (2 N)``."""
    return float(random_expected_recall(np.arange(1, int(budget) + 1), n_candidates).mean())


def random_reach_probability(level: float, budget: int, n_candidates: int, n_top: int) -> float:
    """Probability that ``budget`` uniform draws without replacement find at least
    ``ceil(level * n_top)`` of the ``n_top`` top candidates among ``n_candidates`` (hypergeometric)."""
    from scipy import stats

    need = max(1, math.ceil(level * n_top - 1e-9))
    return float(stats.hypergeom.sf(need - 1, int(n_candidates), int(n_top), min(int(budget), int(n_candidates))))
