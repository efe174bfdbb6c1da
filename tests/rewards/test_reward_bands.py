"""BandIntensity, PeakRatio, PeakPosition against Gaussian peaks of known area and centre."""

from __future__ import annotations

import numpy as np
import pytest

from drivers import Axis
from rewards import (
    BandIntensity,
    EmptySpectrum,
    InvalidRewardConfig,
    PeakPosition,
    PeakRatio,
    RewardError,
    WindowOutsideAxis,
    WrongAxis,
    evaluate_at,
)


def gauss(x: np.ndarray, area: float, centre: float, sigma: float) -> np.ndarray:
    """A Gaussian density of the given area (counts x eV) on axis values ``x``."""
    return area / (sigma * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((x - centre) / sigma) ** 2)


UNIFORM = np.arange(0.0, 4.0, 0.01)
NONUNIFORM = np.sort(np.r_[0.0, np.random.default_rng(3).uniform(0.0, 4.0, 3000), 4.0])


@pytest.mark.parametrize(
    "x", [UNIFORM, NONUNIFORM, UNIFORM[::-1], NONUNIFORM[::-1]], ids=["uni", "nonuni", "desc", "nonuni-desc"]
)
def test_band_intensity_recovers_gaussian_area(x: np.ndarray) -> None:
    y = gauss(x, 250.0, 1.5, 0.05) + gauss(x, 900.0, 3.0, 0.05)  # second peak outside the window
    reward = BandIntensity([1.0, 2.0])
    assert reward(y, Axis("energy_loss", "eV", x)) == pytest.approx(250.0, rel=1e-4)


def test_band_intensity_linear_background_removes_a_sloped_baseline() -> None:
    x = UNIFORM
    y = gauss(x, 250.0, 1.5, 0.05) + 40.0 + 12.0 * x
    axis = Axis("energy_loss", "eV", x)
    assert BandIntensity([1.0, 2.0], background="linear")(y, axis) == pytest.approx(250.0, rel=1e-6)
    # without subtraction the baseline's integral is added: 40 * 1 + 6 * (4 - 1)
    assert BandIntensity([1.0, 2.0])(y, axis) == pytest.approx(250.0 + 40.0 + 18.0, rel=1e-6)


def test_band_intensity_clips_a_partly_outside_window_and_refuses_a_disjoint_one() -> None:
    axis = Axis.uniform("energy_loss", "eV", 0.0, 0.01, 400)
    y = np.full(400, 3.0)
    assert BandIntensity([-1.0, 0.5])(y, axis) == pytest.approx(1.5, rel=1e-12)
    with pytest.raises(WindowOutsideAxis, match=r"BandIntensity.window_eV=\[5, 6\] eV does not overlap"):
        BandIntensity([5.0, 6.0])(y, axis)


def test_band_intensity_units_are_configurable() -> None:
    axis = Axis.uniform("energy", "keV", 0.0, 0.01, 400)
    y = gauss(axis.values, 10.0, 1.5, 0.05)
    with pytest.raises(WrongAxis, match="expects 'eV'"):
        BandIntensity([1.0, 2.0])(y, axis)
    assert BandIntensity([1.0, 2.0], units="keV")(y, axis) == pytest.approx(10.0, rel=1e-4)


def test_peak_ratio_is_the_ratio_of_areas_and_guards_band_b() -> None:
    axis = Axis("energy_loss", "eV", UNIFORM)
    y = gauss(UNIFORM, 300.0, 1.2, 0.04) + gauss(UNIFORM, 100.0, 2.6, 0.06)
    assert PeakRatio([1.0, 1.4], [2.3, 2.9])(y, axis) == pytest.approx(3.0, rel=1e-4)
    with pytest.raises(RewardError, match=r"band B \(window_b=\[3.5, 3.9\] eV\) integrates to 0"):
        PeakRatio([1.0, 1.4], [3.5, 3.9])(np.where(UNIFORM > 3.3, 0.0, y), axis)
    with pytest.raises(RewardError, match="<= 0"):
        PeakRatio([1.0, 1.4], [2.3, 2.9])(y - 1000.0, axis)
    with pytest.raises(WindowOutsideAxis, match="window_a"):
        PeakRatio([7.0, 8.0], [2.3, 2.9])(y, axis)


@pytest.mark.parametrize("method, tol", [("centroid", 1e-5), ("max", 2e-5), ("gauss", 1e-9)])
@pytest.mark.parametrize("centre", [1.5, 1.537, 1.5333])
def test_peak_position_finds_an_off_grid_centre(method: str, tol: float, centre: float) -> None:
    axis = Axis("energy_loss", "eV", UNIFORM)
    y = gauss(UNIFORM, 1000.0, centre, 0.08)
    assert PeakPosition([1.0, 2.0], method=method)(y, axis) == pytest.approx(centre, abs=tol)


@pytest.mark.parametrize("method", ["centroid", "max", "gauss"])
def test_peak_position_on_nonuniform_descending_axis(method: str) -> None:
    x = NONUNIFORM[::-1]
    y = gauss(x, 1000.0, 2.2222, 0.08)
    assert PeakPosition([1.8, 2.6], method=method)(y, Axis("e", "eV", x)) == pytest.approx(2.2222, abs=1e-4)


def test_peak_position_centroid_is_robust_to_noise() -> None:
    rng = np.random.default_rng(0)
    y = gauss(UNIFORM, 1000.0, 1.4321, 0.1) + rng.normal(0.0, 20.0, UNIFORM.size)
    got = PeakPosition([0.8, 2.2])(y, Axis("e", "eV", UNIFORM))
    assert got == pytest.approx(1.4321, abs=0.01)  # one channel


