"""Combinators (Negate, Scaled, Checked, Vector), load_callable and the example user function."""

from __future__ import annotations

import numpy as np
import pytest

from drivers import Axis
from rewards import (
    BandIntensity,
    Checked,
    EmptySpectrum,
    InvalidRewardConfig,
    Negate,
    PeakPosition,
    Reward,
    RewardError,
    Scaled,
    Vector,
    WrongAxis,
    load_callable,
)
from rewards.examples import peak_to_background

AXIS = Axis.uniform("energy_loss", "eV", 0.0, 0.01, 400)
X = AXIS.values
SPECTRUM = 1.0 + 2.0 * ((X >= 1.0) & (X <= 2.0)) + 5.0 * np.exp(-0.5 * ((X - 1.5) / 0.05) ** 2)


def test_negate_and_scaled() -> None:
    band = BandIntensity([0.2, 0.8])  # flat level 1 over 0.6 eV
    assert band(SPECTRUM, AXIS) == pytest.approx(0.6)
    assert Negate(band)(SPECTRUM, AXIS) == pytest.approx(-0.6)
    assert Scaled(band, factor=10.0, offset=1.0)(SPECTRUM, AXIS) == pytest.approx(7.0)
    assert isinstance(Negate(band), Reward)
    assert repr(Negate(band)) == "Negate(BandIntensity(window_eV=[0.2, 0.8], background='none', units='eV'))"
    with pytest.raises(InvalidRewardConfig, match="callable"):
        Negate(3.0)
    with pytest.raises(InvalidRewardConfig, match="finite"):
        Scaled(band, factor=float("inf"))


def test_inner_errors_propagate_through_combinators() -> None:
    with pytest.raises(WrongAxis):
        Negate(BandIntensity([0.2, 0.8]))(SPECTRUM, Axis("e", "keV", X))


def test_vector_returns_k_values_in_order() -> None:
    vec = Vector([BandIntensity([0.2, 0.8]), PeakPosition([1.2, 1.8]), Negate(BandIntensity([0.2, 0.8]))])
    out = vec(SPECTRUM, AXIS)
    assert out.shape == (3,) and out.dtype == np.float64 and len(vec) == 3
    np.testing.assert_allclose(out, [0.6, 1.5, -0.6], atol=1e-6)
    with pytest.raises(InvalidRewardConfig, match="at least one"):
        Vector([])
    with pytest.raises(InvalidRewardConfig, match="list"):
        Vector("BandIntensity")


def test_checked_gives_a_user_function_the_error_contract() -> None:
    def bad(spectrum: np.ndarray, axis: Axis) -> float:
        return float("nan")

    def text(spectrum: np.ndarray, axis: Axis) -> str:
        return "high"

    with pytest.raises(RewardError, match="must be finite"):
        Checked(bad)(SPECTRUM, AXIS)
    with pytest.raises(RewardError, match="not a real scalar"):
        Checked(text)(SPECTRUM, AXIS)
    mean = Checked(lambda s, a: float(np.mean(s)), units="eV")
    assert mean(SPECTRUM, AXIS) == pytest.approx(float(np.mean(SPECTRUM)))
    with pytest.raises(EmptySpectrum):
        mean(np.full(400, np.nan), AXIS)
    with pytest.raises(WrongAxis, match="expects 'eV'"):
        mean(SPECTRUM, Axis("e", "V", X))


def test_example_user_function() -> None:
    flat = np.where((X >= 1.0) & (X <= 2.0), 6.0, 2.0)
    assert peak_to_background(flat, AXIS, window_eV=[1.0, 2.0], background_eV=[0.2, 0.8]) == pytest.approx(3.0)
    with pytest.raises(RewardError, match="background_eV"):
        peak_to_background(flat - 2.0, AXIS, window_eV=[1.0, 2.0], background_eV=[0.2, 0.8])
    with pytest.raises(EmptySpectrum):
        peak_to_background(np.full(400, np.nan), AXIS)


def test_load_callable_binds_keyword_settings() -> None:
    assert load_callable("rewards.examples.peak_to_background") is peak_to_background
    bound = load_callable("rewards.examples:peak_to_background", window_eV=[1.0, 2.0], background_eV=[0.2, 0.8])
    flat = np.where((X >= 1.0) & (X <= 2.0), 6.0, 2.0)
    assert bound(flat, AXIS) == pytest.approx(3.0)
    assert isinstance(load_callable("rewards.bands:BandIntensity")([1.0, 2.0]), Reward)


@pytest.mark.parametrize(
    "path, words",
    [
        ("no_such_pkg_xyz.mod.fn", "cannot import module 'no_such_pkg_xyz.mod'"),
        ("rewards.examples.nope", "no attribute 'nope'"),
        ("rewards.examples.__all__", "not a callable"),
        ("justaname", "needs a module and a name"),
        ("", "dotted name"),
    ],
)
def test_load_callable_errors_name_the_path(path: str, words: str) -> None:
    with pytest.raises(InvalidRewardConfig, match=words):
        load_callable(path)
