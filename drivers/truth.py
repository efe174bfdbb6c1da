"""Apply a reward to many noise-free spectra: the ground truth drivers offer for scoring."""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import numpy as np

__all__ = ["evaluate_reward"]


def evaluate_reward(
    reward: Callable[[np.ndarray, Any], Any],
    spectra: Iterable[np.ndarray],
    axis: Any,
    catch: tuple[type[BaseException], ...] = (ValueError, ArithmeticError),
) -> tuple[np.ndarray, list[tuple[int, BaseException]]]:
    """``reward(spectrum, axis)`` for each spectrum.

    Returns ``(values, failures)``: ``values`` is ``(n,)`` float64 for a scalar reward or ``(n, k)``
    for a vector reward (``rewards.compose.Vector``); NaN (a NaN row) where the reward raised one of
    ``catch`` (``RewardError`` is a ``ValueError``); ``failures`` lists ``(position, error)``.
    """
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
