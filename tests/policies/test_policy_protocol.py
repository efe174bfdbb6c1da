"""policies.protocol: the Selection value and the defaults PolicyBase declares for every member."""

from __future__ import annotations

import numpy as np
import pytest

from policies import (
    PHASES,
    UCB,
    CostAware,
    LogEI,
    MaxUncertainty,
    Policy,
    PolicyBase,
    Posterior,
    RandomPolicy,
    Raster,
    Selection,
    SelectionState,
    SpaceFilling,
    Thompson,
)


def _state(n: int = 4) -> SelectionState:
    return SelectionState(available=np.ones(n, bool), measured=np.zeros(0, np.int64), y_measured=np.zeros(0),
                          grid_shape=(1, n), yx_px=np.stack([np.zeros(n), np.arange(float(n))], 1),
                          step=0, rng=np.random.default_rng(0))


def test_selection_is_a_frozen_value_with_int64_indices_and_chosen_costs():
    sel = Selection(np.array([2, 0], dtype=np.int32), "acquisition per unit cost", "acquisition",
                    np.array([0.1, 0.2, 0.3]))
    assert sel.indices.dtype == np.int64 and sel.indices.tolist() == [2, 0]
    np.testing.assert_allclose(sel.chosen_costs_s, [0.3, 0.1])
    assert Selection(np.array([1]), "random", "baseline").chosen_costs_s is None
    with pytest.raises(AttributeError):
        sel.reason = "changed"  # type: ignore[misc]
    again = sel.with_reason("acquisition (gate removed 3)")
    assert again.reason.endswith("(gate removed 3)") and again.phase == sel.phase
    assert np.array_equal(again.indices, sel.indices)
    assert PHASES == ("acquisition", "explore", "baseline")


@pytest.mark.parametrize("bad, match", [
    (dict(indices=np.array([[1]])), "indices"),
    (dict(indices=np.array([0.5])), "indices"),
    (dict(phase="gated"), "phase"),
    (dict(costs_s=np.ones((2, 2))), "costs_s"),
])
def test_selection_refuses_malformed_values(bad, match):
    args = dict(indices=np.array([0]), reason="r", phase="acquisition", costs_s=None) | bad
    with pytest.raises(ValueError, match=match):
        Selection(**args)


def test_the_base_declares_every_member_with_its_default():
    class Minimal(PolicyBase):
        def select(self, posterior, state, q=1):
            return Selection(np.array([0]), "first")

    p = Minimal()
    assert isinstance(p, Policy)
    flags = (p.needs_model, p.log_acquisition, p.has_acquisition, p.wraps_experiment_policy)
    assert flags == (True, False, False, False)
    state = _state()
    assert p.acquisition(None, state) is None and p.costs(state) is None
    assert p.prepare(object(), None) is None
    assert p.design_weights() is None and p.describe() is None and p.models() == ()
    other = RandomPolicy()
    assert p.switch_policy(other) is other  # a plain policy is simply replaced
    with pytest.raises(NotImplementedError):
        PolicyBase().select(None, state)


@pytest.mark.parametrize("policy, flags, scores_now", [
    (LogEI(), (True, True, True), False),  # nothing measured yet: no incumbent, no values
    (UCB(), (True, False, True), True),
    (MaxUncertainty(), (True, False, True), True),
    (Thompson(), (True, False, False), False),
    (RandomPolicy(), (False, False, False), False),
    (Raster(), (False, False, False), False),
    (SpaceFilling(), (False, False, True), True),
    (CostAware(LogEI()), (True, True, True), False),
    (CostAware(UCB()), (True, False, True), True),
])
def test_declared_flags(policy, flags, scores_now):
    """(needs_model, log_acquisition, has_acquisition) as each policy declares them."""
    assert (policy.needs_model, policy.log_acquisition, policy.has_acquisition) == flags
    values = policy.acquisition(Posterior(np.arange(4.0), np.ones(4)), _state())
    assert (values is not None) == scores_now
