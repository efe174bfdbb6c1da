"""conf/gate, conf/prior, conf/fewshot, conf/segmentation: every yaml lists every constructor argument
with its default and builds its object with Hydra (training settings shrunk for speed); the survey and
grid settings of the training functions are the experiment's, by interpolation."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf

from agent.confdir import CONF_DIR
from agent.vision import (
    FewShotCandidateScorer,
    FewShotScorer,
    ParticleClassifier,
    ParticleSegmenter,
    QualityGate,
    emulator_view,
)
from policies import UCB, GatedPolicy, SegmentationGate, WeightedPolicy

torch.set_num_threads(1)

CONF = Path(__file__).resolve().parents[3] / "conf"
FILES = sorted(p for g in ("gate", "prior", "fewshot", "segmentation") for p in (CONF / g).glob("*.yaml"))


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
    """A root config with the default experiment, the experiment's policy (ucb) and the group
    under test."""
    root = OmegaConf.create({"experiment": OmegaConf.load(CONF / "experiment" / "default.yaml"),
                             "policy": OmegaConf.load(CONF / "policy" / "ucb.yaml"),
                             group: OmegaConf.load(CONF / group / f"{name}.yaml")})
    for key, value in overrides.items():
        OmegaConf.update(root, key, value, merge=False)
    return root


def test_cheap_objects_build():
    assert type(instantiate(OmegaConf.load(CONF / "fewshot" / "scorer.yaml"))) is FewShotScorer
    scorer = instantiate(_root("fewshot", "candidate_scorer", **{
        "fewshot.positive_yx_m": [[1e-8, 2e-8]], "fewshot.negative_yx_m": [[0.0, 0.0]]}).fewshot)
    assert isinstance(scorer, FewShotCandidateScorer) and isinstance(scorer.scorer, FewShotScorer)
    assert scorer.positive_yx_m.tolist() == [[1e-8, 2e-8]]
    clf = instantiate(OmegaConf.load(CONF / "segmentation" / "particle_classifier.yaml"))
    assert type(clf) is ParticleClassifier and clf.n_estimators == 300
    gated = instantiate(_root("gate", "fewshot", **{"gate.gate.positive_yx_m": [[0.0, 0.0]]}).gate)
    assert isinstance(gated, GatedPolicy) and isinstance(gated.policy, UCB)
    assert isinstance(gated.gate, FewShotCandidateScorer) and gated.policy.beta == 2.0
    weighted = instantiate(_root("prior", "fewshot", **{"prior.prior.positive_yx_m": [[0.0, 0.0]]}).prior)
    assert isinstance(weighted, WeightedPolicy) and isinstance(weighted.policy, UCB)
    assert isinstance(weighted.prior, FewShotCandidateScorer)


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
    pre.prepare(view.candidates)
    gated.prepare(view.candidates)
    assert pre.mask is not None and np.array_equal(pre.mask, gated.mask)

    seg_root = _root("gate", "segmentation", **{
        "gate.gate.segmenter.train_seeds": [100], "gate.gate.segmenter.segmenter.iterations": 2,
        "gate.gate.segmenter.shape_px": 64})
    seg_gate = instantiate(seg_root.gate)
    assert isinstance(seg_gate.gate, SegmentationGate)
    assert isinstance(seg_gate.gate.segmenter, ParticleSegmenter)
    seg_gate.prepare(view.candidates, view.overview)
    assert seg_gate.mask is not None and seg_gate.mask.shape == (view.candidates.n,)
    unet = instantiate(_root("segmentation", "unet", **{
        "segmentation.train_seeds": [100], "segmentation.segmenter.iterations": 2,
        "segmentation.shape_px": 64}).segmentation)
    assert isinstance(unet, ParticleSegmenter) and unet.net is not None


#: settings of the training functions that must be the run's own (survey and candidate grid)
RUN_SETTINGS = {"fov_m": "overview.fov_m", "shape_px": "overview.shape_px", "dwell_s": "overview.dwell_s",
                "window_px": "candidates.window_px", "stride_px": "candidates.stride_px",
                "margin_px": "candidates.margin_px", "normalise": "candidates.normalise"}


def _training_nodes(node: DictConfig, where: str):
    if "_target_" in node and str(node._target_).startswith("agent.vision.train_"):
        yield where, node
    for key in node.keys():
        if not OmegaConf.is_interpolation(node, key) and not OmegaConf.is_missing(node, key) \
                and isinstance(node[key], DictConfig):
            yield from _training_nodes(node[key], f"{where}.{key}")


@pytest.mark.parametrize("path", [p for p in FILES if p.parent.name in ("gate", "prior")],
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_training_settings_interpolate_the_experiment(path):
    """No copied "match experiment.X" value: every survey / grid setting of a training function
    is `${experiment.X}`."""
    checked = 0
    for where, node in _training_nodes(OmegaConf.load(path), path.stem):
        for key, source in RUN_SETTINGS.items():
            if key in node:
                assert OmegaConf.to_container(node)[key] == "${experiment." + source + "}", f"{where}.{key}"
                checked += 1
    assert checked or "train_" not in path.read_text()


def test_composed_gate_follows_experiment_overrides():
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "gate=quality", "experiment.overview.fov_m=1.0e-07", "experiment.overview.shape_px=[128,96]",
            "experiment.candidates.window_px=12", "experiment.candidates.normalise=minmax"])
    train = cfg.gate.gate
    assert train.fov_m == 1e-7 and list(train.shape_px) == [128, 96]
    assert train.window_px == 12 and train.normalise == "minmax"
    assert train.stride_px == cfg.experiment.candidates.stride_px


def test_a_rectangular_survey_trains_on_its_own_shape():
    view = emulator_view(3, shape_px=[64, 48], window_px=16, stride_px=8, margin_px=8)
    assert view.overview.data.shape == (64, 48) and view.masks.kind.shape == (64, 48)


def test_former_weight_gates_are_read_as_priors():
    from hydra import compose, initialize_config_dir

    from agent.confdir import normalise_overrides

    old = ["gate=weight_fewshot", "gate.prior.positive_yx_m=[[1.0e-8,2.0e-8]]", "gate.power=2.0",
           "experiment.steps=5"]
    new = normalise_overrides(old)
    assert new == ["prior=fewshot", "prior.prior.positive_yx_m=[[1.0e-8,2.0e-8]]", "prior.power=2.0",
                   "experiment.steps=5"]
    assert normalise_overrides(["gate=weight_segmentation"]) == ["prior=segmentation"]
    assert normalise_overrides(["gate=quality", "gate.threshold=0.5"]) == ["gate=quality", "gate.threshold=0.5"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=new)
    assert cfg.get("gate") is None and cfg.prior.power == 2.0
    assert cfg.prior.prior._target_ == "agent.vision.FewShotCandidateScorer"


def test_segmentation_prior_builds_and_weighs_the_candidates():
    from policies import SegmentationWeights

    root = _root("prior", "segmentation", **{
        "prior.prior.segmenter.train_seeds": [100], "prior.prior.segmenter.segmenter.iterations": 2,
        "prior.prior.segmenter.shape_px": 64})
    weighted = instantiate(root.prior)
    assert isinstance(weighted, WeightedPolicy) and isinstance(weighted.policy, UCB)
    assert isinstance(weighted.prior, SegmentationWeights)
    assert isinstance(weighted.prior.segmenter, ParticleSegmenter)
    view = emulator_view(5, shape_px=64, window_px=16, stride_px=8, margin_px=8)
    weighted.prepare(view.candidates, view.overview)
    w = weighted.weights
    assert w is not None and w.shape == (view.candidates.n,) and np.all((w > 0) & (w <= 1))
