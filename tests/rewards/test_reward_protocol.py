"""Every reward declares its name, windows and value units (rewards.protocol); a bare function gets the
defaults through rewards.as_reward."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import rewards
from drivers.frames import Axis
from rewards import (
    BandIntensity,
    Checked,
    CoerciveBias,
    CoMShift,
    ContactPotential,
    EdgeIntensity,
    EdgeRatio,
    ElementFraction,
    FunctionReward,
    Imprint,
    LoopArea,
    LoopHeight,
    Negate,
    PeakPosition,
    PeakRatio,
    Reward,
    RewardBase,
    Scaled,
    Vector,
    as_reward,
)
from rewards.examples import peak_to_background

_EDGE = {"edge_onset_eV": 284.0, "pre_edge_eV": [234.0, 279.0], "integration_width_eV": 50.0}

#: (reward, windows, value units for counts on eV / pm on V)
CASES = [
    (BandIntensity([1.5, 2.4]), ((1.5, 2.4),), "counts eV"),
    (PeakRatio([1.0, 2.0], [3.0, 4.0]), ((1.0, 2.0), (3.0, 4.0)), "ratio"),
    (PeakPosition([1.0, 3.0]), ((1.0, 3.0),), "eV"),
    (EdgeIntensity(**_EDGE), ((234.0, 279.0), (284.0, 334.0)), "counts eV"),
    (EdgeRatio(_EDGE, {"edge_onset_eV": 532.0, "pre_edge_eV": [480.0, 525.0], "integration_width_eV": 40.0}),
     ((234.0, 279.0), (284.0, 334.0), (480.0, 525.0), (532.0, 572.0)), "ratio"),
    (ContactPotential(fit_window_V=[-1.0, 1.0]), ((-1.0, 1.0),), "eV"),
    (ContactPotential(), (), "eV"),
    (CoMShift(), (), "mrad"),
]
LOOPS = [(LoopArea(), "pm V"), (LoopHeight(), "pm"), (CoerciveBias(), "V"), (Imprint(), "V")]


@pytest.mark.parametrize(("reward", "windows", "units"), CASES, ids=lambda v: type(v).__name__)
def test_built_in_rewards_declare_windows_and_units(reward, windows, units):
    assert isinstance(reward, RewardBase) and isinstance(reward, Reward)
    assert reward.name == type(reward).__name__
    assert reward.windows == windows
    assert reward.value_units("eV", "counts") == units


@pytest.mark.parametrize(("reward", "units"), LOOPS, ids=lambda v: type(v).__name__)
def test_loop_rewards_carry_the_instruments_intensity_units(reward, units):
    assert reward.windows == () and reward.value_units("V", "pm") == units


def test_element_fraction_declares_its_line_windows():
    ef = ElementFraction(["Fe"], ["Fe", "Si"], width_keV=0.2)
    assert ef.windows == tuple(ef.line_windows_keV().values()) and len(ef.windows) == 2
    lo, hi = ef.windows[0]
    assert hi - lo == pytest.approx(0.2) and ef.value_units("keV", "counts") == "fraction"


def test_combinators_forward_to_the_wrapped_reward():
    band = BandIntensity([1.5, 2.4])
    for wrapper in (Negate(band), Scaled(band, 2.0), Checked(band)):
        assert wrapper.windows == ((1.5, 2.4),) and wrapper.value_units("eV", "counts") == "counts eV"
    assert Negate(band).name == "Negate(BandIntensity)"
    vec = Vector([band, PeakPosition([1.0, 3.0])])
    assert vec.name == "Vector(BandIntensity, PeakPosition)"
    assert vec.windows == ((1.5, 2.4), (1.0, 3.0))
    assert vec.value_units("eV", "counts") == "counts eV; eV"
    assert Vector([band, band]).value_units("eV", "counts") == "counts eV"


def _user_reward(spectrum, axis, scale=1.0):
    return float(scale * np.sum(spectrum))


def test_a_user_function_gets_the_declared_defaults():
    fn = functools.partial(_user_reward, scale=2.0)  # what Hydra's _partial_: true builds
    reward = as_reward(fn)
    assert isinstance(reward, FunctionReward) and isinstance(reward, Reward)
    assert reward.name == "_user_reward" and reward.windows == () and reward.value_units("eV", "counts") == ""
    axis = Axis.uniform("E", "eV", 0.0, 1.0, 3)
    assert reward(np.ones(3), axis) == 6.0 and repr(reward) == repr(fn)
    assert as_reward(peak_to_background).name == "peak_to_background"
    band = BandIntensity([1.5, 2.4])
    assert as_reward(band) is band  # a declared reward is taken as it is
    assert Negate(fn).name == "Negate(_user_reward)" and Negate(fn).windows == ()


def test_a_callable_object_is_named_after_its_class_and_a_non_callable_is_refused():
    class Mine:
        def __call__(self, spectrum, axis):
            return 1.0

    assert as_reward(Mine()).name == "Mine"
    with pytest.raises(rewards.InvalidRewardConfig, match="callable reward"):
        as_reward(3.0)
