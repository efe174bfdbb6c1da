"""Where a run finds the noise-free truth: :func:`truth_source` looks through driver wrappers.

The truth is *spectra* (:class:`drivers.GroundTruth.expected_spectra`); turning them into target
values is the reward's business (:func:`rewards.evaluate_at`), so nothing here knows about rewards.
"""

from __future__ import annotations

from typing import Any

from .protocol import Driver, GroundTruth, Wrapper

__all__ = ["truth_source"]

_MAX_WRAPPERS = 8


def truth_source(driver: Driver | None) -> GroundTruth | None:
    """The driver that knows the noise-free truth: ``driver`` itself when it is a
    :class:`GroundTruth`, else the first one found through :class:`Wrapper` ``.inner`` links (the
    safety layer, the fault injector), at most 8 deep; ``None`` when there is none (a real
    instrument)."""
    current: Any = driver
    for _ in range(_MAX_WRAPPERS + 1):
        if current is None:
            return None
        if isinstance(current, GroundTruth):
            return current
        if not isinstance(current, Wrapper):
            return None
        current = current.inner
    return None
