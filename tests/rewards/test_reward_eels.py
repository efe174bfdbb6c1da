"""EdgeIntensity / EdgeRatio against a power-law background with edges of known size."""

from __future__ import annotations

import numpy as np
import pytest

from drivers import Axis
from rewards import (
    EdgeIntensity,
    EdgeRatio,
    EmptySpectrum,
    InvalidRewardConfig,
    RewardError,
    WindowOutsideAxis,
    WrongAxis,
)
from rewards.eels import fit_power_law

ENERGY = np.arange(200.0, 600.0, 0.5)
AXIS = Axis("energy_loss", "eV", ENERGY)
A, R = 1.0e9, 3.0


def edge(height: float, onset: float, exponent: float) -> np.ndarray:
    """Edge of the given jump at ``onset`` decaying as ``(onset / E) ** exponent`` above it."""
    return np.where(ENERGY >= onset, height * (onset / ENERGY) ** exponent, 0.0)


def test_fit_power_law_recovers_a_and_r() -> None:
    amp, r = fit_power_law(ENERGY, A * ENERGY**-R)
    assert amp == pytest.approx(A, rel=1e-9) and r == pytest.approx(R, rel=1e-12)


def test_step_edge_of_known_size() -> None:
    y = A * ENERGY**-R + edge(50.0, 284.0, 0.0)  # a flat step of 50 counts
    reward = EdgeIntensity(284.0, [234.0, 279.0], 50.0)
    assert reward(y, AXIS) == pytest.approx(50.0 * 50.0, rel=1e-9)


def test_decaying_edge_on_a_descending_axis() -> None:
    y = A * ENERGY**-R + edge(80.0, 284.0, 1.0)
    expected = 80.0 * 284.0 * np.log(334.0 / 284.0)
    axis = Axis("energy_loss", "eV", ENERGY[::-1])
    assert EdgeIntensity(284.0, [234.0, 279.0], 50.0)(y[::-1], axis) == pytest.approx(expected, rel=1e-5)


def test_edge_ratio_of_two_edges() -> None:
    # edges that decay like the background keep the spectrum a pure power law between them
    h1, h2 = 40.0, 10.0
    y = A * ENERGY**-R + edge(h1, 284.0, R) + edge(h2, 400.0, R)
    i1 = h1 * 284.0**3 / 2 * (284.0**-2 - 334.0**-2)
    i2 = h2 * 400.0**3 / 2 * (400.0**-2 - 450.0**-2)
    a = {"edge_onset_eV": 284.0, "pre_edge_eV": [234.0, 279.0], "integration_width_eV": 50.0}
    b = {"edge_onset_eV": 400.0, "pre_edge_eV": [340.0, 395.0], "integration_width_eV": 50.0}
    assert EdgeIntensity(**b)(y, AXIS) == pytest.approx(i2, rel=1e-4)
    ratio = EdgeRatio(a, b)
    assert ratio(y, AXIS) == pytest.approx(i1 / i2, rel=1e-4)
    assert repr(ratio).startswith("EdgeRatio(edge_a=EdgeIntensity(edge_onset_eV=284.0")
    # edge B with a dip below its background: intensity < 0 -> RewardError
    dip = A * ENERGY**-R + edge(h1, 284.0, R) - edge(1e-3, 400.0, 0.0)
    assert EdgeIntensity(**b)(dip, AXIS) == pytest.approx(-1e-3 * 50.0, rel=1e-3)
    with pytest.raises(RewardError, match="edge B"):
        EdgeRatio(a, b)(dip, AXIS)


def test_error_paths() -> None:
    reward = EdgeIntensity(284.0, [234.0, 279.0], 50.0)
    y = A * ENERGY**-R
    zeroed = y.copy()
    zeroed[(ENERGY > 250) & (ENERGY < 260)] = 0.0
    with pytest.raises(EmptySpectrum, match="counts <= 0"):
        reward(zeroed, AXIS)
    with pytest.raises(WindowOutsideAxis, match="holds 2 sample"):
        EdgeIntensity(284.0, [278.9, 279.6], 50.0)(y, AXIS)
    with pytest.raises(WindowOutsideAxis, match="pre_edge_eV"):
        EdgeIntensity(150.0, [100.0, 140.0], 20.0)(y, AXIS)
    with pytest.raises(WindowOutsideAxis, match="integration window"):
        EdgeIntensity(700.0, [500.0, 590.0], 20.0)(y, AXIS)
    with pytest.raises(WrongAxis, match="expects 'eV'"):
        reward(y, Axis("energy", "keV", ENERGY / 1000))
    with pytest.raises(EmptySpectrum):
        reward(np.full(ENERGY.size, np.nan), AXIS)
    with pytest.raises(WrongAxis):
        reward(y[:-1], AXIS)


@pytest.mark.parametrize(
    "args, words",
    [
        ((284.0, [234.0, 290.0], 50.0), "must end at or below edge_onset_eV"),
        ((284.0, [0.0, 279.0], 50.0), "above 0 eV"),
        ((284.0, [234.0, 279.0], -5.0), "integration_width_eV"),
        ((284.0, [279.0, 234.0], 50.0), "lo < hi"),
    ],
)
def test_bad_configuration(args: tuple, words: str) -> None:
    with pytest.raises(InvalidRewardConfig, match=words):
        EdgeIntensity(*args)


def test_edge_ratio_refuses_malformed_edges() -> None:
    with pytest.raises(InvalidRewardConfig, match="missing keys"):
        EdgeRatio({"edge_onset_eV": 284.0}, {"edge_onset_eV": 400.0})
    with pytest.raises(InvalidRewardConfig, match="mapping"):
        EdgeRatio([284.0], [400.0])
