"""Control channel (issue 13): no command can hurt the run; invalid ones are rejected and recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import FakeDriver, GreedyUCB, NearestSurrogate, peak_reward

from agent.control import Command, ControlError, parse, send, validate_set
from agent.control import main as ctl
from agent.loop import Experiment
from agent.settings import ExperimentSettings


def _settings(**kw):
    base = dict(steps=12, n_init=3, progress=False, plots=False, retry_backoff_s=0.0,
                overview={"fov_m": None, "shape_px": None, "dwell_s": None},
                candidates={"window_px": 6, "stride_px": 4, "margin_px": 2})
    base.update(kw)
    return ExperimentSettings.from_mapping(base)


@pytest.mark.parametrize("args, match", [
    (["policy._target_=pathlib.Path.unlink"], "_target_"),
    (["policy.beta=[1,"], "not valid YAML"),
    (["policy.policy={_target_: os.system}"], "only numbers"),
    (["reward.window_eV=${oc.env:HOME}"], "interpolations"),
    (["policy=../../etc/passwd"], "no conf/policy"),
    (["policy=nonexistent"], "no conf/policy"),
    (["experiment.steps=5"], "only policy"),
    (["gate.threshold=0"], "only policy"),
    (["policy.beta=.nan"], "NaN"),
])
def test_set_refuses_anything_outside_the_whitelist(args, match):
    with pytest.raises(ControlError, match=match):
        parse("set", args)


def test_set_keys_must_exist_in_the_current_config():
    validate_set(["policy.beta=4"], {"policy": {"_target_": "policies.UCB", "beta": 2.0}})
    with pytest.raises(ControlError, match="no plain setting 'gamma'"):
        validate_set(["policy.gamma=4"], {"policy": {"_target_": "policies.UCB", "beta": 2.0}})
    validate_set(["policy=ucb", "policy.beta=4"], {"policy": {"_target_": "policies.LogEI"}})


@pytest.mark.parametrize("verb, args", [
    ("veto", ["nan", "1", "2", "3"]), ("force", ["inf", "2"]), ("force", ["1e400", "0"]),
])
def test_non_finite_positions_are_refused_when_sent(verb, args):
    with pytest.raises(ControlError, match="finite"):
        parse(verb, args)


def _crashed(tmp_path):
    class _Crash(Exception):
        pass

    def crash(exp, rows):
        if exp.n_done == 5:
            raise _Crash()

    d = tmp_path / "run"
    with pytest.raises(_Crash):
        Experiment(FakeDriver(), peak_reward, NearestSurrogate(), GreedyUCB(), _settings(), d, seed=2,
                   on_step=crash).run()
    return d


def test_ctl_checks_positions_against_the_run_overview(tmp_path, capsys):
    d = _crashed(tmp_path)
    assert ctl([str(d), "force", "500", "3"]) == 2
    assert "outside the field of view" in capsys.readouterr().err
    assert ctl([str(d), "veto", "0", "10", "-50", "6"]) == 2
    assert ctl([str(d), "force", "10", "10"]) == 0
    assert ctl([str(d), "force", "1", "--metres", "1"]) == 2  # 1 m is far outside a 64 nm field


def test_invalid_commands_in_the_inbox_are_rejected_and_the_run_goes_on(tmp_path):
    d = _crashed(tmp_path)
    inbox = d / "control" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    measured_px = None
    exp = Experiment(FakeDriver(), peak_reward, NearestSurrogate(), GreedyUCB(), _settings(), d, seed=2,
                     rebuild=lambda g, ov: GreedyUCB())
    exp.resume()
    i = exp.state.measured[0]
    measured_px = exp.candidates.yx_px[i].tolist()
    bad = [
        Command("set", ["policy.beta=[1,"], sent_at=1.0, id="yaml"),
        Command("set", ["policy._target_=pathlib.Path.unlink"], sent_at=2.0, id="target"),
        Command("veto", [float("nan"), 1, 2, 3], sent_at=3.0, id="nan"),
        Command("force", [500.0, 3.0], sent_at=4.0, id="outside"),
        Command("force", [float(measured_px[0]), float(measured_px[1])], sent_at=5.0, id="measured"),
        Command("jump", [], sent_at=6.0, id="verb"),
    ]
    for k, cmd in enumerate(bad):
        (inbox / f"{k:020d}-{cmd.id}.json").write_text(cmd.to_json().replace("NaN", "NaN"))
    (inbox / "00000000000000000099-junk.json").write_text("{not json")
    (inbox / "00000000000000000098-list.json").write_text("[1, 2]")
    summary = exp.run()
    assert summary["n_measured"] + summary["n_failed"] == 12
    rejected = sorted((d / "control" / "rejected").glob("*.json"))
    assert len(rejected) == len(bad) + 2
    assert all((p.parent / f"{p.name}.reason.txt").exists() for p in rejected)
    assert not list(inbox.glob("*.json"))
    from agent.record import Record

    with Record.open(d / "record.h5") as rec:
        outcomes = [e["outcome"] for e in rec.events() if e["kind"] == "intervention"]
        idx = rec.column("index").tolist()
    assert len(outcomes) == len(bad) + 2 and all(o.startswith("rejected") for o in outcomes)
    assert idx.count(i) == 1  # the measured spot was not measured again


def test_a_valid_force_and_veto_are_applied(tmp_path):
    d = _crashed(tmp_path)
    exp = Experiment(FakeDriver(), peak_reward, NearestSurrogate(), GreedyUCB(), _settings(), d, seed=2)
    exp.resume()
    free = int(np.flatnonzero(exp.available_mask())[-1])
    y, x = exp.candidates.yx_px[free].tolist()
    send(d, parse("force", [str(y + 1), str(x)]))
    send(d, parse("veto", ["0", "8", "0", "8"]))
    exp.poll_control()
    assert exp.state.forced == [free] and exp.state.vetoed
    assert not list((d / "control" / "rejected").glob("*.json")) if (d / "control" / "rejected").exists() else True
    exp.record.close()
    exp.journal.close()
    exp.close()
    json  # noqa: B018


def _app_run(tmp_path, name, set_args, steps=4):
    from hydra import compose, initialize_config_dir

    from agent.app import CONF_DIR, run_from_config

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            f"experiment.steps={steps}", "experiment.n_init=3", "experiment.plots=false",
            "experiment.progress=false", "surrogate=coord_gp"])
    from agent.app import resume_run

    run_dir = tmp_path / name
    run_from_config(cfg, run_dir)  # measured under the default reward
    send(run_dir, parse("set", set_args))  # applied when the run goes on: every spectrum rescored
    return run_dir, resume_run(run_dir, [f"experiment.steps={steps + 2}"])


def test_status_after_set_reward_shows_the_new_rewards_best(tmp_path, capsys):
    """`autoscope-ctl RUN status` after `set reward...` showed the best of the old reward (the
    journal's values); it now rescores the spectra as the loop did."""
    run_dir, summary = _app_run(tmp_path, "scalar", ["reward.window_eV=[3.2,3.6]"])
    capsys.readouterr()
    assert ctl([str(run_dir), "status"]) == 0
    out = capsys.readouterr().out
    assert f"best {summary['best_value']:.4g}" in out and "rescored" in out
    rows = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    old = max(r["reward"] for r in rows if "step" in r and r["reward"] is not None and r["step"] < 4)
    assert f"{old:.4g}" != f"{summary['best_value']:.4g}" and f"best {old:.4g}" not in out


def test_status_of_a_vector_reward_names_the_pareto_set(tmp_path, capsys):
    run_dir, summary = _app_run(tmp_path, "vector", ["reward=two_bands", "policy=ehvi"])
    capsys.readouterr()
    assert ctl([str(run_dir), "status"]) == 0
    out = capsys.readouterr().out
    n_front = len(summary["objectives"]["pareto_indices"])
    assert f"2 objectives: Pareto set of {n_front}" in out and "best" not in out.split("\n")[0]
