"""conf/policy/*.yaml: each builds its policy with Hydra and lists every constructor argument."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from policies import UCB, LogEI, MaxUncertainty, PolicyWrapper, RandomPolicy, Raster, SpaceFilling, Thompson

CONF = Path(__file__).resolve().parents[2] / "conf" / "policy"

EXPECTED = {
    "logei": LogEI,
    "ucb": UCB,
    "max_uncertainty": MaxUncertainty,
    "thompson": Thompson,
    "random": RandomPolicy,
    "raster": Raster,
    "space_filling": SpaceFilling,
}


@pytest.mark.parametrize("name, cls", sorted(EXPECTED.items()))
def test_config_instantiates_with_every_default(name, cls):
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    params = {k: p.default for k, p in inspect.signature(cls).parameters.items()}
    args = {k: v for k, v in cfg.items() if k != "_target_"}
    assert args == params  # every argument listed, with the class default
    policy = instantiate(cfg)
    assert type(policy) is cls
    for k, v in params.items():
        assert getattr(policy, k) == v


def test_ucb_default_beta_and_override():
    cfg = OmegaConf.load(CONF / "ucb.yaml")
    assert cfg.beta == 2.0
    assert instantiate(cfg, beta=0.5).beta == 0.5


# configs that wrap another policy or need a vector reward: checked by building them
COMPOSITE = {"ehvi": "EHVI", "scalarised": "Scalarised", "cost_aware": "CostAware"}


@pytest.mark.parametrize("name, cls_name", sorted(COMPOSITE.items()))
def test_composite_configs_instantiate(name, cls_name):
    policy = instantiate(OmegaConf.load(CONF / f"{name}.yaml"))
    assert type(policy).__name__ == cls_name
    if isinstance(policy, PolicyWrapper):
        assert type(policy.policy) is LogEI


def test_every_yaml_is_covered():
    assert {p.stem for p in CONF.glob("*.yaml")} == set(EXPECTED) | set(COMPOSITE)
