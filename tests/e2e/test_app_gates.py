"""Gates through the Hydra app: `autoscope gate=...` wraps the chosen policy and is honoured."""

from __future__ import annotations

import numpy as np
from hydra import compose, initialize_config_dir

from agent.app import CONF_DIR, build_experiment
from agent.record import Record
from agent.vision import GatedPolicy, WeightedPolicy

FAST = ["surrogate.max_iter=60", "experiment.plots=false"]
SMALL_UNET = ["gate.gate.segmenter.segmenter.iterations=40", "gate.gate.segmenter.train_seeds=[100]"]


def _cfg(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=["experiment.progress=false", *overrides])


def test_segmentation_gate_restricts_every_policy_choice(tmp_path):
    cfg = _cfg("gate=segmentation", "policy=ucb", "experiment.steps=14", "experiment.n_init=6",
               *FAST, *SMALL_UNET)
    exp = build_experiment(cfg, tmp_path / "run")
    assert isinstance(exp.policy, GatedPolicy)
    assert type(exp.policy.policy).__name__ == "UCB"  # the experiment's `policy` group, wrapped
    try:
        exp.run()
    finally:
        exp.driver.close()
    mask = exp.policy.mask
    assert mask is not None and 0 < mask.sum() < mask.size  # the gate removed something
    with Record.open(tmp_path / "run" / "record.h5") as rec:
        chosen = rec.column("index")[rec.column("phase") == "policy"]
    assert chosen.size == 8
    assert mask[chosen].all(), "a policy choice fell outside the gate"


def test_switching_the_policy_mid_run_keeps_the_gate(tmp_path):
    cfg = _cfg("gate=segmentation", "experiment.steps=8", "experiment.n_init=4", *FAST, *SMALL_UNET)
    exp = build_experiment(cfg, tmp_path / "run")
    try:
        exp.setup()
        gate = exp.policy.gate
        exp._apply_set(["policy=max_uncertainty"], record=True)
        assert isinstance(exp.policy, GatedPolicy) and exp.policy.gate is gate
        assert type(exp.policy.policy).__name__ == "MaxUncertainty"
        assert exp.policy.mask is not None and np.any(exp.policy.mask)
    finally:
        exp.driver.close()


def test_fewshot_prior_weights_the_acquisition_in_a_run(tmp_path):
    cfg = _cfg("gate=weight_fewshot", "experiment.steps=10", "experiment.n_init=5",
               "gate.prior.positive_yx_m=[[5.0e-8,5.0e-8],[1.2e-7,8.0e-8]]", "gate.power=2.0", *FAST)
    exp = build_experiment(cfg, tmp_path / "run")
    assert isinstance(exp.policy, WeightedPolicy)
    try:
        summary = exp.run()
    finally:
        exp.driver.close()
    w = exp.policy.weights
    assert w is not None and w.shape == (exp.candidates.n,) and np.ptp(w) > 0
    assert summary["n_measured"] == 10
    with Record.open(tmp_path / "run" / "record.h5") as rec:
        chosen = rec.column("index")[rec.column("phase") == "policy"]
    # the prior is honoured: the policy's choices lie among the better-weighted candidates
    assert np.median(w[chosen]) > np.median(w)


def test_particle_class_gate_measures_only_around_the_chosen_kind(tmp_path):
    cfg = _cfg("gate=particle_class", "gate.gate.classes=[triangle]", "gate.gate.mode=near",
               "gate.gate.distance_px=4.0", "gate.gate.classifier.train_seeds=[100,101]",
               "gate.gate.classifier.classifier.n_estimators=50",
               "gate.gate.segmenter.segmenter.iterations=40", "gate.gate.segmenter.train_seeds=[100]",
               "experiment.steps=10", "experiment.n_init=4", *FAST)
    exp = build_experiment(cfg, tmp_path / "run")
    try:
        exp.run()
    finally:
        exp.driver.close()
    gate = exp.policy.gate
    assert "triangle" in set(gate.last_kinds)
    with Record.open(tmp_path / "run" / "record.h5") as rec:
        chosen = rec.column("index")[rec.column("phase") == "policy"]
    assert chosen.size == 6 and exp.policy.mask[chosen].all()


def test_switching_the_policy_mid_run_keeps_a_prior(tmp_path):
    cfg = _cfg("gate=weight_fewshot", "gate.prior.positive_yx_m=[[5.0e-8,5.0e-8]]", "experiment.steps=8",
               "experiment.n_init=4", *FAST)
    exp = build_experiment(cfg, tmp_path / "run")
    try:
        exp.setup()
        prior = exp.policy.prior
        exp._apply_set(["policy=ucb"], record=True)
        assert isinstance(exp.policy, WeightedPolicy) and exp.policy.prior is prior
        assert type(exp.policy.policy).__name__ == "UCB" and exp.policy.weights is not None
    finally:
        exp.driver.close()
