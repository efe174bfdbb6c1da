"""The noise-free truth over the candidates, for scoring only (never shown to the policy)."""

from __future__ import annotations

import logging
import time

import numpy as np

from drivers.protocol import Driver, GroundTruth
from drivers.truth import truth_source
from rewards import evaluate_at

from ..candidates import CandidateSet
from .measurer import Reward

__all__ = ["truth_source", "truth_map"]

log = logging.getLogger(__name__)


def truth_map(driver: Driver, reward: Reward, candidates: CandidateSet) -> np.ndarray | None:
    """``(n,)`` (or ``(n, k)``) float64 reward of every candidate's noise-free spectrum
    (:func:`drivers.truth.truth_source` looks through the safety layer and fault injector); None
    when the driver does not know it (a real instrument)."""
    oracle: GroundTruth | None = truth_source(driver)
    if oracle is None:
        return None
    t0 = time.perf_counter()
    truth = np.asarray(evaluate_at(reward, oracle.expected_spectra, oracle.signal_axis, candidates.yx_m),
                       np.float64)
    log.info("ground truth over %d candidates in %.2f s (scoring only, never shown to the policy)",
             candidates.n, time.perf_counter() - t0)
    return truth
