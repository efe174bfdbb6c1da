"""Electron-optical constants: wavelength, interaction constant and beam deflection per volt.

A thin specimen acts on the fast electron as a phase object: the exit wave gains the phase
``phi(r) = sigma * V_p(r)``, where ``V_p`` is the projected electrostatic potential (V m) and
``sigma`` the interaction constant. The centre of mass of the diffraction pattern then moves by
``theta = grad(phi) / k0 = (lambda * sigma / 2 pi) * grad(V_p)`` (Ehrenfest's theorem for a phase
object), i.e. *towards higher projected potential*; ``grad(V_p)`` is in volts (minus the in-plane
electric field integrated along the beam). At 200 kV, ``lambda = 2.508 pm``,
``sigma = 7.29e-3 rad / (V nm)`` and the deflection is ``2.91e-6 rad`` per volt of ``grad(V_p)``.
"""

from __future__ import annotations

import math

__all__ = [
    "electron_wavelength_m",
    "interaction_constant_rad_per_V_m",
    "deflection_rad_per_V",
    "PLANCK_J_S",
    "ELECTRON_MASS_KG",
    "ELEMENTARY_CHARGE_C",
    "SPEED_OF_LIGHT_M_S",
]

PLANCK_J_S = 6.62607015e-34
ELECTRON_MASS_KG = 9.1093837015e-31
ELEMENTARY_CHARGE_C = 1.602176634e-19
SPEED_OF_LIGHT_M_S = 299_792_458.0
_REST_ENERGY_J = ELECTRON_MASS_KG * SPEED_OF_LIGHT_M_S**2


def electron_wavelength_m(high_tension_V: float) -> float:
    """Relativistic de Broglie wavelength (metres) of electrons accelerated through
    ``high_tension_V``: ``h / sqrt(2 m0 e U (1 + e U / (2 m0 c^2)))``."""
    energy_J = ELEMENTARY_CHARGE_C * high_tension_V
    momentum = math.sqrt(2.0 * ELECTRON_MASS_KG * energy_J * (1.0 + energy_J / (2.0 * _REST_ENERGY_J)))
    return PLANCK_J_S / momentum


def interaction_constant_rad_per_V_m(high_tension_V: float) -> float:
    """Interaction constant ``sigma`` (rad per V m of projected potential):
    ``(2 pi / (lambda U)) (m0 c^2 + e U) / (2 m0 c^2 + e U)``."""
    energy_J = ELEMENTARY_CHARGE_C * high_tension_V
    wavelength = electron_wavelength_m(high_tension_V)
    return (2.0 * math.pi / (wavelength * high_tension_V)
            * (_REST_ENERGY_J + energy_J) / (2.0 * _REST_ENERGY_J + energy_J))


def deflection_rad_per_V(high_tension_V: float) -> float:
    """Beam deflection (rad) per volt of projected-potential gradient: ``lambda sigma / (2 pi)``."""
    return (electron_wavelength_m(high_tension_V) * interaction_constant_rad_per_V_m(high_tension_V)
            / (2.0 * math.pi))
