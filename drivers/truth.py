"""Where a run finds the noise-free truth: :func:`truth_source` looks through driver wrappers.

The truth is *spectra* (:class:`drivers.GroundTruth.expected_spectra`); turning them into target
values is the reward's business (:func:`rewards.evaluate_at`), so nothing here knows about rewards.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .protocol import Driver, GroundTruth, Wrapper

__all__ = ["truth_source", "evaluate_reward"]

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


def evaluate_reward(
    reward: Callable[[np.ndarray, Any], Any],
    spectra: Iterable[np.ndarray],
    axis: Any,
    catch: tuple[type[BaseException], ...] = (ValueError, ArithmeticError),
) -> tuple[np.ndarray, list[tuple[int, BaseException]]]:
    """Deprecated (only the ``ground_truth(reward, yx_m)`` shims use it until their callers move to
    :func:`rewards.evaluate_at`): ``reward(spectrum, axis)`` for each spectrum -> ``(values,
    failures)``, ``(n,)`` or ``(n, k)`` float64, NaN where the reward raised one of ``catch``."""
    out: list[np.ndarray | None] = []
    failures: list[tuple[int, BaseException]] = []
    width = None
    for i, spectrum in enumerate(spectra):
        try:
            value = np.atleast_1d(np.asarray(reward(np.asarray(spectrum, np.float64), axis), np.float64))
        except catch as err:
            failures.append((i, err))
            out.append(None)
            continue
        if value.ndim != 1:
            raise ValueError(f"reward {reward!r} returned shape {value.shape}; expected a scalar or (k,)")
        if width is None:
            width = value.size
        elif value.size != width:
            raise ValueError(f"reward {reward!r} returned {value.size} values here and {width} before")
        out.append(value)
    k = width or 1
    values = np.full((len(out), k), math.nan)
    for i, v in enumerate(out):
        if v is not None:
            values[i] = v
    return (values[:, 0] if k == 1 else values), failures
