"""Typed errors of the structure models (features, pretrained structure -> property models)."""

from __future__ import annotations

from drivers.errors import AutoscopeError

__all__ = ["StructureError", "PretrainedModelError"]


class StructureError(AutoscopeError, ValueError):
    """The overview or the candidate positions cannot be described (the message says which)."""


class PretrainedModelError(AutoscopeError, ValueError):
    """A pretrained structure -> property file is missing, damaged or made for other features."""
