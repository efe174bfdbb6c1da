"""Input checks and window arithmetic shared by every reward (rewards.validation, rewards.windows)."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from drivers import Axis
from rewards import EmptySpectrum, InvalidRewardConfig, RewardError, WindowOutsideAxis, WrongAxis
from rewards.validation import ascending, check_spectrum
from rewards.windows import clip_window, integrate_window, parse_window, window_mask


def _axis(n: int = 11, units: str = "eV") -> Axis:
    return Axis.uniform("energy_loss", units, 0.0, 0.1, n)


def test_check_spectrum_returns_float64_copies_of_values() -> None:
    x, y = check_spectrum(np.arange(11, dtype=np.uint16), _axis(), "eV", "T")
    assert x.dtype == np.float64 and y.dtype == np.float64
    np.testing.assert_allclose(x, np.arange(11) * 0.1)
    np.testing.assert_array_equal(y, np.arange(11.0))


@pytest.mark.parametrize(
    "spectrum, error, words",
    [
        (np.array([]), EmptySpectrum, "empty"),
        (np.full(11, np.nan), EmptySpectrum, "all NaN"),
        (np.r_[np.ones(5), np.inf, np.ones(5)], EmptySpectrum, "index 5"),
        (np.r_[np.ones(3), np.nan, np.ones(7)], EmptySpectrum, "non-finite"),
        (np.ones((2, 11)), WrongAxis, "1-D"),
        (np.ones(11, dtype=complex), RewardError, "real numeric"),
        (np.array(["a"] * 11), RewardError, "real numeric"),
    ],
)
def test_check_spectrum_rejects_bad_spectra(spectrum: np.ndarray, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        check_spectrum(spectrum, _axis(), "eV", "T")


def test_check_spectrum_wrong_units_names_the_fix() -> None:
    with pytest.raises(WrongAxis, match=r"axis.units is 'keV' but the reward expects 'eV'.*units='keV'"):
        check_spectrum(np.ones(11), _axis(units="keV"), "eV", "T")
    # None skips the units check
    check_spectrum(np.ones(11), _axis(units="keV"), None, "T")


def test_check_spectrum_length_mismatch_and_non_axis() -> None:
    with pytest.raises(WrongAxis, match="axis has 10 values but the spectrum has 11"):
        check_spectrum(np.ones(11), _axis(10), "eV", "T")
    with pytest.raises(WrongAxis, match="drivers.Axis"):
        check_spectrum(np.ones(11), np.arange(11.0), "eV", "T")
    bad = Axis("e", "eV", np.r_[np.arange(10.0), np.nan])
    with pytest.raises(WrongAxis, match="non-finite"):
        check_spectrum(np.ones(11), bad, "eV", "T")


def test_ascending_reverses_descending_and_refuses_turning_axes() -> None:
    x, y = ascending(np.array([3.0, 2.0, 1.0]), np.array([30.0, 20.0, 10.0]))
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(y, [10.0, 20.0, 30.0])
    with pytest.raises(WrongAxis, match="strictly increasing or decreasing"):
        ascending(np.array([0.0, 1.0, 0.5]), np.zeros(3))
    with pytest.raises(WrongAxis):
        ascending(np.array([0.0, 1.0, 1.0]), np.zeros(3))


@pytest.mark.parametrize(
    "value, words",
    [
        ([2.0, 1.0], "lo < hi"),
        ([1.0, 1.0], "lo < hi"),
        ([1.0, 2.0, 3.0], "exactly two"),
        ("1,2", "list"),
        (3.0, "list"),
        ([1.0, float("nan")], "finite"),
        (["a", 2.0], "numbers"),
    ],
)
def test_parse_window_refuses_malformed(value: object, words: str) -> None:
    with pytest.raises(InvalidRewardConfig, match=words):
        parse_window(value, "window_eV", "T")


def test_parse_window_accepts_lists_tuples_and_hydra_listconfig() -> None:
    assert parse_window([1, 2], "w", "T") == (1.0, 2.0)
    assert parse_window((0.5, 0.75), "w", "T") == (0.5, 0.75)
    assert parse_window(OmegaConf.create([1.5, 2.5]), "w", "T") == (1.5, 2.5)


def test_clip_window_clips_partial_overlap_and_refuses_none() -> None:
    x = np.linspace(0.0, 1.0, 11)
    assert clip_window(x, (-5.0, 0.5), "window_eV", "T") == (0.0, 0.5)
    assert clip_window(x, (0.2, 9.0), "window_eV", "T") == (0.2, 1.0)
    words = r"T.window_eV=\[2, 3\] eV does not overlap the axis range \[0, 1\] eV"
    with pytest.raises(WindowOutsideAxis, match=words):
        clip_window(x, (2.0, 3.0), "window_eV", "T", "eV")
    with pytest.raises(WindowOutsideAxis):  # touching in one point only
        clip_window(x, (1.0, 3.0), "window_eV", "T")


def test_integrate_window_is_exact_for_piecewise_linear_data() -> None:
    x = np.array([0.0, 0.1, 0.3, 0.35, 1.0])  # non-uniform
    y = 2.0 + 3.0 * x  # linear: trapezoid is exact, window ends interpolated
    lo, hi = 0.05, 0.9
    exact = 2.0 * (hi - lo) + 1.5 * (hi**2 - lo**2)
    assert integrate_window(x, y, lo, hi) == pytest.approx(exact, rel=1e-12)
    # inclusive windows on sample values: a constant integrates to its width
    assert integrate_window(x, np.ones(5), 0.1, 0.35) == pytest.approx(0.25, rel=1e-12)
    # continuity: moving hi by a hair changes the integral by a hair
    a = integrate_window(x, y, lo, 0.3)
    b = integrate_window(x, y, lo, 0.3 + 1e-9)
    assert abs(b - a) < 1e-8


def test_window_mask_is_inclusive() -> None:
    x = np.array([0.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(window_mask(x, 1.0, 2.0), [False, True, True, False])
