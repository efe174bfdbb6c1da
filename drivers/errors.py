"""Typed errors every driver raises (never a bare ``Exception``).

The agent reacts to each differently: ``InvalidArgument`` and ``SafetyInterlock`` are refusals (the
request is never clamped or half-done), ``Timeout``, ``InstrumentError`` and ``ConnectionLost`` are
faults the agent may retry, ``NotSupported`` says a verb or detector does not exist on this backend.

This module is also the floor of the whole project's error tree: :class:`AutoscopeError` is the root
of every error the project raises on purpose, and :class:`ConfigurationError` (also a ``ValueError``)
the parent of every package's "bad setting" error (``agent.settings.ConfigError``,
``rewards.InvalidRewardConfig``, ``policies.PolicyConfigError``, ...). It imports nothing from the
project, so every package may import it without an import circle.
"""

from __future__ import annotations

__all__ = [
    "AutoscopeError",
    "ConfigurationError",
    "DriverError",
    "InvalidArgument",
    "NotSupported",
    "SafetyInterlock",
    "Timeout",
    "InstrumentError",
    "ConnectionLost",
    "Aborted",
]


class AutoscopeError(Exception):
    """Root of every error the project raises on purpose (``except AutoscopeError`` catches them all)."""


class ConfigurationError(AutoscopeError, ValueError):
    """A setting is invalid; the one-line message names the field and the fix."""


class DriverError(AutoscopeError):
    """Base class of every error a driver raises."""


class InvalidArgument(DriverError, ValueError):
    """An argument is out of range or malformed; the instrument was not touched."""


class NotSupported(DriverError, NotImplementedError):
    """The backend has no such verb, detector or mode."""


class SafetyInterlock(DriverError):
    """A safety budget is exhausted (total dose, dose per area) or the beam state forbids the request
    (acquiring while blanked); an argument outside a limit is an ``InvalidArgument``."""


class Timeout(DriverError, TimeoutError):
    """A blocking call did not finish within its ``timeout_s``."""


class InstrumentError(DriverError):
    """The instrument reported a fault; ``vendor_message`` keeps its own words."""

    def __init__(self, message: str, vendor_message: str | None = None) -> None:
        super().__init__(message if vendor_message is None else f"{message}: {vendor_message}")
        self.vendor_message = vendor_message


class ConnectionLost(DriverError, ConnectionError):
    """The link to the instrument (or its server) dropped."""


class Aborted(DriverError):
    """The acquisition was stopped by ``stop()`` before it finished."""
