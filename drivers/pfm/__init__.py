"""PFM switching-spectroscopy emulator over random ferroelectric domains.

``PFMEmulator`` implements :class:`drivers.Driver` and :class:`drivers.GroundTruth`: topography /
PFM amplitude / PFM phase overviews and piezoresponse hysteresis loops (bias triangle sweep, V)
whose shape follows the distance to the nearest domain wall. The domain patterns are in
:mod:`drivers.pfm.domains`, the loop model in :mod:`drivers.pfm.switching`, and the instrument life
cycle shared with the other emulators in :mod:`drivers.emulator.base`.
"""

from drivers.emulator.base import PointProbeEmulator

from .domains import DOMAIN_KINDS, DomainPattern, RandomDomains, StripeDomains, make_domains
from .driver import PFM_IMAGE_DETECTORS, PFM_OVERVIEW_UNITS, PFM_SPECTROMETERS, PFMEmulator
from .switching import LoopParameters, arriving_direction, loop_response, triangle_sweep

__all__ = [
    "DOMAIN_KINDS",
    "DomainPattern",
    "LoopParameters",
    "PFMEmulator",
    "PFM_IMAGE_DETECTORS",
    "PFM_OVERVIEW_UNITS",
    "PFM_SPECTROMETERS",
    "PointProbeEmulator",
    "RandomDomains",
    "StripeDomains",
    "arriving_direction",
    "loop_response",
    "make_domains",
    "triangle_sweep",
]
