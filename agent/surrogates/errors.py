"""Typed errors raised by the surrogates (bad input, bad settings, bad saved state, not fitted)."""

from __future__ import annotations

__all__ = [
    "SurrogateConfigError",
    "SurrogateInputError",
    "SurrogateNotFittedError",
    "SurrogateStateError",
]


class SurrogateInputError(ValueError):
    """``X``, ``y`` or sampler arguments have the wrong shape, length, dtype or non-finite values."""


class SurrogateConfigError(ValueError):
    """A constructor setting is out of range or unknown (the message names the setting)."""


class SurrogateStateError(ValueError):
    """A saved ``state_dict`` does not match this surrogate (other architecture or format)."""


class SurrogateNotFittedError(RuntimeError):
    """``posterior``/``embed``/``botorch_model`` was called before the first ``fit``."""
