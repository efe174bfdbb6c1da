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


# ---------------------------------------------------------------- typed at compose (structured config)
def _compose(*overrides):
    from hydra import compose, initialize_config_dir

    from agent.confdir import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def test_the_experiment_group_is_composed_from_the_registered_schema():
    from omegaconf import OmegaConf

    cfg = _compose()
    assert OmegaConf.get_type(cfg.experiment) is ExperimentSettings
    assert OmegaConf.get_type(cfg.experiment.overview).__name__ == "OverviewSettings"
    # the composed default equals conf/experiment/default.yaml read as it is
    from agent.confdir import CONF_DIR

    plain = ExperimentSettings.from_mapping(OmegaConf.load(CONF_DIR / "experiment" / "default.yaml"))
    assert ExperimentSettings.from_mapping(cfg.experiment) == plain


@pytest.mark.parametrize(
    "override, key, words",
    [
        ("experiment.steps=abc", "experiment.steps", "experiment.steps='abc' is not an integer"),
        ("experiment.steps=1e9", "experiment.steps", "experiment.steps=1e9 is not of type int"),
        ("experiment.pipeline=maybe", "experiment.pipeline", "is not a switch"),
        ("experiment.overview.fov_m=big", "experiment.overview.fov_m", "is not a finite number"),
        ("experiment.stepz=3", "experiment.stepz", "experiment.stepz is not a setting; known: "),
        ("experiment.overview.fov_nm=3", "experiment.overview.fov_nm", "is not a setting; known: detector"),
    ],
)
def test_a_mistyped_override_fails_at_compose_naming_the_key(override, key, words):
    """Before the schema was registered these composed, and only ExperimentSettings.from_mapping,
    after the run folder existed, refused them."""
    from hydra.errors import ConfigCompositionException

    from agent.settings import check_overrides, compose_error

    with pytest.raises(ConfigCompositionException) as info:
        _compose(override)
    assert key in f"{info.value} {info.value.__cause__}"
    line = str(compose_error(info.value, [override]))
    assert words in line and "\n" not in line
    from agent.confdir import CONF_DIR

    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        check_overrides([override], CONF_DIR)


def test_good_overrides_pass_the_compose_check():
    from agent.confdir import CONF_DIR
    from agent.settings import check_overrides

    check_overrides(["experiment.steps=5", "experiment=pfm", "surrogate=coord_gp", "seed=3"], CONF_DIR)
    check_overrides(["-m", "seed=0,1"], CONF_DIR)  # Hydra's own flags and sweeps are Hydra's to check


@pytest.mark.parametrize("name", ["fourd", "pfm"])
def test_experiment_variants_list_only_their_differences(name):
    """fourd.yaml and pfm.yaml copied all 29 settings of default.yaml; now the schema gives the
    rest, and the composed settings are those the full copies gave."""
    from omegaconf import OmegaConf

    from agent.confdir import CONF_DIR

    raw = OmegaConf.load(CONF_DIR / "experiment" / f"{name}.yaml")
    assert len(raw) < 8
    composed = ExperimentSettings.from_mapping(_compose(f"experiment={name}").experiment)
    assert composed == ExperimentSettings.from_mapping(raw)
    assert composed.steps == 100 and composed.candidates.stride_px == 4
