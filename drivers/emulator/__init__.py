"""STEM-EELS physics emulator over random Ag nanoparticles (the default driver).

``CoreLossEmulator`` is the same specimen and instrument with core-loss spectra (Ag M4,5 and C K
edges over a power-law background, :mod:`drivers.emulator.coreloss`).

``PlasmonEmulator`` implements :class:`drivers.Driver` and :class:`drivers.GroundTruth`; the sample
types describe its specimen, the clocks its notion of time. ``PointProbeEmulator`` (and its
electron-beam form ``ElectronProbeEmulator``) is the instrument life cycle every emulator shares;
``ScanSettings`` the sample, exposure, timing and overview settings they all take as flat keywords
(``ScanKwargs``), each emulator with its own ``SCAN_DEFAULTS``.
"""

from .base import ElectronProbeEmulator, PointProbeEmulator
from .clock import Clock, RealClock, VirtualClock, make_clock
from .coreloss import CoreLossEmulator
from .driver import EDGE_BAND_EV, IMAGE_DETECTORS, SPECTROMETERS, PlasmonEmulator
from .physics import EDGE_MODE_KINDS, Mode, SpectrumModel
from .sample import PARTICLE_KINDS, Disk, Particle, Rod, Sample, Triangle
from .scan import ScanKwargs, ScanSettings

__all__ = [
    "Clock",
    "CoreLossEmulator",
    "Disk",
    "EDGE_BAND_EV",
    "EDGE_MODE_KINDS",
    "ElectronProbeEmulator",
    "IMAGE_DETECTORS",
    "Mode",
    "PARTICLE_KINDS",
    "Particle",
    "PlasmonEmulator",
    "PointProbeEmulator",
    "RealClock",
    "Rod",
    "SPECTROMETERS",
    "Sample",
    "ScanKwargs",
    "ScanSettings",
    "SpectrumModel",
    "Triangle",
    "VirtualClock",
    "make_clock",
]
