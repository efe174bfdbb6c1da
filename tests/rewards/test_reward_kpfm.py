"""ContactPotential against parabolas of known vertex."""

from __future__ import annotations

import numpy as np
import pytest

from drivers import Axis
from rewards import ContactPotential, EmptySpectrum, InvalidRewardConfig, RewardError, WindowOutsideAxis, WrongAxis
from rewards.kpfm import fit_parabola

BIAS = np.linspace(0.2, -0.1, 128)  # descending, as the recorded Nanonis grid
AXIS = Axis("bias", "V", BIAS)


def parabola(v0: float, a: float = -30.0, c: float = -6.0, bias: np.ndarray = BIAS) -> np.ndarray:
    return a * (bias - v0) ** 2 + c


def test_fit_parabola_recovers_all_three_parameters() -> None:
    a, v0, c = fit_parabola(BIAS, parabola(0.137, a=-30.0, c=-6.0))
    assert (a, v0, c) == pytest.approx((-30.0, 0.137, -6.0), rel=1e-9)


@pytest.mark.parametrize("v0", [0.137, -0.05, 0.3])  # inside, inside, just outside the sweep
def test_vertex_of_an_exact_parabola(v0: float) -> None:
    assert ContactPotential()(parabola(v0), AXIS) == pytest.approx(v0, abs=1e-9)


def test_vertex_with_noise_and_a_fit_window() -> None:
    rng = np.random.default_rng(1)
    noisy = parabola(0.08) + rng.normal(0.0, 0.005, BIAS.size)
    assert ContactPotential()(noisy, AXIS) == pytest.approx(0.08, abs=5e-3)
    garbage = parabola(0.08)
    garbage[BIAS < 0.0] = 50.0  # outside the window: ignored
    assert ContactPotential(fit_window_V=[0.0, 0.2])(garbage, AXIS) == pytest.approx(0.08, abs=1e-9)
    assert abs(ContactPotential()(garbage, AXIS) - 0.08) > 0.03  # without the window the step corrupts it


def test_flat_and_far_vertex_are_refused() -> None:
    line = 3.0 * BIAS - 6.0
    with pytest.raises(RewardError, match="flat"):
        ContactPotential()(line, AXIS)
    far = parabola(5.0)
    with pytest.raises(RewardError, match="flat"):  # nearly straight over the sweep
        ContactPotential()(far, AXIS)
    with pytest.raises(RewardError, match="vertex 5 V lies more than the bias range"):
        ContactPotential(min_curvature=0.0)(far, AXIS)
    assert ContactPotential(min_curvature=0.0)(parabola(0.45), AXIS) == pytest.approx(0.45, abs=1e-9)


def test_error_paths_and_config() -> None:
    with pytest.raises(WindowOutsideAxis, match="at least 3"):
        ContactPotential(fit_window_V=[0.5, 0.6])(parabola(0.1), AXIS)
    with pytest.raises(WrongAxis, match="expects 'V'"):
        ContactPotential()(parabola(0.1), Axis("bias", "mV", BIAS * 1e3))
    with pytest.raises(WrongAxis):
        ContactPotential()(parabola(0.1)[1:], AXIS)
    with pytest.raises(EmptySpectrum):
        ContactPotential()(np.full(BIAS.size, np.nan), AXIS)
    with pytest.raises(InvalidRewardConfig, match="fit_window_V"):
        ContactPotential(fit_window_V=[0.2, 0.1])
    assert repr(ContactPotential(fit_window_V=[-0.1, 0.2])) == (
        "ContactPotential(units='V', fit_window_V=[-0.1, 0.2], min_curvature=0.01)"
    )
