"""4D-STEM emulator: a diffraction pattern per probe position over random nanoparticles.

``FourDSTEMEmulator`` implements :class:`drivers.Driver` and :class:`drivers.GroundTruth`:
HAADF / ADF / BF overviews and, at each probe position, a bright-field disk plus diffuse halo
shifted by the beam deflection of the specimen's projected-potential gradient. ``acquire_pattern``
gives the 2-D ``(ky, kx)`` pattern (mrad axes); ``acquire_spectrum`` the same pattern flattened on a
:class:`PatternAxis` (the experiment loop takes 1-D spectra only). Physics constants are in
:mod:`drivers.fourd.optics`, the specimen in :mod:`drivers.fourd.specimen`, the camera and pattern
rendering in :mod:`drivers.fourd.patterns`.
"""

from .driver import FOURD_CAMERAS, FOURD_IMAGE_DETECTORS, FourDSTEMEmulator
from .optics import deflection_rad_per_V, electron_wavelength_m, interaction_constant_rad_per_V_m
from .patterns import PatternAxis, camera_axes, render_patterns
from .specimen import MATERIALS, SUPPORT_MATERIAL, DomeParticle, Material, Specimen

__all__ = [
    "DomeParticle",
    "FOURD_CAMERAS",
    "FOURD_IMAGE_DETECTORS",
    "FourDSTEMEmulator",
    "MATERIALS",
    "Material",
    "PatternAxis",
    "SUPPORT_MATERIAL",
    "Specimen",
    "camera_axes",
    "deflection_rad_per_V",
    "electron_wavelength_m",
    "interaction_constant_rad_per_V_m",
    "render_patterns",
]
