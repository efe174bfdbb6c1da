"""CoMShift: known shifts of synthetic disks, calibration lookup, typed errors, config and pickling."""

from __future__ import annotations

import inspect
import math
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from drivers import Axis
from rewards import EmptySpectrum, InvalidRewardConfig, Reward, WrongAxis
from rewards.diffraction import CoMShift, centre_of_mass_px

CONF = Path(__file__).resolve().parents[2] / "conf" / "reward"


def _disk(shape: tuple[int, int], centre_px: tuple[float, float], radius_px: float) -> np.ndarray:
    """A sharp, uniform disk of pixels whose centres lie within ``radius_px`` of ``centre_px``."""
    iy, ix = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    return ((iy - centre_px[0]) ** 2 + (ix - centre_px[1]) ** 2 <= radius_px**2).astype(np.float64)


def _axis(n: int, **calibration) -> SimpleNamespace:
    return SimpleNamespace(values=np.arange(n, dtype=np.float64), units="px", **calibration)


def test_integer_shifted_disks_give_the_exact_shift() -> None:
    # A disk centred on the camera centre (15.5, 15.5) is symmetric: its CoM is the centre. Moving
    # it by whole pixels moves the CoM by exactly that much.
    for dy, dx in ((0, 0), (3, -5), (-2, 4)):
        pattern = 50.0 * _disk((32, 32), (15.5 + dy, 15.5 + dx), 7.3) + 2.0  # flat background
        flat, axis = pattern.ravel(), _axis(1024)
        background_free = (pattern - 2.0).ravel()
        assert CoMShift("y", k_mrad_per_px=0.5)(background_free, axis) == pytest.approx(0.5 * dy, abs=1e-12)
        assert CoMShift("x", k_mrad_per_px=0.5)(background_free, axis) == pytest.approx(0.5 * dx, abs=1e-12)
        assert CoMShift(k_mrad_per_px=0.5)(background_free, axis) == pytest.approx(
            0.5 * math.hypot(dy, dx), abs=1e-12)
        # a flat background pulls the CoM towards the camera centre by the intensity ratio
        weight = background_free.sum() / flat.sum()
        assert CoMShift("x", k_mrad_per_px=0.5)(flat, axis) == pytest.approx(0.5 * dx * weight, abs=1e-12)


def test_subpixel_shift_of_a_smooth_spot_is_recovered() -> None:
    iy, ix = np.meshgrid(np.arange(24), np.arange(40), indexing="ij")
    cy, cx = 11.5 + 0.237, 19.5 - 1.618
    spot = np.exp(-((iy - cy) ** 2 + (ix - cx) ** 2) / (2 * 2.0**2))
    reward_y = CoMShift("y", pattern_shape=[24, 40], k_mrad_per_px=2.0)
    reward_x = CoMShift("x", pattern_shape=(24, 40), k_mrad_per_px=2.0)
    assert reward_y(spot.ravel(), _axis(960)) == pytest.approx(2.0 * 0.237, abs=1e-6)
    assert reward_x(spot.ravel(), _axis(960)) == pytest.approx(-2.0 * 1.618, abs=1e-6)
    assert centre_of_mass_px(spot) == pytest.approx((cy, cx), abs=1e-6)  # tails cut at 5.8 sigma


def test_calibration_comes_from_the_arguments_then_the_axis_then_a_square() -> None:
    pattern = _disk((16, 16), (7.5 + 2, 7.5 - 1), 4.0).ravel()
    axis = _axis(256, pattern_shape=(16, 16), k_mrad_per_px=0.25)
    assert CoMShift("y")(pattern, axis) == pytest.approx(0.5)  # both from the axis
    assert CoMShift("y", k_mrad_per_px=1.0)(pattern, axis) == pytest.approx(2.0)  # argument wins
    plain = Axis("k_index", "px", np.arange(256.0))
    assert CoMShift("x", k_mrad_per_px=1.0)(pattern, plain) == pytest.approx(-1.0)  # square camera
    # a (8, 32) camera read as the square (16, 16) would give another answer: the shape matters
    wide = _disk((8, 32), (3.5 + 1, 15.5 + 6), 3.0).ravel()
    assert CoMShift("x", pattern_shape=[8, 32], k_mrad_per_px=1.0)(wide, plain) == pytest.approx(6.0)
    assert CoMShift("x", k_mrad_per_px=1.0)(wide, plain) != pytest.approx(6.0)
    # the reference pixel
    assert CoMShift("y", centre_px=[9.5, 6.5], k_mrad_per_px=1.0)(pattern, plain) == pytest.approx(0.0)


