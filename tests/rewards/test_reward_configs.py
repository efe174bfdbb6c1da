"""Every conf/reward/*.yaml instantiates through Hydra, lists every argument, and computes a value."""

from __future__ import annotations

import inspect
import pickle
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from drivers import Axis
from rewards import Reward, as_reward

CONF = Path(__file__).resolve().parents[2] / "conf" / "reward"
ENERGY = Axis.uniform("energy_loss", "eV", 0.0, 0.01, 400)
LOW_LOSS = 1.0 + 50.0 * np.exp(-0.5 * ((ENERGY.values - 1.5) / 0.1) ** 2) + 20.0 * np.exp(
    -0.5 * ((ENERGY.values - 2.5) / 0.1) ** 2
)
# a peak inside peak_position's default window (the emulator's corner/edge band, 1.5-2.4 eV)
EDGE_BAND = 1.0 + 50.0 * np.exp(-0.5 * ((ENERGY.values - 2.0) / 0.1) ** 2)
CORE = Axis.uniform("energy_loss", "eV", 200.0, 0.5, 400)
CORE_LOSS = 1e9 * CORE.values**-3.0 + np.where(CORE.values >= 284.0, 20.0, 0.0)
BIAS_STEPS = np.concatenate([np.linspace(0, 8, 17), np.linspace(8, -8, 33)[1:], np.linspace(-8, 0, 17)[1:-1]])
BIAS = Axis("bias", "V", BIAS_STEPS)
RISING = np.r_[True, np.diff(BIAS_STEPS) > 0]
LOOP = np.where(RISING, np.tanh((BIAS_STEPS - 2.0) / 0.4), np.tanh((BIAS_STEPS + 1.0) / 0.4))
KPFM = Axis("bias", "V", np.linspace(0.2, -0.1, 64))
PARABOLA = -30.0 * (KPFM.values - 0.1) ** 2 - 6.0

# name -> (spectrum, axis, expected value, tolerance); EDS is checked in test_reward_eds / real data
CASES = {
    "band_intensity": (LOW_LOSS, ENERGY, None, 0.0),  # window set per sample: see the test below
    "peak_ratio": (LOW_LOSS, ENERGY, (1.0 + 5.0 * np.sqrt(2 * np.pi)) / (1.0 + 2.0 * np.sqrt(2 * np.pi)), 1e-3),
    "peak_position": (EDGE_BAND, ENERGY, 2.0, 1e-6),
    "edge_intensity": (CORE_LOSS, CORE, 20.0 * 50.0, 1e-6),
    "loop_area": (LOOP, BIAS, 6.0, 0.05),
    "coercive_bias": (LOOP, BIAS, 2.0, 0.05),
    "contact_potential": (PARABOLA, KPFM, 0.1, 1e-9),
    "custom_example": (LOW_LOSS, ENERGY, None, 0.0),
}


def _listed_arguments_match_the_signature(cfg: dict, obj: object) -> None:
    target = obj.func if hasattr(obj, "func") else type(obj)
    sig = inspect.signature(target)
    params = [p for p in sig.parameters if p not in ("self", "spectrum", "axis")]
    listed = [k for k in cfg if not k.startswith("_")]
    assert listed == params, f"yaml lists {listed}, constructor takes {params}"


def test_every_reward_yaml_is_covered() -> None:
    names = sorted(p.stem for p in CONF.glob("*.yaml"))
    # com_shift has its own tests (tests/rewards/test_reward_diffraction.py)
    assert names == sorted([*CASES, "element_fraction", "two_bands", "com_shift"])


def test_two_bands_yaml_gives_one_value_per_band() -> None:
    reward = instantiate(OmegaConf.load(CONF / "two_bands.yaml"))
    value = np.asarray(reward(LOW_LOSS, ENERGY))
    assert value.shape == (2,) and np.all(value > 0)


