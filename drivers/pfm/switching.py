"""Piezoresponse switching loops: the bias sweep and the noise-free hysteresis loop model.

**Sweep.** A triangle ``0 -> +V_max -> -V_max -> 0`` in ``n_steps`` equal steps (``n_steps`` a
multiple of 4): step ``i`` is at ``V_max * tri(i / n_steps)`` with ``tri(t) = 4t`` up to ``t =
1/4``, ``2 - 4t`` up to ``3/4`` and ``4t - 4`` after, so the last step is one step below 0 V (the
sweep closes on the first). With 64 steps and 8.5 V this is the bias axis of the recorded PbTiO3
BEPS data (``dtmicroscope_pto_beps_50x50.npz``).

**Loop.** The steady-state loop of a repeated sweep (the starting state is the one the previous
sweep left, as in recorded loops). Each step belongs to the branch of the segment that *arrives*
at it (step 0 arrives from the last step, rising), and

    rising (up) branch:    R(V) = R_sat * tanh((V - V_plus) / w) + k * V
    falling (down) branch: R(V) = R_sat * tanh((V - V_minus) / w) + k * V

with ``V_plus = imprint + V_c`` and ``V_minus = imprint - V_c`` (``V_c`` the coercive half-width),
``w`` the switching width and ``k`` a non-hysteretic electrostatic slope (pm/V). The response is a
piezoresponse in picometres (amplitude x cos(phase) of the first-harmonic surface displacement).
With ``k = 0`` and a sweep that saturates, :func:`rewards.loops.coercive_biases` returns about
``(V_plus, V_minus)``, :class:`rewards.loops.LoopHeight` about ``2 R_sat`` and
:class:`rewards.loops.LoopArea` about ``2 R_sat (V_plus - V_minus)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drivers.errors import InvalidArgument

__all__ = ["triangle_sweep", "arriving_direction", "LoopParameters", "loop_response"]


def triangle_sweep(bias_max_V: float, n_steps: int) -> np.ndarray:
    """Bias of each step of the sweep ``0 -> +V_max -> -V_max -> 0``: ``(n_steps,)`` float64 V.

    Raises:
        InvalidArgument: ``n_steps`` is not a multiple of 4 (>= 8) or ``bias_max_V <= 0``.
    """
    if n_steps < 8 or n_steps % 4:
        raise InvalidArgument(f"n_steps={n_steps!r} must be a multiple of 4 and >= 8 (the sweep "
                              "has four equal quarters)")
    if not bias_max_V > 0:
        raise InvalidArgument(f"bias_max_V={bias_max_V!r} must be > 0 V")
    t = np.arange(n_steps, dtype=np.float64) / n_steps
    tri = np.where(t <= 0.25, 4.0 * t, np.where(t <= 0.75, 2.0 - 4.0 * t, 4.0 * t - 4.0))
    return bias_max_V * tri


def arriving_direction(bias_V: np.ndarray) -> np.ndarray:
    """+1 where the segment arriving at a step rises in bias, -1 where it falls (step 0 arrives
    from the last step, the sweep being repeated): ``(n,)`` -> ``(n,)`` int8."""
    v = np.asarray(bias_V, dtype=np.float64)
    previous = np.roll(v, 1)
    return np.where(v >= previous, 1, -1).astype(np.int8)


@dataclass(frozen=True)
class LoopParameters:
    """Loop shape at ``n`` positions (every field ``(n,)`` float64).

    Args:
        response_pm: saturated piezoresponse ``R_sat`` (pm).
        v_plus_V: switching bias of the rising branch (V).
        v_minus_V: switching bias of the falling branch (V).
        width_V: switching width ``w`` (V).
        slope_pm_per_V: non-hysteretic slope ``k`` (pm/V).
    """

    response_pm: np.ndarray
    v_plus_V: np.ndarray
    v_minus_V: np.ndarray
    width_V: np.ndarray
    slope_pm_per_V: np.ndarray

    @property
    def coercive_V(self) -> np.ndarray:
        """Coercive half-width ``(V_plus - V_minus) / 2`` (V)."""
        return 0.5 * (self.v_plus_V - self.v_minus_V)

    @property
    def imprint_V(self) -> np.ndarray:
        """Imprint ``(V_plus + V_minus) / 2`` (V)."""
        return 0.5 * (self.v_plus_V + self.v_minus_V)


def loop_response(bias_V: np.ndarray, params: LoopParameters) -> np.ndarray:
    """Noise-free loops: bias ``(m,)`` V in sweep order and ``n`` positions' parameters ->
    ``(n, m)`` float64 piezoresponse (pm)."""
    v = np.asarray(bias_V, dtype=np.float64)[None, :]
    rising = arriving_direction(bias_V)[None, :] > 0
    switch = np.where(rising, params.v_plus_V[:, None], params.v_minus_V[:, None])
    width = params.width_V[:, None]
    return (params.response_pm[:, None] * np.tanh((v - switch) / width)
            + params.slope_pm_per_V[:, None] * v)
