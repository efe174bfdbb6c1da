"""Checks of plain constructor arguments (strings, positive numbers) shared by the rewards."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from drivers import validation

from .errors import InvalidRewardConfig

__all__ = ["choice", "units_arg", "positive", "odd_window"]


def choice(value: Any, allowed: Iterable[str], field: str, owner: str) -> str:
    """``value`` if it is one of ``allowed`` (strings), else :class:`InvalidRewardConfig`."""
    return validation.choice(f"{owner}.{field}", value, allowed, error=InvalidRewardConfig)


def units_arg(value: Any, owner: str) -> str:
    """A non-empty units string such as ``"eV"``, ``"keV"`` or ``"V"``."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidRewardConfig(f"{owner}.units must be a non-empty string such as 'eV', got {value!r}")
    return value.strip()


def positive(value: Any, field: str, owner: str, allow_zero: bool = False) -> float:
    """A finite float > 0 (or >= 0 with ``allow_zero``)."""
    return validation.positive(f"{owner}.{field}", value, allow_zero=allow_zero, error=InvalidRewardConfig)


def odd_window(value: Any, field: str, owner: str) -> int:
    """An odd integer >= 3 (a median-filter length)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 3 or value % 2 == 0:
        raise InvalidRewardConfig(f"{owner}.{field} must be an odd integer >= 3, got {value!r}")
    return value
