"""The ``Reward`` protocol: spectrum -> the value (or values) the user cares about, and what it reads.

A reward is called ``reward(spectrum, axis)`` where ``spectrum`` is ``(n_signal,)`` float64 and
``axis`` is a :class:`drivers.frames.Axis` (its ``values`` and ``units``). It returns a scalar (a
number: one objective) or, for a vector reward such as :class:`rewards.Vector`, a ``(k,)`` array of
``k`` objectives. Rewards are pure: the same inputs give the same value; they raise
:class:`rewards.RewardError` subclasses on bad input. Callers never call a reward directly: they go
through :func:`rewards.evaluate` / :func:`rewards.evaluate_one`, which check and shape the value.

The whole contract is declared here, with defaults on :class:`RewardBase` (every built-in reward
derives it):

* ``name`` - what plots and records call it (default: the class name);
* ``windows`` - the spectral windows ``((lo, hi), ...)`` the reward reads, in axis units (default
  ``()``: the whole spectrum, or nothing to shade);
* ``value_units(axis_units, intensity_units)`` - the units of its value, given the spectrum axis'
  units (``"eV"``, ``"V"``) and the spectrum's own intensity units (``"counts"``, ``"pm"``: only the
  instrument knows them, :attr:`drivers.frames.Capabilities.intensity_units`); default ``""``.

A user function plugs in through Hydra (``_target_: mymodule.my_reward`` with ``_partial_: true``);
:func:`as_reward` wraps such a bare callable in :class:`FunctionReward`, which has the defaults. The
loop wraps its reward once, when it takes it, so nothing downstream probes the object.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from drivers.frames import Axis

from .errors import InvalidRewardConfig

__all__ = ["Reward", "RewardBase", "FunctionReward", "Window", "as_reward", "integral_units"]

#: one spectral window ``(lo, hi)`` in axis units
Window = tuple[float, float]


@runtime_checkable
class Reward(Protocol):
    """What the loop, the record and the plots use of a reward (see the module docstring)."""

    @property
    def name(self) -> str:
        """e.g. ``"BandIntensity"``."""
        ...

    @property
    def windows(self) -> tuple[Window, ...]:
        """Spectral windows read, ``((lo, hi), ...)`` in axis units; ``()`` when none."""
        ...

    def value_units(self, axis_units: str, intensity_units: str) -> str:
        """Units of the value for a spectrum of ``intensity_units`` on an axis in ``axis_units``."""
        ...

    def __call__(self, spectrum: np.ndarray, axis: Axis) -> float | np.ndarray:
        """``spectrum: (n_signal,)`` float64 on ``axis`` -> a number, or ``(k,)`` float64 objectives."""
        ...


class RewardBase:
    """The protocol's optional members with their defaults; derive it and override what applies."""

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def windows(self) -> tuple[Window, ...]:
        return ()

    def value_units(self, axis_units: str, intensity_units: str) -> str:
        return ""

    def __call__(self, spectrum: np.ndarray, axis: Axis) -> float | np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must define __call__(spectrum, axis)")


def integral_units(axis_units: str, intensity_units: str) -> str:
    """Units of an integral of the spectrum over its axis, e.g. ``"counts eV"``."""
    return " ".join(u for u in (intensity_units, axis_units) if u)


def _function_name(fn: Callable[..., Any]) -> str:
    if isinstance(fn, functools.partial):
        return _function_name(fn.func)
    if isinstance(fn, (types.FunctionType, types.BuiltinFunctionType, types.MethodType)):
        return fn.__name__
    return type(fn).__name__


class FunctionReward(RewardBase):
    """A bare callable ``fn(spectrum, axis)`` (a user function, a Hydra ``_partial_``) as a reward
    with the protocol's defaults: its name is the function's, no windows, no value units.

    Args:
        fn: the callable.
    """

    def __init__(self, fn: Callable[[np.ndarray, Axis], Any]) -> None:
        if not callable(fn):
            raise InvalidRewardConfig(
                f"a reward must be a callable reward(spectrum, axis), got {type(fn).__name__}; in a "
                "config give it a _target_ (and _partial_: true for a plain function)"
            )
        self.fn = fn

    @property
    def name(self) -> str:
        return _function_name(self.fn)

    def __call__(self, spectrum: np.ndarray, axis: Axis) -> Any:
        return self.fn(spectrum, axis)

    def __repr__(self) -> str:
        return repr(self.fn)


def as_reward(obj: Any) -> RewardBase:
    """``obj`` itself when it derives :class:`RewardBase`, else ``obj`` wrapped in :class:`FunctionReward`
    (``InvalidRewardConfig`` when it is not callable)."""
    return obj if isinstance(obj, RewardBase) else FunctionReward(obj)
