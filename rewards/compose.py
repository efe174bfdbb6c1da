"""Combinators over rewards: sign, affine scaling, input/output checking, and vectors.

The experiment loop currently optimises one scalar and always *maximises* it; wrap a reward in
:class:`Negate` to minimise it. :class:`Vector` returns a ``(k,)`` array for later multi-objective
use: it does not satisfy the scalar :class:`rewards.Reward` protocol and the loop does not take it
yet.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .errors import InvalidRewardConfig, RewardError
from .protocol import RewardBase, Window, as_reward
from .validation import check_spectrum

__all__ = ["Negate", "Scaled", "Checked", "Vector"]

RewardFn = Callable[[np.ndarray, Any], float]


def _callable(reward: Any, owner: str) -> RewardBase:
    """The inner reward as a :class:`RewardBase` (a bare function gets the protocol's defaults)."""
    if not callable(reward):
        raise InvalidRewardConfig(
            f"{owner}.reward must be a callable reward(spectrum, axis), got {type(reward).__name__}; in a "
            "config give it a _target_ (and _partial_: true for a plain function)"
        )
    return as_reward(reward)


class _Wrapper(RewardBase):
    """A combinator over one reward: reads the same windows, keeps its value units (by default)."""

    reward: RewardBase

    @property
    def name(self) -> str:
        return f"{type(self).__name__}({self.reward.name})"

    @property
    def windows(self) -> tuple[Window, ...]:
        return self.reward.windows

    def value_units(self, axis_units: str, intensity_units: str) -> str:
        return self.reward.value_units(axis_units, intensity_units)


def _scalar(value: Any, owner: str, reward: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise RewardError(f"{owner}: {reward!r} returned {type(value).__name__}, not a real scalar") from exc
    return out


class Negate(_Wrapper):
    """``-reward(spectrum, axis)``: turns a quantity to minimise into one the loop maximises."""

    def __init__(self, reward: RewardFn) -> None:
        self.reward = _callable(reward, "Negate")

    def __call__(self, spectrum: np.ndarray, axis: Any) -> float:
        return -_scalar(self.reward(spectrum, axis), "Negate", self.reward)

    def __repr__(self) -> str:
        return f"Negate({self.reward!r})"


class Scaled(_Wrapper):
    """``factor * reward(spectrum, axis) + offset`` (e.g. unit changes, or weights when summing by hand).

    Args:
        reward: the inner reward.
        factor: multiplier (finite).
        offset: added after scaling (finite).
    """

    def __init__(self, reward: RewardFn, factor: float = 1.0, offset: float = 0.0) -> None:
        self.reward = _callable(reward, "Scaled")
        try:
            self.factor, self.offset = float(factor), float(offset)
        except (TypeError, ValueError) as exc:
            raise InvalidRewardConfig(
                f"Scaled.factor and Scaled.offset must be numbers, got {factor!r}, {offset!r}"
            ) from exc
        if not (math.isfinite(self.factor) and math.isfinite(self.offset)):
            raise InvalidRewardConfig(f"Scaled.factor and Scaled.offset must be finite, got {factor!r}, {offset!r}")

    def __call__(self, spectrum: np.ndarray, axis: Any) -> float:
        return self.factor * _scalar(self.reward(spectrum, axis), "Scaled", self.reward) + self.offset

    def __repr__(self) -> str:
        return f"Scaled({self.reward!r}, factor={self.factor!r}, offset={self.offset!r})"


class Checked(_Wrapper):
    """Give any callable (a user function) the error contract of the built-in rewards.

    Before the call the spectrum and axis go through :func:`rewards.validation.check_spectrum`
    (empty / non-finite spectrum -> EmptySpectrum; length or ``units`` mismatch -> WrongAxis); after
    it, a result that is not a finite real scalar raises :class:`RewardError` instead of reaching
    the surrogate as NaN.

    Args:
        reward: the callable ``reward(spectrum, axis)``.
        units: axis units to require, or ``None`` to accept any.
    """

    def __init__(self, reward: RewardFn, units: str | None = None) -> None:
        self.reward = _callable(reward, "Checked")
        self.units = units

    def __call__(self, spectrum: np.ndarray, axis: Any) -> float:
        check_spectrum(spectrum, axis, self.units, "Checked")
        value = _scalar(self.reward(spectrum, axis), "Checked", self.reward)
        if not math.isfinite(value):
            raise RewardError(f"Checked: {self.reward!r} returned {value}; a reward must be finite")
        return value

    def __repr__(self) -> str:
        return f"Checked({self.reward!r}, units={self.units!r})"


class Vector(RewardBase):
    """Several rewards at once: ``reward(spectrum, axis) -> (k,) float64`` (for multi-objective use).

    Any inner error propagates (the measurement fails as a whole).

    Args:
        rewards: the k >= 1 inner rewards, in output order.
    """

    def __init__(self, rewards: Sequence[RewardFn]) -> None:
        if isinstance(rewards, (str, bytes)) or not hasattr(rewards, "__iter__"):
            raise InvalidRewardConfig(f"Vector.rewards must be a list of rewards, got {rewards!r}")
        self.rewards = [_callable(r, "Vector") for r in rewards]
        if not self.rewards:
            raise InvalidRewardConfig("Vector.rewards must hold at least one reward")

    @property
    def name(self) -> str:
        return f"Vector({', '.join(r.name for r in self.rewards)})"

    @property
    def windows(self) -> tuple[Window, ...]:
        """Every inner reward's windows, in output order (repeats dropped)."""
        return tuple(dict.fromkeys(w for r in self.rewards for w in r.windows))

    def value_units(self, axis_units: str, intensity_units: str) -> str:
        """The inner rewards' units, ``"; "``-joined in output order (once when all are the same)."""
        units = [r.value_units(axis_units, intensity_units) for r in self.rewards]
        return units[0] if len(set(units)) == 1 else "; ".join(units)

    def __call__(self, spectrum: np.ndarray, axis: Any) -> np.ndarray:
        return np.array([_scalar(r(spectrum, axis), "Vector", r) for r in self.rewards], dtype=np.float64)

    def __len__(self) -> int:
        return len(self.rewards)

    def __repr__(self) -> str:
        return f"Vector({self.rewards!r})"
