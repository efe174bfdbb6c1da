"""Vector rewards (one surrogate per objective, EHVI) and costs recorded per step."""

from __future__ import annotations

import numpy as np
from conftest import FakeDriver, NearestSurrogate, peak_reward

from agent.loop import Experiment
from agent.record import Record
from agent.settings import ExperimentSettings
from policies import EHVI, CostAware, LogEI, RandomPolicy, Scalarised


def two_objectives(spectrum, axis):
    """Peak band, and the flat background level (high away from the blob)."""
    return np.array([peak_reward(spectrum, axis), -float(spectrum[axis.values > 2.5].sum())])


def _settings(**kw):
    base = dict(steps=24, n_init=6, progress=False, plots=True, retry_backoff_s=0.0,
                overview={"fov_m": None, "shape_px": None, "dwell_s": None},
                candidates={"window_px": 6, "stride_px": 4, "margin_px": 2})
    base.update(kw)
    return ExperimentSettings.from_mapping(base)


def test_vector_reward_runs_ehvi_with_one_model_per_objective(tmp_path):
    exp = Experiment(FakeDriver(), two_objectives, NearestSurrogate(), EHVI(n_samples=32),
                     _settings(), tmp_path / "mo", seed=1)
    summary = exp.run()
    assert len(exp.models()) == 2 and all(m.n_fits > 0 for m in exp.models())
    rec = Record.open(tmp_path / "mo" / "record.h5")
    obj = rec.column("objectives")
    assert obj.shape == (24, 2) and np.all(np.isfinite(obj))
    assert np.allclose(obj[:, 0], rec.column("reward"))
    o = summary["objectives"]
    assert o["k"] == 2 and o["pareto_indices"]
    assert 0 < o["hypervolume_ratio"] <= 1.0
    assert (tmp_path / "mo" / "plots" / "pareto.png").exists()


def test_ehvi_beats_random_on_hypervolume(tmp_path):
    ratios = {}
    for name, policy in (("ehvi", EHVI(n_samples=32)), ("random", RandomPolicy())):
        exp = Experiment(FakeDriver(), two_objectives, NearestSurrogate(), policy, _settings(steps=20, plots=False),
                         tmp_path / name, seed=4)
        ratios[name] = exp.run()["objectives"]["hypervolume_ratio"]
    assert ratios["ehvi"] > ratios["random"]


def test_scalarised_option_runs(tmp_path):
    exp = Experiment(FakeDriver(), two_objectives, NearestSurrogate(), Scalarised(LogEI(), [1.0, 0.5]),
                     _settings(steps=12, plots=False), tmp_path / "sc", seed=2)
    assert exp.run()["n_measured"] == 12


def test_costs_and_travel_are_recorded(tmp_path):
    policy = CostAware(LogEI(), overhead_s=0.005, exposure_s=0.05, travel_s_per_m=1e7)
    exp = Experiment(FakeDriver(), peak_reward, NearestSurrogate(), policy, _settings(steps=16, plots=False),
                     tmp_path / "cost", seed=2)
    exp.run()
    rec = Record.open(tmp_path / "cost" / "record.h5")
    travel, cost, phase = rec.column("travel_m"), rec.column("cost_s"), rec.column("phase")
    assert np.isnan(travel[0]) and np.all(travel[1:] >= 0)
    policy_rows = np.array([p == "policy" for p in phase])
    # cost = overhead + exposure + travel time, for every policy-chosen point
    assert np.allclose(cost[policy_rows], 0.055 + 1e7 * travel[policy_rows])
    # a travel-cost policy moves less than the same policy without costs
    exp2 = Experiment(FakeDriver(), peak_reward, NearestSurrogate(), LogEI(), _settings(steps=16, plots=False),
                      tmp_path / "nocost", seed=2)
    exp2.run()
    t2 = Record.open(tmp_path / "nocost" / "record.h5").column("travel_m")
    assert np.nansum(travel[6:]) < np.nansum(t2[6:])
