"""Few-shot labels during a run (issue 14, item 9): `autoscope-ctl RUN_DIR label Y X [--negative]`
reaches the few-shot scorer's update() through the inbox, is recorded as an intervention, checked
when sent and when applied, and survives a resume."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from conftest import FakeDriver, GreedyUCB, NearestSurrogate, peak_reward

from agent.control import Command, ControlError, parse, send
from agent.control import main as ctl
from agent.loop import Experiment
from agent.record import Record
from agent.settings import ExperimentSettings
from agent.vision import FewShotCandidateScorer, FewShotScorer
from policies import GatedPolicy

# FakeDriver: 64 x 64 px, 1 nm pixels from -31.5 nm; its blob is at pixel (40, 22)
BLOB_M = [[8.5e-9, -9.5e-9]]
FEWSHOT_CFG = {"gate": {"_target_": "policies.GatedPolicy",
                        "gate": {"_target_": "agent.vision.FewShotCandidateScorer", "positive_yx_m": BLOB_M}}}


def _settings(steps=8):
    return ExperimentSettings.from_mapping(dict(
        steps=steps, n_init=3, progress=False, plots=False, retry_backoff_s=0.0,
        overview={"fov_m": None, "shape_px": None, "dwell_s": None},
        candidates={"window_px": 6, "stride_px": 4, "margin_px": 2}))


def _gated():
    """A gate that passes everything (threshold 0) around a tiny few-shot scorer."""
    scorer = FewShotScorer(n_filters=4, n_augment=2, seed=0)
    return GatedPolicy(GreedyUCB(), FewShotCandidateScorer(positive_yx_m=BLOB_M, scorer=scorer), threshold=0.0)


def _interventions(run_dir):
    with Record.open(run_dir / "record.h5") as rec:
        return [e for e in rec.events() if e["kind"] == "intervention"]


def test_label_parses_and_is_checked_when_sent():
    assert parse("label", ["3", "4"]).args == [3.0, 4.0, "positive"]
    assert parse("label", ["3", "4", "negative"]).args == [3.0, 4.0, "negative"]
    for bad in (["3"], ["3", "4", "maybe"], ["nan", "4"], ["3", "4", "5", "6"]):
        with pytest.raises(ControlError):
            parse("label", bad)


def test_labels_reach_the_scorer_are_recorded_and_survive_a_resume(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    (d / "config.yaml").write_text(yaml.safe_dump(FEWSHOT_CFG))
    sent: list[str] = []

    class _Crash(Exception):
        pass

    def on_step(exp, rows):
        n = exp.n_done
        if n == 3:  # during the run, through autoscope-ctl as a user would
            assert ctl([str(d), "label", "12", "50"]) == 0
            assert ctl([str(d), "label", "2", "2", "--negative"]) == 0
            assert ctl([str(d), "label", "-1e-7", "0", "--metres"]) == 2  # outside the 64 nm field
            sent.append("sent")
        if n == 5:
            raise _Crash()

    policy = _gated()
    scorer = policy.gate.scorer  # fitted on the configured point when the loop prepares the policy
    exp = Experiment(FakeDriver(), peak_reward, NearestSurrogate(), policy, _settings(), d, seed=1, on_step=on_step)
    with pytest.raises(_Crash):
        exp.run()
    assert sent and (scorer.n_positive, scorer.n_negative) == (2, 1)
    assert len(exp.state.labels) == 2 and [p for _, p in exp.state.labels] == [True, False]
    # the label went to the candidate nearest the spot, and the gate re-scored with the new prototypes
    cand = exp.candidates
    neg = int(exp.state.labels[1][0])
    assert tuple(cand.yx_px[neg]) == min(map(tuple, cand.yx_px), key=lambda p: (p[0] - 2) ** 2 + (p[1] - 2) ** 2)
    np.testing.assert_allclose(policy.scores, policy.gate.values(cand))
    exp.record.close()
    exp.journal.close()
    exp.close()
    events = [e for e in _interventions(d) if e.get("verb") == "label"]
    assert [e["outcome"] for e in events] == ["applied", "applied"]

    # resumed with a fresh gate (built from the config again): the labels are given to it again
    policy2 = _gated()
    exp2 = Experiment(FakeDriver(), peak_reward, NearestSurrogate(), policy2, _settings(), d, seed=1)
    exp2.resume()
    summary = exp2.run()
    assert summary["n_measured"] + summary["n_failed"] == 8
    assert (policy2.gate.scorer.n_positive, policy2.gate.scorer.n_negative) == (2, 1)


def test_a_label_without_a_fewshot_scorer_is_refused_when_sent_and_rejected_when_applied(tmp_path, capsys):
    d = tmp_path / "run"
    d.mkdir()
    (d / "config.yaml").write_text(yaml.safe_dump({"gate": None}))
    assert ctl([str(d), "label", "10", "10"]) == 2
    assert "no few-shot scorer" in capsys.readouterr().err
    send(d, Command("label", [10.0, 10.0, "positive"], sent_at=1.0, id="nogate"))  # written by hand
    summary = Experiment(FakeDriver(), peak_reward, NearestSurrogate(), GreedyUCB(), _settings(steps=5), d,
                         seed=1).run()
    assert summary["n_measured"] + summary["n_failed"] == 5  # the run went on
    events = _interventions(d)
    assert len(events) == 1 and events[0]["outcome"].startswith("rejected") and "few-shot" in events[0]["outcome"]
    assert list((d / "control" / "rejected").glob("*.json"))


def test_a_label_for_a_fewshot_prior_passes_the_check_when_sent(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    prior = {"_target_": "policies.WeightedPolicy",
             "prior": {"_target_": "agent.vision.FewShotCandidateScorer", "positive_yx_m": BLOB_M}}
    (d / "config.yaml").write_text(yaml.safe_dump({"gate": None, "prior": prior}))
    assert ctl([str(d), "label", "10", "10"]) == 0  # prior=fewshot learns from labels too


def test_score_moves_with_a_negative_label():
    """The scorer behind the verb: a negative label lowers the score of that patch (sanity of update)."""
    rng = np.random.default_rng(0)
    patches = rng.normal(size=(20, 6, 6)).astype(np.float32)
    scorer = FewShotScorer(n_filters=4, n_augment=2, seed=0).fit(patches[:1], pool=patches)
    before = scorer.score(patches[5:6])[0]
    scorer.update(patches[5], False)
    assert scorer.score(patches[5:6])[0] < before
