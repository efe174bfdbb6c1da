"""policies.wrapper: a wrapper forwards every member it does not change, and only gate/prior
wrappers survive a mid-run switch of the experiment's policy."""

from __future__ import annotations

import numpy as np
import pytest

from policies import (
    UCB,
    CostAware,
    LogEI,
    PolicyBase,
    PolicyConfigError,
    PolicyWrapper,
    Posterior,
    RandomPolicy,
    Selection,
    SelectionState,
)


class Recording(PolicyBase):
    """A policy whose every member answers something recognisable."""

    needs_model = False
    log_acquisition = True
    has_acquisition = True

    def __init__(self) -> None:
        self.prepared = None

    def select(self, posterior, state, q=1):
        return Selection(np.arange(q), "inner", "baseline", np.ones(state.available.size))

    def acquisition(self, posterior, state):
        return np.full(state.available.size, 7.0)

    def costs(self, state):
        return np.full(state.available.size, 3.0)

    def prepare(self, candidates, overview=None):
        self.prepared = (candidates, overview)

    def design_weights(self):
        return np.array([0.5])

    def describe(self):
        return {"gate": "inner"}


def _state(n=3):
    return SelectionState(available=np.ones(n, bool), measured=np.zeros(0, np.int64), y_measured=np.zeros(0),
                          grid_shape=(1, n), yx_px=np.zeros((n, 2)), step=0, rng=np.random.default_rng(0))


def test_every_member_is_forwarded():
    inner = Recording()
    wrapper = PolicyWrapper(inner)
    assert (wrapper.needs_model, wrapper.log_acquisition, wrapper.has_acquisition) == (False, True, True)
    state = _state()
    sel = wrapper.select(None, state, q=2)
    assert sel.indices.tolist() == [0, 1] and sel.reason == "inner" and sel.phase == "baseline"
    np.testing.assert_array_equal(wrapper.acquisition(None, state), 7.0)
    np.testing.assert_array_equal(wrapper.costs(state), 3.0)
    wrapper.prepare("cands", "overview")
    assert inner.prepared == ("cands", "overview")
    assert wrapper.design_weights().tolist() == [0.5] and wrapper.describe() == {"gate": "inner"}
    assert wrapper.models() == ()


def test_flags_follow_the_wrapped_policy():
    cost = CostAware(LogEI())
    assert cost.log_acquisition and cost.needs_model and cost.has_acquisition
    cost = CostAware(UCB())
    assert not cost.log_acquisition


def test_switch_replaces_a_plain_wrapper_and_keeps_a_gate_or_prior_wrapper():
    cost = CostAware(LogEI())
    ucb = UCB()
    assert cost.switch_policy(ucb) is ucb  # a cost-aware policy is the experiment's policy itself

    class Keeper(PolicyWrapper):
        wraps_experiment_policy = True

    keeper = Keeper(Recording())
    assert keeper.switch_policy(ucb) is keeper and keeper.policy is ucb
    assert keeper.needs_model and not keeper.log_acquisition  # now UCB's flags
    with pytest.raises(PolicyConfigError, match="PolicyBase"):
        keeper.switch_policy(object())


def test_only_policies_are_wrapped():
    with pytest.raises(PolicyConfigError, match="select"):
        PolicyWrapper(object())
    assert PolicyWrapper(RandomPolicy()).select(None, _state(), q=1).reason == "random"
    post = Posterior(np.array([0.0, 1.0, 2.0]), np.ones(3))
    assert PolicyWrapper(UCB()).select(post, _state()).indices.tolist() == [2]
