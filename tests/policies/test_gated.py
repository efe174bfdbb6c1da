"""policies.gated: GatedPolicy, any policy restricted to what a gate lets through (unit and in the
real loop)."""

from __future__ import annotations

import numpy as np
import pytest

from agent.candidates import make_candidates
from agent.loop import Experiment
from agent.record import Record
from agent.settings import ExperimentSettings
from drivers.emulator import PlasmonEmulator
from policies import (
    UCB,
    CandidateGate,
    GatedPolicy,
    NoCandidatesLeft,
    Policy,
    PolicyConfigError,
    PolicyInputError,
    Posterior,
    RandomPolicy,
    SelectionState,
)
from rewards.bands import BandIntensity


class RightHalfGate(CandidateGate):
    """Lets through the candidates in the right half of the overview (x pixel >= nx / 2)."""

    def __init__(self) -> None:
        self.calls = 0

    def gate_mask(self, candidates, overview=None):
        self.calls += 1
        return candidates.yx_px[:, 1] >= candidates.image_shape[1] / 2


class ScoredGate(CandidateGate):
    """Scores = column fraction; its own threshold 0.75."""

    has_scores = True
    threshold = 0.75

    def gate_scores(self, candidates):
        return self._scores

    def gate_mask(self, candidates, overview=None):
        return self.gate_scores(candidates) >= self.threshold

    def prepare(self, candidates, overview=None):
        self._scores = candidates.yx_frac[:, 1].copy()


@pytest.fixture(scope="module")
def cands():
    em = PlasmonEmulator(seed=3)
    frame = em.acquire_overview(2e-7, (64, 64), 2e-6)
    return make_candidates(frame, 8, 4, 4), frame


def _state(cands, available=None, pending=()):
    c = cands[0]
    avail = np.ones(c.n, bool) if available is None else available
    return SelectionState(available=avail, measured=np.zeros(0, np.int64),
                          y_measured=np.zeros(0), grid_shape=c.grid_shape,
                          yx_px=c.yx_px.astype(float), step=0, rng=np.random.default_rng(0),
                          pending=np.asarray(pending, np.int64))


def test_random_policy_only_picks_gated_candidates_and_counts_removals(cands):
    c, frame = cands
    gate = RightHalfGate()
    policy = GatedPolicy(RandomPolicy(), gate)
    assert isinstance(policy, Policy) and isinstance(gate, CandidateGate)
    assert policy.needs_model is False
    policy.prepare(c, frame)
    right = c.yx_px[:, 1] >= 32
    assert np.array_equal(policy.mask, right) and gate.calls == 1
    assert policy.n_candidates == c.n and policy.n_passed == right.sum()
    assert policy.n_removed == c.n - right.sum()
    avail = np.ones(c.n, bool)
    avail[:10] = False
    state = _state(cands, avail)
    selection = policy.select(None, state, q=20)
    picks = selection.indices
    assert len(picks) == 20 and np.all(right[picks]) and np.all(avail[picks])
    assert policy.last_n_removed == int((avail & ~right).sum())
    assert selection.reason == f"random (gate removed {policy.last_n_removed})"
    assert selection.phase == "baseline" and selection.costs_s is None
    assert np.array_equal(state.available, avail)  # the caller's state is not modified


def test_ucb_inside_the_gate_and_threshold_override(cands):
    c, frame = cands
    mean = -c.yx_frac[:, 1]  # best on the left edge, which the gate removes
    post = Posterior(mean, np.full(c.n, 1e-3))
    policy = GatedPolicy(UCB(beta=0.0), ScoredGate())
    policy.prepare(c, frame)
    assert np.array_equal(policy.mask, c.yx_frac[:, 1] >= 0.75)
    pick = policy.select(post, _state(cands), q=1).indices[0]
    assert c.yx_frac[pick, 1] == pytest.approx(c.yx_frac[policy.mask, 1].min())
    loose = GatedPolicy(UCB(beta=0.0), ScoredGate(), threshold=0.5)
    loose.prepare(c, frame)
    assert loose.n_passed > policy.n_passed
    assert np.array_equal(loose.mask, c.yx_frac[:, 1] >= 0.5)
    assert loose.acquisition(post, _state(cands)) is not None


def test_empty_gate_stops_or_falls_back(cands):
    c, frame = cands
    state = _state(cands, c.yx_px[:, 1] < 32)  # only the left half is available
    stop = GatedPolicy(RandomPolicy(), RightHalfGate())
    stop.prepare(c, frame)
    with pytest.raises(NoCandidatesLeft, match="gate"):
        stop.select(None, state)
    free = GatedPolicy(RandomPolicy(), RightHalfGate(), on_empty="ungated")
    free.prepare(c, frame)
    assert c.yx_px[free.select(None, state).indices[0], 1] < 32


