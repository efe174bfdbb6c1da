"""A user-style reward written as a plain function (see ``conf/reward/custom_example.yaml``).

A user reward is any function ``f(spectrum, axis, **settings) -> float``; Hydra binds the settings
with ``_partial_: true`` so the loop calls ``f(spectrum, axis)``. Calling
:func:`rewards.validation.check_spectrum` first gives it the same typed errors as the built-in
rewards.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import RewardError
from .validation import ascending, check_spectrum
from .windows import clip_window, integrate_window, parse_window

__all__ = ["peak_to_background"]


def peak_to_background(
    spectrum: np.ndarray,
    axis: Any,
    window_eV: Sequence[float] = (1.0, 2.0),
    background_eV: Sequence[float] = (0.5, 0.9),
    units: str = "eV",
) -> float:
    """Mean level in ``window_eV`` over the mean level in ``background_eV`` (dimensionless).

    Args:
        spectrum: (n,) counts.
        axis: its signal axis, in ``units``.
        window_eV: ``[lo, hi]`` of the signal band (axis units).
        background_eV: ``[lo, hi]`` of a reference band (axis units).
        units: the axis units expected.

    Raises:
        RewardError: the background band's mean level is <= 0 (and the typed errors of
            :func:`check_spectrum` / the windows).
    """
    owner = "peak_to_background"
    x, y = ascending(*check_spectrum(spectrum, axis, units, owner), owner)
    levels = []
    for field, value in (("window_eV", window_eV), ("background_eV", background_eV)):
        lo, hi = clip_window(x, parse_window(value, field, owner), field, owner, units)
        levels.append(integrate_window(x, y, lo, hi) / (hi - lo))
    if not levels[1] > 0:
        raise RewardError(
            f"{owner}: the background_eV band's mean level is {levels[1]:.6g} <= 0; move it onto signal"
        )
    return float(levels[0] / levels[1])
