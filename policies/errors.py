"""Typed errors raised by acquisition policies (besides ``NoCandidatesLeft`` from the protocol).

:class:`PolicyConfigError` refuses a bad setting (``beta < 0``, ``q < 1``...) when a policy is built
from its Hydra config or called; :class:`PolicyInputError` refuses a ``SelectionState`` or
``Posterior`` that does not fit together (mismatched lengths, indices out of range, a sampler that
returns the wrong shape). Both are ``ValueError`` subclasses and name the offending field.
"""

from __future__ import annotations

from drivers.errors import AutoscopeError, ConfigurationError

__all__ = ["PolicyError", "PolicyConfigError", "PolicyInputError"]


class PolicyError(AutoscopeError, ValueError):
    """Base class of the policies' own errors."""


class PolicyConfigError(PolicyError, ConfigurationError):
    """A policy setting (or the batch size ``q``) is out of range; the message names it and the fix."""


class PolicyInputError(PolicyError):
    """The selection state or the posterior handed to a policy is malformed or inconsistent."""
