"""The Hydra configs conf/surrogate/*.yaml build the surrogates with every argument listed."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

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
    assert sorted(k for k in raw if k != "_target_") == sorted(params)
    with initialize_config_dir(config_dir=str(CONF / "surrogate"), version_base="1.3"):
        cfg = compose(config_name=name)
    # the surrogate's seed follows the run's (`seed: ${seed}` resolves against the root config)
    assert raw["seed"] == "${seed}"
    obj = instantiate(cfg, seed=0)
    assert isinstance(obj, cls)
    for attr, value in expected.items():
        assert getattr(obj, attr) == value
    # defaults in the yaml equal the constructor defaults unless deliberately changed
    defaults = {k: v.default for k, v in inspect.signature(cls.__init__).parameters.items() if k != "self"}
    if name in ("dkl", "coord_gp"):
        for key, default in defaults.items():
            if key == "seed":
                continue
            value = raw[key]
            assert (list(value) if isinstance(value, list) else value) == (
                list(default) if isinstance(default, tuple) else default
            ), key
