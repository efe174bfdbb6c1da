"""Reward evaluation: the one place a reward is called on spectra, checked and shaped.

Everything that turns spectra into target values goes through here: the loop's per-step row
(:func:`evaluate_one`), the rescore after a new reward (:func:`evaluate`) and the noise-free truth
maps used for scoring (:func:`evaluate_at` over a driver's ``expected_spectra``).

Shape rule (the *target* shape): a **scalar reward** (it returns a number or a one-element array)
gives ``(n,)`` float64; a **vector reward** of ``k >= 2`` objectives (:class:`rewards.Vector`) gives
``(n, k)`` float64. A spectrum where the reward raises :class:`rewards.RewardError` or returns a
non-finite value is a *failed* spectrum: NaN (a NaN row) there, never an exception. A reward that
breaks the contract (a 2-D or empty value, or a different ``k`` on different spectra) raises
:class:`rewards.InvalidRewardValue`. Any other exception from the reward is a bug and propagates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from drivers.frames import Axis

from .errors import InvalidRewardConfig, InvalidRewardValue, RewardError

__all__ = ["evaluate", "evaluate_at", "evaluate_one", "first_objective"]

log = logging.getLogger(__name__)

RewardFn = Callable[[np.ndarray, Axis], Any]
"""``reward(spectrum (n_channels,) float64, axis) -> float | (k,) array`` (see :mod:`rewards.protocol`)."""


def evaluate_one(reward: RewardFn, spectrum: np.ndarray, axis: Axis) -> np.ndarray:
    """``reward(spectrum, axis)`` as a checked ``(k,)`` float64 array (``k = 1`` for a scalar reward).

    Args:
        reward: the reward.
        spectrum: ``(n_channels,)`` signal (converted to float64).
        axis: its signal axis.

    Raises:
        RewardError: the reward's own error (the spectrum cannot be scored).
        InvalidRewardValue: the value is empty, 2-D or not finite.
    """
    value = _call(reward, spectrum, axis)
    if not np.all(np.isfinite(value)):
        raise InvalidRewardValue(f"reward returned {value.tolist()}")
    return value


def _call(reward: RewardFn, spectrum: np.ndarray, axis: Axis) -> np.ndarray:
    """``reward(spectrum, axis)`` as a ``(k,)`` float64 array; an empty or 2-D value is refused."""
    value = np.atleast_1d(np.asarray(reward(np.asarray(spectrum, dtype=np.float64), axis), dtype=np.float64))
    if value.ndim != 1 or value.size == 0:
        raise InvalidRewardValue(f"reward returned shape {value.shape}; expected a number or (k,)")
    return value


def evaluate(reward: RewardFn, spectra: np.ndarray | Iterable[np.ndarray], axis: Axis) -> np.ndarray:
    """``reward`` on each of ``spectra``: ``(n,)`` float64 (scalar reward) or ``(n, k)`` (vector reward).

    Args:
        reward: the reward.
        spectra: ``(n, n_channels)`` array, or an iterable of ``n`` ``(n_channels,)`` spectra.
        axis: the signal axis shared by every spectrum.

    Returns:
        The target values (module docstring: shape rule); NaN where a spectrum failed (the reward
        raised :class:`RewardError` or returned a non-finite value). Failures are logged once, with
        their count and the first error. With every spectrum failed the width is unknown: ``(n,)``.

    Raises:
        InvalidRewardValue: the reward returned a 2-D or empty value, or a different number of
            objectives on different spectra.
    """
    rows: list[np.ndarray | None] = []
    failures: list[tuple[int, RewardError]] = []
    width: int | None = None
    for i, spectrum in enumerate(spectra):
        try:
            value = _call(reward, spectrum, axis)
        except InvalidRewardValue as err:  # a broken contract, not a spectrum the reward cannot score
            raise InvalidRewardValue(f"reward {reward!r} at spectrum {i}: {err}") from err
        except RewardError as err:
            failures.append((i, err))
            rows.append(None)
            continue
        if not np.all(np.isfinite(value)):
            failures.append((i, InvalidRewardValue(f"reward returned {value.tolist()}")))
            rows.append(None)
            continue
        if width is None:
            width = value.size
        elif value.size != width:
            raise InvalidRewardValue(
                f"reward {reward!r} returned {value.size} value(s) at spectrum {i} and {width} before; "
                "a reward returns the same number of objectives on every spectrum")
        rows.append(value)
    if failures:
        (first_i, first), count = failures[0], len(failures)
        every = "every one" if count == len(rows) else f"{count}"
        log.warning("reward %r failed on %s of %d spectra; NaN there (first at %d: %s: %s)",
                    reward, every, len(rows), first_i, type(first).__name__, first)
    k = width or 1
    values = np.full((len(rows), k), np.nan)
    for i, row in enumerate(rows):
        if row is not None:
            values[i] = row
    return values[:, 0] if k == 1 else values


def evaluate_at(reward: RewardFn, expected_spectra: Callable[[np.ndarray], np.ndarray], axis: Axis,
                yx_m: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """:func:`evaluate` on ``expected_spectra(yx_m)`` in blocks of ``chunk`` positions.

    The noise-free truth for scoring: pass a :class:`drivers.GroundTruth`'s ``expected_spectra`` and
    ``signal_axis``. Blocks keep the memory at ``chunk x n_channels`` floats whatever ``n``.

    Args:
        reward: the reward.
        expected_spectra: ``(m, 2)`` metres -> ``(m, n_channels)`` float64 noise-free spectra.
        axis: their signal axis.
        yx_m: ``(n, 2)`` positions (metres, the driver's overview calibration).
        chunk: positions per block (>= 1).

    Returns:
        ``(n,)`` or ``(n, k)`` float64 as :func:`evaluate` (NaN where a spectrum failed).
    """
    step = int(chunk)
    if step < 1:
        raise InvalidRewardConfig(f"evaluate_at: chunk={chunk!r} must be an integer >= 1")
    points = np.asarray(yx_m, dtype=np.float64)  # the driver validates the positions
    spectra = (spectrum for start in range(0, len(points), step)
               for spectrum in np.asarray(expected_spectra(points[start:start + step]), dtype=np.float64))
    return evaluate(reward, spectra, axis)


def first_objective(values: np.ndarray) -> np.ndarray:
    """The first objective of target values: ``(n,)`` as is, ``(n, k)`` -> ``values[:, 0]``."""
    out = np.asarray(values, dtype=np.float64)
    return out if out.ndim == 1 else out[:, 0]
