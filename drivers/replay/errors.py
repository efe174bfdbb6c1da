"""Typed errors of the replay driver (all are :class:`drivers.errors.DriverError` subclasses)."""

from __future__ import annotations

from ..errors import DriverError

__all__ = ["ReplayError", "ReplayDataNotFound", "ReplayFormatError"]


class ReplayError(DriverError):
    """Base class of the errors specific to replaying a recorded spectrum image."""


class ReplayDataNotFound(ReplayError, FileNotFoundError):
    """A recorded data file is not where the configuration says.

    The message names the path as given, every folder that was searched, the environment variable
    ``AUTOSCOPE_DATA_DIR`` and the data README.
    """


class ReplayFormatError(ReplayError, ValueError):
    """A recorded file was found but its content cannot be replayed (missing key, shapes that do not
    match, a spatial calibration in units that are not a length)."""