@pytest.mark.parametrize("name", sorted(CASES))
def test_yaml_instantiates_and_computes(name: str) -> None:
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    assert "maximize" not in cfg
    reward = instantiate(cfg)
    assert isinstance(as_reward(reward), Reward)  # a user function (custom_example) gets the defaults
    _listed_arguments_match_the_signature(OmegaConf.to_container(cfg), reward)
    spectrum, axis, expected, tol = CASES[name]
    value = reward(spectrum, axis)
    assert isinstance(value, float) and np.isfinite(value)
    if expected is not None:
        assert value == pytest.approx(expected, rel=tol, abs=tol)
    # rewards travel to launcher workers: they must pickle and give the same value back
    assert pickle.loads(pickle.dumps(reward))(spectrum, axis) == value


def test_custom_example_is_a_partial_user_function() -> None:
    reward = instantiate(OmegaConf.load(CONF / "custom_example.yaml"))
    assert reward.func.__module__ == "rewards.examples"
    flat = np.where((ENERGY.values >= 1.0) & (ENERGY.values <= 2.0), 6.0, 2.0)
    assert reward(flat, ENERGY) == pytest.approx(3.0)


def test_element_fraction_yaml() -> None:
    pytest.importorskip("exspy.material")
    cfg = OmegaConf.load(CONF / "element_fraction.yaml")
    reward = instantiate(cfg)
    _listed_arguments_match_the_signature(OmegaConf.to_container(cfg), reward)
    assert set(reward.line_windows_keV()) == {"Fe_Ka", "Mg_Ka", "Si_Ka"}


def test_nested_combinator_config() -> None:
    cfg = OmegaConf.create(
        {"_target_": "rewards.Negate", "reward": {"_target_": "rewards.BandIntensity", "window_eV": [1.0, 2.0]}}
    )
    reward = instantiate(cfg)
    assert reward(LOW_LOSS, ENERGY) == pytest.approx(-(1.0 + 50.0 * 0.1 * np.sqrt(2 * np.pi)), rel=1e-3)
    checked = instantiate(
        {"_target_": "rewards.Checked", "units": "eV",
         "reward": {"_target_": "rewards.examples.peak_to_background", "_partial_": True}}
    )
    assert np.isfinite(checked(LOW_LOSS, ENERGY))


def test_reward_group_composes_through_hydra() -> None:
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF.parent), version_base="1.3"):
        cfg = compose(config_name=None, overrides=["+reward=peak_position", "reward.method=gauss"])
    reward = instantiate(cfg.reward)
    assert repr(reward) == "PeakPosition(window=[1.5, 2.4], units='eV', method='gauss', min_snr=3.0)"
    assert reward(EDGE_BAND, ENERGY) == pytest.approx(2.0, abs=1e-9)


def test_edge_ratio_from_nested_hydra_mappings() -> None:
    edge_b = {"edge_onset_eV": 350.0, "pre_edge_eV": [335.0, 348.0], "integration_width_eV": 40.0}
    cfg = OmegaConf.create(
        {
            "_target_": "rewards.EdgeRatio",
            "edge_a": {"edge_onset_eV": 284.0, "pre_edge_eV": [234.0, 279.0], "integration_width_eV": 50.0},
            "edge_b": edge_b,
        }
    )
    ratio = instantiate(cfg)
    spectrum = CORE_LOSS + np.where(CORE.values >= 350.0, 10.0, 0.0)
    # edge B sits on edge A's flat step, which a power law follows only roughly: 5 % is enough here
    assert ratio(spectrum, CORE) == pytest.approx(1000.0 / 400.0, rel=0.05)


def test_band_intensity_yaml_matches_the_analytic_integral_over_its_window() -> None:
    from math import erf, sqrt

    cfg = OmegaConf.load(CONF / "band_intensity.yaml")
    lo, hi = (float(v) for v in cfg.window_eV)

    def gauss(centre: float, height: float) -> float:
        z = lambda e: (e - centre) / (0.1 * sqrt(2.0))  # noqa: E731
        return height * 0.1 * sqrt(np.pi / 2.0) * (erf(z(hi)) - erf(z(lo)))

    expected = (hi - lo) + gauss(1.5, 50.0) + gauss(2.5, 20.0)
    assert instantiate(cfg)(LOW_LOSS, ENERGY) == pytest.approx(expected, rel=1e-3)

