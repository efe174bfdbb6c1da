"""Experiment settings refuse bad input with the field name and the fix."""

import pytest

from agent.settings import ConfigError, ExperimentSettings


def test_defaults_validate():
    s = ExperimentSettings.from_mapping({})
    assert s.steps == 100 and s.candidates.stride_px == 4


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
