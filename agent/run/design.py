"""The seed design: the first ``n_init`` candidates, space-filling (scrambled Sobol) or random."""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np

from ..candidates import CandidateSet

__all__ = ["seed_design"]

log = logging.getLogger(__name__)


def seed_design(candidates: CandidateSet, n: int, seed: int, init: str,
                weights: np.ndarray | None = None, source: str = "gate") -> list[int]:
    """``n`` distinct candidate indices, identical for the same seed (own random stream: a resumed
    run gets the same design).

    Args:
        candidates: the run's candidates (``yx_frac`` (n, 2) used for distances).
        n: points wanted (``experiment.n_init``); fewer when fewer candidates (or weights > 0) exist.
        seed: the run's seed.
        init: ``"sobol"`` (space-filling) or ``"random"``.
        weights: ``(n_candidates,)`` >= 0 from a gate (0/1) or a prior ((0, 1]); None: no preference.
            Sobol: the candidate maximising ``w * exp(-d^2 / 2h^2)`` near each point, h half the
            spacing of n space-filling points. Random: drawn with probability proportional to w.
        source: who gave the weights, for the log.
    """
    cand = candidates
    n = min(n, cand.n)
    rng = np.random.default_rng([seed, 0xD5])
    if n == 0:
        return []
    w = None
    n_ok = cand.n
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (cand.n,) or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"{source}.design_weights() must be ({cand.n},) finite weights >= 0, got shape "
                             f"{w.shape}")
        n_ok = int(np.count_nonzero(w > 0))
        if n_ok < n:
            log.warning("seed design: the gate passes %d candidates, fewer than n_init=%d", n_ok, n)
        n = min(n, n_ok)
        if n == 0:
            return []
    if init == "random":
        if w is None:
            return [int(i) for i in rng.choice(cand.n, size=n, replace=False)]
        return [int(i) for i in rng.choice(cand.n, size=n, replace=False, p=w / w.sum())]
    from scipy.stats import qmc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Sobol balance warning for n not a power of two
        pts = qmc.Sobol(d=2, scramble=True, seed=rng).random(n)
    penalty = None
    if w is not None:
        h2 = (0.5 / math.sqrt(n)) ** 2
        with np.errstate(divide="ignore"):
            penalty = -2.0 * h2 * np.log(w)  # in units of d^2; inf where the gate refuses
    taken = np.zeros(cand.n, dtype=bool)
    design = []
    for p in pts:
        d2 = np.sum((cand.yx_frac - p) ** 2, axis=1)
        if penalty is not None:
            d2 = d2 + penalty
        d2[taken] = np.inf
        i = int(np.argmin(d2))
        taken[i] = True
        design.append(i)
    if w is not None:
        log.info("seed design: %d space-filling points among the %d candidates the %s passes "
                 "(mean weight %.3g vs %.3g over all)", n, n_ok, source, float(w[design].mean()),
                 float(w.mean()))
    return design
