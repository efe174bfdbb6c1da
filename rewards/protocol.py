"""The ``Reward`` protocol: spectrum -> the scalar the user cares about.

A reward is any callable ``reward(spectrum, axis) -> float`` where ``spectrum`` is ``(n_signal,)``
float64 and ``axis`` is a :class:`drivers.Axis` (its ``values`` and ``units``). Rewards are pure:
the same inputs give the same value; they raise :class:`rewards.RewardError` subclasses on bad input.
A user function plugs in through Hydra (``_target_: mymodule.my_reward`` with ``_partial_: true``).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from drivers.frames import Axis

__all__ = ["Reward"]


@runtime_checkable
class Reward(Protocol):
    def __call__(self, spectrum: np.ndarray, axis: Axis) -> float: ...
