"""Shared behaviour: exploration fallback, NoCandidatesLeft, argument and state checks."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from policies import (
    UCB,
    LogEI,
    MaxUncertainty,
    NoCandidatesLeft,
    Policy,
    PolicyConfigError,
    PolicyInputError,
    Posterior,
    RandomPolicy,
    Raster,
    SelectionState,
    SpaceFilling,
    Thompson,
)

MODEL_POLICIES = [LogEI, UCB, MaxUncertainty, Thompson]
ALL_POLICIES = MODEL_POLICIES + [RandomPolicy, Raster, SpaceFilling]


def grid_state(rows: int = 5, cols: int = 5, available=None, measured=(0,), step: int = 2,
               seed: int = 0, maximize: bool = True) -> SelectionState:
    n = rows * cols
    r, c = np.divmod(np.arange(n), cols)
    avail = np.ones(n, dtype=bool) if available is None else np.asarray(available, dtype=bool)
    return SelectionState(available=avail, measured=np.asarray(measured, dtype=np.int64),
                          y_measured=np.linspace(0.0, 1.0, len(measured)), grid_shape=(rows, cols),
                          yx_px=np.stack([r, c], axis=1).astype(np.float64), step=step,
                          rng=np.random.default_rng(seed), maximize=maximize)


def peaked_posterior(n: int = 25, degenerate: bool = False) -> Posterior:
    mean = np.zeros(n)
    mean[6] = 5.0  # every model-based criterion wants candidate 6 (next to measured 0)
    std = np.full(n, 0.1)
    std[6] = 3.0

    def sampler(idx, k, rng):
        return np.tile(mean[idx], (k, 1))

    return Posterior(mean=mean, std=std, sampler=sampler, degenerate=degenerate)


@pytest.mark.parametrize("cls", ALL_POLICIES)
def test_satisfies_protocol(cls):
    assert isinstance(cls(), Policy)
    assert cls.needs_model is (cls in MODEL_POLICIES)


@pytest.mark.parametrize("cls", MODEL_POLICIES)
def test_healthy_posterior_is_exploited(cls):
    policy = cls()
    selection = policy.select(peaked_posterior(), grid_state())
    assert selection.indices[0] == 6
    assert selection.reason == "acquisition" and selection.phase == "acquisition"


@pytest.mark.parametrize("cls", MODEL_POLICIES)
def test_degenerate_posterior_delegates_to_space_filling(cls, caplog):
    policy = cls()
    state = grid_state(available=np.arange(25) != 0)
    with caplog.at_level(logging.INFO, logger="policies.model_policy"):
        first = policy.select(peaked_posterior(degenerate=True), state)
        policy.select(peaked_posterior(degenerate=True), grid_state(available=np.arange(25) != 0))
    assert first.indices[0] == 24  # farthest from the measured corner, not the exploit choice 6
    assert first.reason == "explore: degenerate posterior" and first.phase == "explore"
    logged = [r for r in caplog.records if "degenerate" in r.getMessage()]
    assert len(logged) == 1  # once per step
    with caplog.at_level(logging.INFO, logger="policies.model_policy"):
        policy.select(peaked_posterior(degenerate=True), grid_state(step=3))
    assert len([r for r in caplog.records if "degenerate" in r.getMessage()]) == 2
    # A healthy posterior afterwards goes back to the acquisition.
    again = policy.select(peaked_posterior(), state)
    assert again.indices[0] == 6 and again.reason == "acquisition"


@pytest.mark.parametrize("cls", MODEL_POLICIES)
def test_no_posterior_explores(cls):
    policy = cls()
    selection = policy.select(None, grid_state(measured=()), q=2)
    assert selection.indices[0] == 12
    assert selection.reason == "explore: no posterior" and selection.phase == "explore"


@pytest.mark.parametrize("cls", MODEL_POLICIES)
def test_degenerate_batch_is_distinct_and_available(cls):
    avail = np.ones(25, dtype=bool)
    avail[[0, 24, 20, 4]] = False
    picks = cls().select(peaked_posterior(degenerate=True), grid_state(available=avail), q=5).indices
    assert len(set(picks.tolist())) == 5 and avail[picks].all()


@pytest.mark.parametrize("cls", ALL_POLICIES)
def test_no_candidates_left(cls):
    post = peaked_posterior()
    with pytest.raises(NoCandidatesLeft):
        cls().select(post, grid_state(available=np.zeros(25, dtype=bool)))
    # Only pending candidates left counts as nothing left too.
    state = grid_state(available=np.arange(25) == 3)
    state.pending = np.array([3], dtype=np.int64)
    with pytest.raises(NoCandidatesLeft):
        cls().select(post, state)


@pytest.mark.parametrize("cls", ALL_POLICIES)
@pytest.mark.parametrize("q", [0, -1, 1.5, True])
def test_bad_q(cls, q):
    with pytest.raises(PolicyConfigError, match="q="):
        cls().select(peaked_posterior(), grid_state(), q=q)


@pytest.mark.parametrize("cls", ALL_POLICIES)
def test_inconsistent_state_is_refused(cls):
    with pytest.raises(PolicyInputError, match="posterior covers"):
        cls().select(peaked_posterior(n=24), grid_state())
    with pytest.raises(PolicyInputError, match="state.available"):
        state = grid_state()
        state.available = np.ones(25, dtype=int)  # indices or ints instead of a bool mask
        cls().select(peaked_posterior(), state)
    with pytest.raises(PolicyInputError, match="state.measured"):
        cls().select(peaked_posterior(), grid_state(measured=(0, 25)))
    with pytest.raises(PolicyInputError, match="state.yx_px"):
        state = grid_state()
        state.yx_px = state.yx_px[:, :1]
        cls().select(peaked_posterior(), state)


@pytest.mark.parametrize("cls", ALL_POLICIES)
def test_random_batches_only_available_distinct(cls):
    rng = np.random.default_rng(11)
    for trial in range(5):
        avail = rng.random(25) < 0.5
        avail[7] = True
        mean = rng.normal(size=25)
        post = Posterior(mean=mean, std=rng.uniform(0, 1, 25),
                         sampler=lambda idx, k, g, mean=mean: mean[idx] + g.standard_normal((k, idx.size)))
        picks = cls().select(post, grid_state(available=avail, seed=trial), q=4).indices
        assert picks.dtype == np.int64
        assert avail[picks].all() and len(set(picks.tolist())) == picks.size == min(4, avail.sum())
