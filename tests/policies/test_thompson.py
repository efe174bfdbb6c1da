"""Thompson sampling: joint draws, distinct batches, restricted draws, fallback without sampler."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from scipy import special

from policies import PolicyConfigError, PolicyInputError, Posterior, SelectionState, Thompson


def row_state(n: int, maximize: bool = True, available=None, seed: int = 0) -> SelectionState:
    avail = np.ones(n, dtype=bool) if available is None else np.asarray(available, dtype=bool)
    return SelectionState(available=avail, measured=np.zeros(1, dtype=np.int64),
                          y_measured=np.zeros(1), grid_shape=(1, n),
                          yx_px=np.stack([np.zeros(n), np.arange(n, dtype=np.float64)], axis=1),
                          step=1, rng=np.random.default_rng(seed), maximize=maximize)


def spike_sampler(peak: int):
    """Draw j is -|index - peak| at every candidate (ties broken by the lower index)."""
    def sampler(indices: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.tile(-np.abs(indices - peak).astype(np.float64), (n, 1))
    return sampler


def gaussian_sampler(mean: np.ndarray, cov: np.ndarray):
    def sampler(indices: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        chol = np.linalg.cholesky(cov[np.ix_(indices, indices)])
        return mean[indices] + rng.standard_normal((n, indices.size)) @ chol.T
    return sampler


def test_spike_is_picked_against_the_mean():
    post = Posterior(mean=np.arange(10.0), std=np.ones(10), sampler=spike_sampler(4))
    policy = Thompson()
    selection = policy.select(post, row_state(10))
    assert selection.indices[0] == 4
    assert selection.reason == "acquisition" and not policy.has_acquisition
    assert policy.acquisition(post, row_state(10)) is None


def test_batch_takes_next_best_when_draws_repeat():
    post = Posterior(mean=np.zeros(12), std=np.ones(12), sampler=spike_sampler(7))
    assert Thompson().select(post, row_state(12), q=3).indices.tolist() == [7, 6, 8]
    # 7 unavailable: never chosen although every draw peaks there.
    assert Thompson().select(post, row_state(12, available=np.arange(12) != 7), q=3).indices.tolist() == [6, 8, 5]


def test_minimise_takes_the_lowest_draw():
    post = Posterior(mean=np.zeros(10), std=np.ones(10), sampler=spike_sampler(4))
    # -|i - 4| is lowest at the far end (index 9).
    assert Thompson().select(post, row_state(10, maximize=False)).indices[0] == 9


def test_pick_frequency_matches_probability_of_being_max():
    mean = np.array([0.0, 0.5])
    cov = np.array([[1.0, 0.5], [0.5, 1.0]])
    post = Posterior(mean=mean, std=np.ones(2), sampler=gaussian_sampler(mean, cov))
    policy = Thompson()
    n = 2000
    hits = sum(int(policy.select(post, row_state(2, seed=s)).indices[0] == 1) for s in range(n))
    p_true = special.ndtr(0.5 / np.sqrt(2.0 - 2 * 0.5))  # P(f1 > f0), var(f1 - f0) = 1
    assert abs(hits / n - p_true) < 0.03


def test_fallback_without_sampler_draws_independently_and_warns_once(caplog):
    post = Posterior(mean=np.array([0.0, 0.5]), std=np.ones(2))
    policy = Thompson()
    n = 2000
    with caplog.at_level(logging.WARNING, logger="policies.thompson"):
        hits = sum(int(policy.select(post, row_state(2, seed=s)).indices[0] == 1) for s in range(n))
    p_indep = special.ndtr(0.5 / np.sqrt(2.0))  # independent draws: var(f1 - f0) = 2
    assert abs(hits / n - p_indep) < 0.03
    warnings = [r for r in caplog.records if "no joint sampler" in r.getMessage()]
    assert len(warnings) == 1


def test_same_seed_same_choice():
    mean = np.linspace(0, 1, 30)
    post = Posterior(mean=mean, std=np.ones(30), sampler=gaussian_sampler(mean, np.eye(30)))
    a = Thompson().select(post, row_state(30, seed=5), q=4).indices
    b = Thompson().select(post, row_state(30, seed=5), q=4).indices
    assert a.tolist() == b.tolist() and len(set(a.tolist())) == 4


def test_restricted_joint_draw_keeps_top_ucb_plus_random_rest():
    n = 100
    seen: list[np.ndarray] = []
    mean = np.arange(n, dtype=np.float64)

    def sampler(indices, k, rng):
        seen.append(indices.copy())
        return np.tile(mean[indices], (k, 1))

    post = Posterior(mean=mean, std=np.ones(n), sampler=sampler)
    avail = np.ones(n, dtype=bool)
    avail[99] = False
    policy = Thompson(n_candidates_joint=10)
    assert policy.select(post, row_state(n, available=avail)).indices[0] == 98
    sub = seen[-1]
    assert sub.size == 10 and np.all(np.diff(sub) > 0) and avail[sub].all()
    assert set(range(94, 99)) <= set(sub.tolist())  # top 5 by UCB
    policy.select(post, row_state(n, available=avail, seed=1))
    assert seen[-1].tolist() != sub.tolist()  # the random half changes with the generator
    # q larger than n_candidates_joint widens the draw to q candidates.
    picks = Thompson(n_candidates_joint=2).select(post, row_state(n), q=4).indices
    assert seen[-1].size == 4 and picks[:2].tolist() == [99, 98]
    assert sorted(picks.tolist()) == seen[-1].tolist()  # two top-UCB + two random, all used


def test_minimise_restriction_screens_by_lower_bound():
    n = 50
    seen: list[np.ndarray] = []
    mean = np.arange(n, dtype=np.float64)

    def sampler(indices, k, rng):
        seen.append(indices.copy())
        return np.tile(mean[indices], (k, 1))

    post = Posterior(mean=mean, std=np.ones(n), sampler=sampler)
    assert Thompson(n_candidates_joint=4).select(post, row_state(n, maximize=False)).indices[0] == 0
    assert {0, 1} <= set(seen[-1].tolist())


def test_sampler_with_wrong_shape_is_refused():
    post = Posterior(mean=np.zeros(5), std=np.ones(5), sampler=lambda idx, k, rng: np.zeros((k, 2)))
    with pytest.raises(PolicyInputError, match="posterior.sampler"):
        Thompson().select(post, row_state(5))


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "many"])
def test_bad_n_candidates_joint(value):
    with pytest.raises(PolicyConfigError, match="n_candidates_joint"):
        Thompson(n_candidates_joint=value)
