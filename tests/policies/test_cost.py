"""Costs in the decision: travel and dose turn the choice towards cheap candidates."""

import numpy as np
import pytest

from policies import UCB, CostAware, LogEI, Posterior, RandomPolicy, SelectionState, Thompson, candidate_costs
from policies.errors import PolicyConfigError


def _state(probe=0, dose=None):
    n = 5
    return SelectionState(available=np.array([False, True, True, True, True]), measured=np.array([0]),
                          y_measured=np.array([0.0]), grid_shape=(1, n),
                          yx_px=np.c_[np.zeros(n), np.arange(n)].astype(float), step=1,
                          rng=np.random.default_rng(0), yx_m=np.c_[np.zeros(n), np.arange(n) * 10e-9],
                          probe_index=probe, local_dose_e_per_A2=dose)


def test_costs_add_travel_and_dose():
    st = _state(dose=np.array([0, 0, 0, 0, 100.0]))
    c = candidate_costs(st, 0.005, 0.05, 1e7, 1e-3)
    assert c[1] == pytest.approx(0.055 + 0.1)  # 10 nm at 10 ms/nm
    assert c[4] == pytest.approx(0.055 + 0.4 + 0.1)


def test_travel_cost_trades_a_little_improvement_for_a_short_trip():
    post = Posterior(np.array([0, 1.0, 1.0, 1.0, 1.05]), np.full(5, 0.2))
    st = _state(probe=0)
    assert LogEI().select(post, st).indices[0] == 4  # far but slightly better
    cheap = CostAware(LogEI(), overhead_s=0.005, exposure_s=0.05, travel_s_per_m=1e7)
    selection = cheap.select(post, st)
    assert selection.indices[0] == 1  # nearly as good, 30 nm closer
    assert selection.chosen_costs_s[0] == pytest.approx(0.155)
    assert selection.costs_s.shape == (5,) and selection.reason == "acquisition per unit cost"
    # without travel cost it is the plain policy again
    assert CostAware(LogEI(), travel_s_per_m=0.0).select(post, st).indices[0] == 4


def test_dose_cost_avoids_an_irradiated_neighbourhood():
    post = Posterior(np.array([0, 1.0, 1.0, 1.0, 1.0]), np.full(5, 0.2))
    st = _state(dose=np.array([0, 50.0, 50.0, 0.0, 50.0]))
    picks = CostAware(UCB(beta=1.0), dose_weight_s_A2_per_e=1e-2).select(post, st).indices
    assert picks[0] == 3


def test_needs_acquisition_values():
    with pytest.raises(PolicyConfigError, match="acquisition"):
        CostAware(RandomPolicy())
    with pytest.raises(PolicyConfigError, match="acquisition"):  # declares has_acquisition = False
        CostAware(Thompson())
    with pytest.raises(PolicyConfigError, match="travel_s_per_m"):
        CostAware(LogEI(), travel_s_per_m=-1)


def test_exploration_fallback_keeps_the_wrapped_reason_and_reports_costs():
    post = Posterior(np.array([0, 1.0, 1.0, 1.0, 1.05]), np.full(5, 0.2))
    st = _state(probe=0)
    st.y_measured = np.zeros(0)  # nothing measured: log-EI has no values and explores
    policy = CostAware(LogEI(), travel_s_per_m=1e7)
    selection = policy.select(post, st)
    assert selection.reason == "explore: nothing measured" and selection.phase == "explore"
    assert selection.costs_s is not None and selection.costs_s.shape == (5,)
    np.testing.assert_allclose(selection.costs_s, policy.costs(st))
