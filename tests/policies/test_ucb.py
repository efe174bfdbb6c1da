"""UCB and MaxUncertainty choices, acquisition values, and greedy batches with separation."""

from __future__ import annotations

import numpy as np
import pytest

from policies import UCB, MaxUncertainty, PolicyConfigError, Posterior, SelectionState


def row_state(n: int, maximize: bool = True, available=None, pending=(), spacing_px: float = 1.0,
              seed: int = 0) -> SelectionState:
    """n candidates on one row, ``spacing_px`` apart, nothing measured."""
    avail = np.ones(n, dtype=bool) if available is None else np.asarray(available, dtype=bool)
    return SelectionState(available=avail, measured=np.zeros(0, dtype=np.int64),
                          y_measured=np.zeros(0), grid_shape=(1, n),
                          yx_px=np.stack([np.zeros(n), spacing_px * np.arange(n)], axis=1), step=0,
                          rng=np.random.default_rng(seed), maximize=maximize,
                          pending=np.asarray(pending, dtype=np.int64))


MEAN = np.array([0.0, 1.0, 0.5, -1.0])
STD = np.array([0.1, 0.1, 0.6, 2.0])


def test_beta_zero_picks_best_mean_and_large_beta_picks_largest_std():
    post = Posterior(mean=MEAN, std=STD)
    assert UCB(beta=0.0).select(post, row_state(4)).indices[0] == 1
    assert UCB(beta=100.0).select(post, row_state(4)).indices[0] == 3
    assert UCB(beta=0.25).select(post, row_state(4)).indices[0] == 1  # 1.05 vs 0.8 vs 0.0


def test_sqrt_beta_convention():
    post = Posterior(mean=MEAN, std=STD)
    np.testing.assert_allclose(UCB(beta=4.0).acquisition(post, row_state(4)), MEAN + 2.0 * STD)


def test_minimise_uses_negated_lower_bound():
    post = Posterior(mean=MEAN, std=STD)
    state = row_state(4, maximize=False)
    np.testing.assert_allclose(UCB(beta=1.0).acquisition(post, state), -MEAN + STD)
    assert UCB(beta=0.0).select(post, state).indices[0] == 3  # lowest mean
    assert UCB(beta=0.0).select(post, row_state(4, maximize=False, available=[1, 1, 1, 0])).indices[0] == 0


def test_unavailable_candidates_never_chosen_and_nan_in_acquisition():
    post = Posterior(mean=MEAN, std=STD)
    state = row_state(4, available=[True, False, True, False])
    policy = UCB(beta=0.0)
    assert policy.select(post, state, q=2).indices.tolist() == [2, 0]
    acq = policy.acquisition(post, state)
    assert np.isnan(acq[[1, 3]]).all()
    np.testing.assert_allclose(acq[[0, 2]], MEAN[[0, 2]])


def test_max_uncertainty_picks_largest_std_in_either_direction():
    post = Posterior(mean=np.array([9.0, 0.0, -9.0]), std=np.array([0.2, 0.7, 0.3]))
    for maximize in (True, False):
        policy = MaxUncertainty()
        assert policy.select(post, row_state(3, maximize=maximize)).indices[0] == 1
        np.testing.assert_allclose(policy.acquisition(post, row_state(3)), post.std)
    assert MaxUncertainty().select(post, row_state(3, available=[1, 0, 1])).indices[0] == 2


def test_top_q_is_distinct_and_ordered():
    post = Posterior(mean=np.array([0.0, 5.0, 4.0, 3.0, 2.0, 1.0]), std=np.zeros(6))
    picks = UCB(beta=0.0).select(post, row_state(6), q=4).indices
    assert picks.dtype == np.int64
    assert picks.tolist() == [1, 2, 3, 4]


def test_q_larger_than_available_returns_all_available():
    post = Posterior(mean=np.array([0.0, 5.0, 4.0]), std=np.zeros(3))
    assert sorted(UCB(beta=0.0).select(post, row_state(3, available=[1, 0, 1]), q=5).indices.tolist()) == [0, 2]


def test_min_separation_between_batch_members_and_from_pending():
    # Candidates 1 px apart; the best values sit next to each other.
    mean = np.array([0.0, 0.0, 9.0, 8.0, 7.0, 6.0, 0.0, 0.0, 5.0, 0.0])
    post = Posterior(mean=mean, std=np.zeros(10))
    policy = UCB(beta=0.0, min_separation_px=3.0)
    selection = policy.select(post, row_state(10), q=3)
    picks = selection.indices
    assert picks.tolist() == [2, 5, 8]  # 3 and 4 are closer than 3 px to 2
    assert selection.reason == "acquisition"
    gaps = np.abs(np.subtract.outer(picks, picks))[np.triu_indices(3, 1)]
    assert gaps.min() >= 3
    # Pending candidate 5 blocks 3..7 as well (the loop marks pending unavailable).
    state = row_state(10, pending=[5], available=[1, 1, 1, 1, 1, 0, 1, 1, 1, 1])
    assert policy.select(post, state, q=2).indices.tolist() == [2, 8]
    # min_separation 0 is the plain top-q.
    assert UCB(beta=0.0).select(post, row_state(10), q=3).indices.tolist() == [2, 3, 4]


def test_min_separation_relaxed_keeps_batch_size():
    post = Posterior(mean=np.array([3.0, 2.0, 1.0]), std=np.array([0.1, 0.3, 0.2]))
    ucb = UCB(beta=0.0, min_separation_px=50.0)
    relaxed = ucb.select(post, row_state(3), q=2)
    assert relaxed.indices.tolist() == [0, 1]
    assert relaxed.reason == "acquisition (min_separation relaxed)" and relaxed.phase == "acquisition"
    mu = MaxUncertainty(min_separation_px=1.5)
    relaxed = mu.select(post, row_state(3, spacing_px=1.0), q=2)
    assert relaxed.indices.tolist() == [1, 2]
    assert relaxed.reason == "acquisition (min_separation relaxed)"
    spaced = mu.select(post, row_state(3, spacing_px=2.0), q=2)
    assert spaced.indices.tolist() == [1, 2] and spaced.reason == "acquisition"


@pytest.mark.parametrize("kwargs, name", [({"beta": -1.0}, "beta"), ({"beta": float("inf")}, "beta"),
                                          ({"beta": True}, "beta"),
                                          ({"min_separation_px": -0.5}, "min_separation_px")])
def test_bad_ucb_settings(kwargs, name):
    with pytest.raises(PolicyConfigError, match=name):
        UCB(**kwargs)


def test_bad_max_uncertainty_setting():
    with pytest.raises(PolicyConfigError, match="min_separation_px"):
        MaxUncertainty(min_separation_px=float("nan"))