def test_peak_position_error_paths() -> None:
    axis = Axis("energy_loss", "eV", UNIFORM)
    rising = UNIFORM.copy()
    with pytest.raises(RewardError, match="window edge"):
        PeakPosition([1.0, 2.0])(rising, axis)
    with pytest.raises(EmptySpectrum, match="flat"):
        PeakPosition([1.0, 2.0])(np.ones(UNIFORM.size), axis)
    with pytest.raises(WindowOutsideAxis, match="holds only 2 sample"):
        PeakPosition([1.0, 1.015])(gauss(UNIFORM, 1.0, 1.0, 0.1), axis)
    with pytest.raises(EmptySpectrum, match="gauss"):  # negative counts around the max
        PeakPosition([1.0, 2.0], method="gauss")(gauss(UNIFORM, 1.0, 1.5, 0.1) - 10.0, axis)


def test_constructor_arguments_are_checked() -> None:
    with pytest.raises(InvalidRewardConfig, match="background=.* use one of"):
        BandIntensity([1.0, 2.0], background="quadratic")
    with pytest.raises(InvalidRewardConfig, match="method=.* use one of"):
        PeakPosition([1.0, 2.0], method="fit")
    with pytest.raises(InvalidRewardConfig, match="lo < hi"):
        PeakRatio([2.0, 1.0], [1.0, 2.0])
    with pytest.raises(InvalidRewardConfig, match="units"):
        BandIntensity([1.0, 2.0], units="")


def test_reprs_show_the_arguments() -> None:
    assert repr(BandIntensity([1, 2])) == "BandIntensity(window_eV=[1.0, 2.0], background='none', units='eV')"
    assert repr(PeakRatio([1, 2], [3, 4], background="linear")) == (
        "PeakRatio(window_a=[1.0, 2.0], window_b=[3.0, 4.0], background='linear', units='eV')"
    )
    assert repr(PeakPosition([1, 2], method="max")) == "PeakPosition(window=[1.0, 2.0], units='eV', method='max')"


@pytest.mark.parametrize(
    "reward",
    [BandIntensity([1.0, 2.0]), PeakRatio([1.0, 1.4], [2.3, 2.9]), PeakPosition([1.0, 2.0])],
    ids=repr,
)
def test_every_band_reward_raises_typed_errors_on_bad_input(reward: object) -> None:
    axis = Axis("energy_loss", "eV", UNIFORM)
    good = gauss(UNIFORM, 300.0, 1.2, 0.04) + gauss(UNIFORM, 100.0, 2.6, 0.06) + 1.0
    float(reward(good, axis))  # sanity: the good spectrum works
    with pytest.raises(EmptySpectrum):
        reward(np.array([]), Axis("e", "eV", np.array([])))
    with pytest.raises(EmptySpectrum):
        reward(np.full(UNIFORM.size, np.nan), axis)
    bad = good.copy()
    bad[7] = np.inf
    with pytest.raises(EmptySpectrum):
        reward(bad, axis)
    with pytest.raises(WrongAxis, match="units"):
        reward(good, Axis("energy_loss", "meV", UNIFORM))
    with pytest.raises(WrongAxis, match="values but the spectrum has"):
        reward(good[:-1], axis)
    with pytest.raises(WindowOutsideAxis):
        reward(good[:50], Axis("energy_loss", "eV", UNIFORM[:50]))


def test_peak_position_default_window_sits_on_a_real_emulator_peak() -> None:
    """The shipped `reward=peak_position` looked at 1-2 eV, the zero-loss tail: the truth was NaN at
    all 3,249 candidates and noisy spectra gave positions piled at the window edges. Its default
    window is now the corner/edge band, and a spectrum without a significant peak fails."""
    from pathlib import Path

    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from drivers.emulator import PlasmonEmulator
    from rewards.errors import RewardError

    conf = Path(__file__).resolve().parents[2] / "conf" / "reward" / "peak_position.yaml"
    reward = instantiate(OmegaConf.load(conf))
    em = PlasmonEmulator(seed=0)
    n, fov = 57, 2e-7
    centres = -fov / 2 + (14 + 4 * np.arange(n) + 0.5) * fov / 256
    yy, xx = np.meshgrid(centres, centres, indexing="ij")
    pts = np.stack([yy.ravel(), xx.ravel()], axis=1)
    truth = evaluate_at(reward, em.expected_spectra, em.signal_axis, pts)
    finite = truth[np.isfinite(truth)]
    assert 0.25 < finite.size / truth.size < 0.9
    assert finite.std() > 0.02 and 1.9 < finite.min() and finite.max() < 2.4
    rng = np.random.default_rng(1)
    pick = rng.choice(truth.size, 300, replace=False)
    noisy = rng.poisson(em.expected_spectra(pts[pick])).astype(float)

    def measure(spectrum):
        try:
            return reward(spectrum, em._axis)
        except RewardError:
            return np.nan

    measured = np.array([measure(s) for s in noisy])
    ok = np.isfinite(measured)
    assert 0.5 < ok.mean() and (ok == np.isfinite(truth[pick])).mean() > 0.75
    edge = (measured[ok] < 1.55) | (measured[ok] > 2.35)
    assert edge.mean() < 0.05  # no pile-up at the window edges
    both = ok & np.isfinite(truth[pick])
    assert np.corrcoef(measured[both], truth[pick][both])[0, 1] > 0.9
    with pytest.raises(RewardError, match="min_snr"):
        PeakPosition([1.5, 2.4], min_snr=3.0)(np.full(226, 100.0) + np.r_[np.zeros(100), 5.0, np.zeros(125)],
                                            Axis.uniform("E", "eV", 1.5, 0.004, 226))
