"""Instrument backends behind one small protocol (:class:`Driver`)."""

from .errors import (
    Aborted,
    ConnectionLost,
    DriverError,
    InstrumentError,
    InvalidArgument,
    NotSupported,
    SafetyInterlock,
    Timeout,
)
from .frames import Axis, Capabilities, Frame, PatternAxis, ProbeState
from .protocol import Driver, GroundTruth, Wrapper
from .truth import truth_source

__all__ = [
    "Aborted",
    "Axis",
    "Capabilities",
    "ConnectionLost",
    "Driver",
    "DriverError",
    "Frame",
    "GroundTruth",
    "InstrumentError",
    "InvalidArgument",
    "NotSupported",
    "PatternAxis",
    "ProbeState",
    "SafetyInterlock",
    "Timeout",
    "Wrapper",
    "truth_source",
]
