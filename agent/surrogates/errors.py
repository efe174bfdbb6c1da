"""Typed errors raised by the surrogates (bad input, bad settings, bad saved state, not fitted, a
failed fit); all are :class:`SurrogateError` and so :class:`drivers.errors.AutoscopeError`."""

from __future__ import annotations

from drivers.errors import AutoscopeError, ConfigurationError

__all__ = [
    "SurrogateError",
    "GpaxFitError",
    "SurrogateConfigError",
    "SurrogateInputError",
    "SurrogateNotFittedError",
    "SurrogateStateError",
]


class SurrogateError(AutoscopeError):
    """Base class of the surrogates' own errors."""


class SurrogateInputError(SurrogateError, ValueError):
    """``X``, ``y`` or sampler arguments have the wrong shape, length, dtype or non-finite values."""


class SurrogateConfigError(SurrogateError, ConfigurationError):
    """A constructor setting is out of range or unknown (the message names the setting)."""


class SurrogateStateError(SurrogateError, ValueError):
    """A saved ``state_dict`` does not match this surrogate (other architecture or format)."""


class SurrogateNotFittedError(SurrogateError, RuntimeError):
    """``posterior``/``embed``/``botorch_model`` was called before the first ``fit``."""


class GpaxFitError(SurrogateError, RuntimeError):
    """The gpax ViDKL fit produced non-finite parameters even after a fresh re-initialisation, or a
    training kernel that is not positive definite even with jitter."""
