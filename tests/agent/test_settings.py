"""Experiment settings refuse bad input with the field name and the fix."""

import pytest

from agent.settings import ConfigError, ExperimentSettings


def test_defaults_validate():
    s = ExperimentSettings.from_mapping({})
    assert s.steps == 100 and s.candidates.stride_px == 4 and s.n_init == 10


def test_a_short_budget_needs_no_second_setting():
    """`autoscope experiment.steps=5` was refused (n_init=10 > steps); the default seed design is
    now 10 points, at most half the budget; an explicit n_init above the budget is still refused."""
    from omegaconf import OmegaConf

    from agent.confdir import CONF_DIR

    for name in ("default", "pfm", "fourd"):
        cfg = OmegaConf.load(CONF_DIR / "experiment" / f"{name}.yaml")
        cfg.steps = 5
        assert ExperimentSettings.from_mapping(cfg).n_init == 2
        cfg.steps = 100
        assert ExperimentSettings.from_mapping(cfg).n_init == 10
    assert ExperimentSettings.from_mapping({"steps": 1}).n_init == 1
    assert ExperimentSettings.from_mapping({"steps": 5, "n_init": 5}).n_init == 5


@pytest.mark.parametrize(
    "override, field",
    [
        ({"steps": 0}, "experiment.steps"),
        ({"steps": 5, "n_init": 6}, "experiment.n_init"),
        ({"init": "lhs"}, "experiment.init"),
        ({"exposure_s": -1.0}, "experiment.exposure_s"),
        ({"q": 0}, "experiment.q"),
        ({"stepz": 3}, "experiment.stepz"),
        ({"overview": {"fov_nm": 3}}, "experiment.overview.fov_nm"),
        ({"candidates": {"window_px": 0}}, "experiment.candidates.window_px"),
    ],
)
def test_bad_values_name_the_field(override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        ExperimentSettings.from_mapping(override)
