"""The Hydra configs conf/surrogate/*.yaml build the surrogates with every argument listed."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from agent.surrogates import CoordinateGP, DKLSurrogate

CONF = Path(__file__).resolve().parents[3] / "conf"


@pytest.mark.parametrize(
    ("name", "cls", "expected"),
    [
        ("dkl", DKLSurrogate, {"extractor_kind": "mlp", "hidden": (256, 128, 64), "network_dtype": "float64"}),
        ("dkl_cnn", DKLSurrogate, {"extractor_kind": "cnn", "hidden": (64,), "cnn_channels": (8, 16)}),
        ("coord_gp", CoordinateGP, {"kernel": "matern52", "use_priors": True}),
    ],
)
def test_config_instantiates_with_all_arguments(name: str, cls: type, expected: dict) -> None:
    raw = yaml.safe_load((CONF / "surrogate" / f"{name}.yaml").read_text())
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    with initialize_config_dir(config_dir=str(CONF / "surrogate"), version_base="1.3"):
        cfg = compose(config_name=name)
    # every argument is listed (dkl_cnn.yaml inherits dkl.yaml's through its defaults list)
    assert sorted(k for k in cfg if k != "_target_") == sorted(params)
    # the surrogate's seed and torch threads follow the run's: interpolated, never copied
    assert OmegaConf.to_container(cfg)["seed"] == "${seed}"
    assert OmegaConf.to_container(cfg)["threads"] == "${experiment.threads}"
    obj = instantiate(cfg, seed=0, threads=1)
    assert isinstance(obj, cls)
    for attr, value in expected.items():
        assert getattr(obj, attr) == value
    # defaults in the yaml equal the constructor defaults unless deliberately changed
    defaults = {k: v.default for k, v in inspect.signature(cls.__init__).parameters.items() if k != "self"}
    if name in ("dkl", "coord_gp"):
        for key, default in defaults.items():
            if key in ("seed", "threads"):
                continue
            value = raw[key]
            assert (list(value) if isinstance(value, list) else value) == (
                list(default) if isinstance(default, tuple) else default
            ), key


def test_surrogate_threads_follow_the_experiment_in_the_composed_config() -> None:
    from agent.confdir import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["surrogate=dkl_cnn", "experiment.threads=2", "seed=7"])
    assert cfg.surrogate.threads == 2 and cfg.surrogate.seed == 7
    assert cfg.surrogate.extractor == "cnn" and cfg.surrogate.n_iter_init == 300  # dkl.yaml's
