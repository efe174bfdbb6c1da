"""Typed errors raised by rewards (scalarizers)."""

from __future__ import annotations

__all__ = ["RewardError", "EmptySpectrum", "WrongAxis", "WindowOutsideAxis"]


class RewardError(ValueError):
    """A spectrum cannot be turned into a target value."""


class EmptySpectrum(RewardError):
    """The spectrum is empty, all-NaN, or has no counts where the reward looks."""


class WrongAxis(RewardError):
    """The spectrum's signal axis has the wrong units or a shape that does not match the data."""


class WindowOutsideAxis(RewardError):
    """A reward window (e.g. ``window_eV``) does not overlap the spectrum's signal axis."""