def test_errors(cands):
    c, frame = cands
    policy = GatedPolicy(RandomPolicy(), RightHalfGate())
    with pytest.raises(PolicyInputError, match="prepare"):
        policy.select(None, _state(cands))
    with pytest.raises(PolicyConfigError, match="gate_mask"):
        GatedPolicy(RandomPolicy(), object())
    with pytest.raises(PolicyConfigError, match="select"):
        GatedPolicy(object(), RightHalfGate())
    with pytest.raises(PolicyConfigError, match="threshold"):
        GatedPolicy(RandomPolicy(), RightHalfGate(), threshold=0.5)
    with pytest.raises(PolicyConfigError, match="on_empty"):
        GatedPolicy(RandomPolicy(), RightHalfGate(), on_empty="skip")
    with pytest.raises(PolicyInputError, match="candidate set"):
        policy.prepare(object(), frame)
    policy.prepare(c, frame)
    with pytest.raises(PolicyInputError, match="covers"):
        policy.select(None, SelectionState(np.ones(5, bool), np.zeros(0, np.int64), np.zeros(0),
                                           (1, 5), np.zeros((5, 2)), 0, np.random.default_rng()))


def test_gated_policy_in_the_real_loop(tmp_path):
    """The loop as the integrator will wire it: prepare after the candidates are built."""
    settings = ExperimentSettings.from_mapping(dict(
        steps=12, n_init=2, progress=False, plots=False, checkpoint=False,
        overview={"fov_m": 2e-7, "shape_px": [64, 64], "dwell_s": 2e-6},
        candidates={"window_px": 8, "stride_px": 4, "margin_px": 4}))
    policy = GatedPolicy(RandomPolicy(), RightHalfGate())
    exp = Experiment(PlasmonEmulator(seed=1), BandIntensity([1.5, 2.4]), None, policy, settings,
                     tmp_path / "run", seed=0)
    exp.setup()
    policy.prepare(exp.candidates, exp.overview)
    summary = exp.run()
    assert summary["n_measured"] == 12
    with Record.open(tmp_path / "run" / "record.h5") as rec:
        idx = rec.column("index")
        phase = rec.column("phase").tolist()
    chosen = [i for i, p in zip(idx.tolist(), phase) if p != "seed"]
    assert len(chosen) == 10 and all(policy.mask[i] for i in chosen)


def test_costs_of_a_wrapped_cost_aware_policy_reach_the_loop(cands):
    from policies import CostAware, LogEI

    c, frame = cands
    policy = GatedPolicy(CostAware(LogEI(), travel_s_per_m=1e7), RightHalfGate())
    policy.prepare(c, frame)
    post = Posterior(np.random.default_rng(0).normal(size=c.n), np.full(c.n, 0.5))
    state = SelectionState(available=np.ones(c.n, bool), measured=np.array([0], np.int64),
                           y_measured=np.array([0.0]), grid_shape=c.grid_shape,
                           yx_px=c.yx_px.astype(float), step=1, rng=np.random.default_rng(0),
                           yx_m=c.yx_m, probe_index=0)
    selection = policy.select(post, state, q=2)
    picks = selection.indices
    assert selection.costs_s is not None and selection.costs_s.shape == (c.n,)
    assert selection.chosen_costs_s is not None and selection.chosen_costs_s.shape == (2,)
    assert np.all(c.yx_px[picks, 1] >= 32)
    assert policy.costs(state) is not None  # forwarded from the wrapped cost-aware policy



def test_the_wrapper_forwards_flags_records_the_gate_and_switches_the_wrapped_policy(cands):
    c, frame = cands
    gate = ScoredGate()
    policy = GatedPolicy(UCB(), gate)
    assert policy.needs_model and policy.has_acquisition and not policy.log_acquisition
    assert policy.design_weights() is None  # before prepare: no preference
    policy.prepare(c, frame)
    assert np.array_equal(policy.design_weights(), policy.mask.astype(float))
    info = policy.describe()
    assert list(info)[:3] == ["gate", "n_candidates", "n_passed"]
    assert info == {"gate": "ScoredGate", "n_candidates": c.n, "n_passed": policy.n_passed}
    assert policy.models() == (gate,)
    # a mid-run `set policy=...` keeps the gate and swaps what it wraps
    assert policy.switch_policy(RandomPolicy()) is policy and isinstance(policy.policy, RandomPolicy)
    assert policy.needs_model is False and policy.has_acquisition is False
