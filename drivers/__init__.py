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
from .protocol import Driver, GroundTruth, Replay, Stage, Stateful, TimedAcquisition, Wrapper
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
    "Replay",
    "SafetyInterlock",
    "Stage",
    "Stateful",
    "TimedAcquisition",
    "Timeout",
    "Wrapper",
    "truth_source",
]