def test_the_emulator_axis_is_understood() -> None:
    from drivers.fourd import PatternAxis

    axis = PatternAxis.for_camera((12, 20), 0.8)
    pattern = _disk((12, 20), (5.5 - 2, 9.5 + 3), 3.0).ravel()
    assert CoMShift("y")(pattern, axis) == pytest.approx(-1.6)
    assert CoMShift("x")(pattern, axis) == pytest.approx(2.4)
    assert CoMShift().shift_mrad(pattern, axis) == pytest.approx((-1.6, 2.4))


@pytest.mark.parametrize("spectrum, axis, error, match", [
    (np.ones(250), _axis(250), WrongAxis, "square"),
    (np.ones(256), _axis(256, pattern_shape=(10, 20), k_mrad_per_px=1.0), WrongAxis, "200 pixels"),
    (np.ones(256), _axis(256), WrongAxis, "k_mrad_per_px"),
    (np.zeros(256), _axis(256, k_mrad_per_px=1.0), EmptySpectrum, "total intensity"),
    (np.r_[np.ones(255), np.nan], _axis(256, k_mrad_per_px=1.0), EmptySpectrum, "non-finite"),
    (np.ones(256), SimpleNamespace(values=np.arange(256.0), units="mrad"), WrongAxis, "units"),
    (np.ones((16, 16)), _axis(256, k_mrad_per_px=1.0), WrongAxis, "1-D"),
])
def test_bad_input_raises_typed_errors(spectrum, axis, error, match) -> None:
    with pytest.raises(error, match=match):
        CoMShift()(spectrum, axis)


@pytest.mark.parametrize("kwargs, field", [
    ({"component": "z"}, "component"),
    ({"pattern_shape": [0, 4]}, "pattern_shape"),
    ({"pattern_shape": [32]}, "pattern_shape"),
    ({"pattern_shape": [4.5, 4]}, "pattern_shape"),
    ({"k_mrad_per_px": -1.0}, "k_mrad_per_px"),
    ({"centre_px": ["a", 1]}, "centre_px"),
    ({"units": ""}, "units"),
])
def test_bad_configuration_is_refused_by_name(kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidRewardConfig, match=field):
        CoMShift(**kwargs)


def test_yaml_lists_every_argument_instantiates_and_pickles() -> None:
    cfg = OmegaConf.load(CONF / "com_shift.yaml")
    reward = instantiate(cfg)
    assert isinstance(reward, CoMShift) and isinstance(reward, Reward)
    listed = [k for k in cfg if not k.startswith("_")]
    assert listed == [p for p in inspect.signature(CoMShift.__init__).parameters if p != "self"]
    pattern = _disk((16, 16), (7.5 + 3, 7.5 + 4), 4.0).ravel()
    axis = _axis(256, k_mrad_per_px=1.0)
    assert reward(pattern, axis) == pytest.approx(5.0)
    assert pickle.loads(pickle.dumps(reward))(pattern, axis) == reward(pattern, axis)
    assert repr(reward) == ("CoMShift(component='magnitude', pattern_shape=None, k_mrad_per_px=None, "
                            "centre_px=None, units='px')")
    listed_shape = instantiate(OmegaConf.create({"_target_": "rewards.diffraction.CoMShift",
                                                 "pattern_shape": [16, 16], "k_mrad_per_px": 1.0}))
    assert listed_shape(pattern, Axis("k_index", "px", np.arange(256.0))) == pytest.approx(5.0)
