"""conf/gate, conf/fewshot, conf/segmentation: every yaml lists every constructor argument with its
default and builds its object with Hydra (training settings shrunk for speed)."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf

from agent.vision import (
    FewShotReward,
    FewShotScorer,
    GatedPolicy,
    ParticleClassifier,
    ParticleSegmenter,
    QualityGate,
    SegmentationGate,
    emulator_view,
)
from policies import UCB

torch.set_num_threads(1)

CONF = Path(__file__).resolve().parents[3] / "conf"
FILES = sorted(p for g in ("gate", "fewshot", "segmentation") for p in (CONF / g).glob("*.yaml"))


def _check_node(node: DictConfig, where: str) -> int:
    """Every argument of the node's target listed, plain values equal to the defaults; returns
    the number of nodes checked (recursing into nested ``_target_`` nodes)."""
    target = get_object(node._target_)
    fn = target.__init__ if inspect.isclass(target) else target
    params = {k: p.default for k, p in inspect.signature(fn).parameters.items()
              if k != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    args = [k for k in node.keys() if k != "_target_"]
    assert set(args) == set(params), f"{where}: {sorted(set(args) ^ set(params))}"
    checked = 1
    for key in args:
        if OmegaConf.is_missing(node, key) or OmegaConf.is_interpolation(node, key):
            continue
        value = node[key]
        if isinstance(value, DictConfig) and "_target_" in value:
            checked += _check_node(value, f"{where}.{key}")
            continue
        plain = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
        default = params[key]
        if isinstance(default, tuple):
            default = list(default)
        assert plain == default or (isinstance(default, float) and plain == pytest.approx(default)), \
            f"{where}.{key}: yaml {plain!r} != default {default!r}"
    return checked


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
def test_yaml_lists_every_argument_with_its_default(path):
    assert _check_node(OmegaConf.load(path), path.stem) >= 1


def _root(group: str, name: str, **overrides) -> DictConfig:
    """A root config with the experiment's policy (ucb) and the group under test."""
    root = OmegaConf.create({"policy": OmegaConf.load(CONF / "policy" / "ucb.yaml"),
                             group: OmegaConf.load(CONF / group / f"{name}.yaml")})
    for key, value in overrides.items():
        OmegaConf.update(root, key, value, merge=False)
    return root


def test_cheap_objects_build():
    assert type(instantiate(OmegaConf.load(CONF / "fewshot" / "scorer.yaml"))) is FewShotScorer
    reward = instantiate(_root("fewshot", "reward", **{
        "fewshot.positive_yx_m": [[1e-8, 2e-8]], "fewshot.negative_yx_m": [[0.0, 0.0]]}).fewshot)
    assert isinstance(reward, FewShotReward) and isinstance(reward.scorer, FewShotScorer)
    assert reward.positive_yx_m.tolist() == [[1e-8, 2e-8]]
    clf = instantiate(OmegaConf.load(CONF / "segmentation" / "particle_classifier.yaml"))
    assert type(clf) is ParticleClassifier and clf.n_estimators == 300
    gated = instantiate(_root("gate", "fewshot", **{"gate.gate.positive_yx_m": [[0.0, 0.0]]}).gate)
    assert isinstance(gated, GatedPolicy) and isinstance(gated.policy, UCB)
    assert isinstance(gated.gate, FewShotReward) and gated.policy.beta == 2.0


def test_training_configs_build_and_work(tmp_path):
    root = _root("gate", "quality", **{
        "gate.gate.train_seeds": [100], "gate.gate.val_seeds": [200],
        "gate.gate.gate.channels": 2, "gate.gate.gate.epochs": 1,
        "gate.gate.cache_path": str(tmp_path / "gate.pt")})
    gated = instantiate(root.gate)
    assert isinstance(gated, GatedPolicy) and isinstance(gated.gate, QualityGate)
    assert gated.gate.threshold is not None and (tmp_path / "gate.pt").is_file()
    pre = instantiate(_root("gate", "quality_pretrained", **{
        "gate.gate.channels": 2, "gate.gate.weights_path": str(tmp_path / "gate.pt")}).gate)
    assert pre.gate.threshold == gated.gate.threshold
    view = emulator_view(5, shape_px=64, window_px=16, stride_px=8, margin_px=8)
    assert np.array_equal(pre.prepare(view.candidates), gated.prepare(view.candidates))

    seg_root = _root("gate", "segmentation", **{
        "gate.gate.segmenter.train_seeds": [100], "gate.gate.segmenter.segmenter.iterations": 2,
        "gate.gate.segmenter.shape_px": 64})
    seg_gate = instantiate(seg_root.gate)
    assert isinstance(seg_gate.gate, SegmentationGate)
    assert isinstance(seg_gate.gate.segmenter, ParticleSegmenter)
    assert seg_gate.prepare(view.candidates, view.overview).shape == (view.candidates.n,)
    unet = instantiate(_root("segmentation", "unet", **{
        "segmentation.train_seeds": [100], "segmentation.segmenter.iterations": 2,
        "segmentation.shape_px": 64}).segmentation)
    assert isinstance(unet, ParticleSegmenter) and unet.net is not None
