"""Typed errors raised by the vision components (gate, few-shot scorer, segmentation, particles).

Every one is a ``ValueError`` or ``RuntimeError`` subclass whose message names the offending field
and the fix. Construction-time checks raise :class:`VisionConfigError`; malformed call arguments
(wrong shapes, dtypes, non-finite values, mismatched lengths) raise :class:`VisionInputError`; using
a model before it was trained raises :class:`VisionNotFittedError`; a saved state that does not fit
the model raises :class:`VisionStateError`.
"""

from __future__ import annotations

from drivers.errors import AutoscopeError, ConfigurationError

__all__ = [
    "VisionError",
    "VisionConfigError",
    "VisionInputError",
    "VisionNotFittedError",
    "VisionStateError",
]


class VisionError(AutoscopeError, ValueError):
    """Base class of the vision components' own errors."""


class VisionConfigError(VisionError, ConfigurationError):
    """A constructor setting is out of range or unknown (the message names the setting)."""


class VisionInputError(VisionError):
    """Patches, labels, masks or images have the wrong shape, dtype, length or non-finite values."""


class VisionStateError(VisionError):
    """A saved state dict does not match this model (other architecture, format or version)."""


class VisionNotFittedError(AutoscopeError, RuntimeError):
    """A prediction was asked of a model that was never fitted (call ``fit`` or load a state)."""
