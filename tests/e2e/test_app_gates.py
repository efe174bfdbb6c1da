"""Gates and priors through the Hydra app: `autoscope gate=...` / `prior=...` wrap the chosen policy
and are honoured."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from agent.app import CONF_DIR, build_experiment
from agent.record import Record
from agent.settings import ConfigError
from policies import GatedPolicy, WeightedPolicy

FAST = ["surrogate.max_iter=30", "experiment.plots=false"]
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
        exp.switch(["policy=max_uncertainty"])
        assert isinstance(exp.policy, GatedPolicy) and exp.policy.gate is gate
        assert type(exp.policy.policy).__name__ == "MaxUncertainty"
        assert exp.policy.mask is not None and np.any(exp.policy.mask)
    finally:
        exp.driver.close()


def test_fewshot_prior_weights_the_acquisition_in_a_run(tmp_path):
    cfg = _cfg("prior=fewshot", "experiment.steps=10", "experiment.n_init=5",
               "prior.prior.positive_yx_m=[[5.0e-8,5.0e-8],[1.2e-7,8.0e-8]]", "prior.power=2.0", *FAST)
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


def test_a_gate_and_a_prior_together_are_refused_naming_both(tmp_path):
    cfg = _cfg("gate=segmentation", "prior=fewshot", "prior.prior.positive_yx_m=[[5.0e-8,5.0e-8]]")
    with pytest.raises(ConfigError, match=r"gate=\.\.\. and prior=\.\.\."):
        build_experiment(cfg, tmp_path / "run")


def test_switching_the_policy_mid_run_keeps_a_prior(tmp_path):
    cfg = _cfg("prior=fewshot", "prior.prior.positive_yx_m=[[5.0e-8,5.0e-8]]", "experiment.steps=8",
               "experiment.n_init=4", *FAST)
    exp = build_experiment(cfg, tmp_path / "run")
    try:
        exp.setup()
        prior = exp.policy.prior
        exp.switch(["policy=ucb"])
        assert isinstance(exp.policy, WeightedPolicy) and exp.policy.prior is prior
        assert type(exp.policy.policy).__name__ == "UCB" and exp.policy.weights is not None
    finally:
        exp.driver.close()


# ---------------------------------------------------------------- the seed design respects the gate
SMALL_QUALITY = ["gate=quality", "gate.gate.train_seeds=[100]", "gate.gate.gate.epochs=1",
                 "gate.gate.gate.tta=false"]


def _seed_design(tmp_path, name: str, *overrides: str):
    exp = build_experiment(_cfg("experiment.steps=12", "experiment.n_init=6", *FAST, *overrides),
                           tmp_path / name)
    try:
        exp.setup()
    finally:
        exp.driver.close()
    return exp


def _ungated_reference(exp) -> list[int]:
    """The seed design as written before gates applied to it: the candidate nearest each point of
    the run's scrambled Sobol sequence (own random stream [seed, 0xD5])."""
    from scipy.stats import qmc

    rng = np.random.default_rng([exp.seed, 0xD5])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Sobol balance warning for n not a power of two
        pts = qmc.Sobol(d=2, scramble=True, seed=rng).random(exp.settings.n_init)
    taken, out = np.zeros(exp.candidates.n, dtype=bool), []
    for p in pts:
        d2 = np.sum((exp.candidates.yx_frac - p) ** 2, axis=1)
        d2[taken] = np.inf
        out.append(int(np.argmin(d2)))
        taken[out[-1]] = True
    return out


def test_seed_design_without_a_gate_is_unchanged(tmp_path):
    exp = _seed_design(tmp_path, "plain")
    assert exp.design == _ungated_reference(exp)
    assert len(exp.design) == 6


def test_seed_design_lies_in_the_segmentation_gate(tmp_path):
    plain = _seed_design(tmp_path, "plain")
    gated = _seed_design(tmp_path, "gated", "gate=segmentation", *SMALL_UNET)
    mask = gated.policy.mask
    assert mask is not None and 0 < mask.sum() < mask.size
    assert len(gated.design) == 6 and len(set(gated.design)) == 6
    assert mask[gated.design].all(), "a seed point lies where the gate refuses a measurement"
    assert not mask[plain.design].all()  # ungated, some seed points fall outside the gate
    assert gated.design != plain.design


def test_seed_design_follows_a_prior(tmp_path):
    prior = ["prior=fewshot", "prior.prior.positive_yx_m=[[5.0e-8,5.0e-8],[1.2e-7,8.0e-8]]",
             "prior.power=2.0"]
    plain = _seed_design(tmp_path, "plain")
    weighted = _seed_design(tmp_path, "weighted", *prior)
    w = weighted.policy.weights
    assert weighted.design != plain.design and len(set(weighted.design)) == 6
    assert np.mean(w[weighted.design]) > np.mean(w[plain.design])
    # a prior is recorded as a "prior" event (a "gate" is a mask; a prior excludes nothing)
    import json

    with Record.open(tmp_path / "weighted" / "record.h5") as rec:
        kinds = [json.loads(t)["kind"] for t in rec.event_texts()]
    assert kinds.count("prior") == 1 and "gate" not in kinds


def test_quality_gate_logs_its_training_and_records_its_validation(tmp_path, caplog):
    import json
    import logging

    with caplog.at_level(logging.INFO, logger="agent.vision"):
        exp = _seed_design(tmp_path, "quality", *SMALL_QUALITY)
    text = caplog.text
    before = text.index("training the quality gate")
    after = text.index("quality gate trained in")
    assert before < after and "about" in text[before:after]
    assert "precision" in text[after:] and "F(0.33)" in text[after:]
    gate_mask = exp.policy.mask
    assert gate_mask is not None
    if gate_mask.any():
        assert gate_mask[exp.design].all()
    with Record.open(tmp_path / "quality" / "record.h5") as rec:
        events = [json.loads(t) for t in rec.event_texts()]
    gate = [e for e in events if e["kind"] == "gate"]
    assert len(gate) == 1 and gate[0]["gate"] == "QualityGate"
    val = gate[0]["validation"]
    assert 0.0 <= val["precision"] <= 1.0 and 0.0 <= val["f_beta"] <= 1.0
    assert abs(gate[0]["beta"] - 1 / 3) < 1e-9
