"""The ``Reward`` protocol: spectrum -> the value (or values) the user cares about.

A reward is any callable ``reward(spectrum, axis)`` where ``spectrum`` is ``(n_signal,)`` float64 and
``axis`` is a :class:`drivers.frames.Axis` (its ``values`` and ``units``). It returns a scalar (a
number: one objective) or, for a vector reward such as :class:`rewards.Vector`, a ``(k,)`` array of
``k`` objectives. Rewards are pure: the same inputs give the same value; they raise
:class:`rewards.RewardError` subclasses on bad input. Callers never call a reward directly: they go
through :func:`rewards.evaluate` / :func:`rewards.evaluate_one`, which check and shape the value.
A user function plugs in through Hydra (``_target_: mymodule.my_reward`` with ``_partial_: true``).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from drivers.frames import Axis

__all__ = ["Reward"]


@runtime_checkable
class Reward(Protocol):
    def __call__(self, spectrum: np.ndarray, axis: Axis) -> float | np.ndarray:
        """``spectrum: (n_signal,)`` float64 on ``axis`` -> a number, or ``(k,)`` float64 objectives."""
        ...
