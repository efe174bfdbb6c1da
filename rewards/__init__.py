"""Rewards (scalarizers): measured spectrum -> target value."""

from .errors import EmptySpectrum, RewardError, WindowOutsideAxis, WrongAxis
from .protocol import Reward

__all__ = ["EmptySpectrum", "Reward", "RewardError", "WindowOutsideAxis", "WrongAxis"]
