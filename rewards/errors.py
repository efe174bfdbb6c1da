"""Typed errors raised by rewards (scalarizers).

At call time a reward raises :class:`EmptySpectrum`, :class:`WrongAxis`, :class:`WindowOutsideAxis`
or a plain :class:`RewardError`; the loop treats any of them as a failed measurement. At
construction time (building from a Hydra config) malformed arguments raise
:class:`InvalidRewardConfig`, so a bad configuration is refused before the experiment starts.
"""

from __future__ import annotations

from drivers.errors import AutoscopeError, ConfigurationError

__all__ = ["RewardError", "EmptySpectrum", "WrongAxis", "WindowOutsideAxis", "InvalidRewardConfig",
           "InvalidRewardValue"]


class RewardError(AutoscopeError, ValueError):
    """A spectrum cannot be turned into a target value."""


class EmptySpectrum(RewardError):
    """The spectrum is empty, all-NaN, or has no counts where the reward looks."""


class WrongAxis(RewardError):
    """The spectrum's signal axis has the wrong units or a shape that does not match the data."""


class WindowOutsideAxis(RewardError):
    """A reward window (e.g. ``window_eV``) does not overlap the spectrum's signal axis."""


class InvalidRewardValue(RewardError):
    """A reward returned no value, a non-finite value, a 2-D value, or a different number of objectives
    on different spectra (see :func:`rewards.evaluate`)."""


class InvalidRewardConfig(RewardError, ConfigurationError):
    """A reward's constructor arguments are malformed (window order, unknown method or element)."""
