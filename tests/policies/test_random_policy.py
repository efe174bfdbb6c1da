"""policies.random_policy: the uniform random baseline."""

from __future__ import annotations

import numpy as np

from policies import RandomPolicy, SelectionState


def grid_state(rows: int, cols: int, available=None, measured=(), pending=(), seed: int = 0,
               grid_shape=None) -> SelectionState:
    n = rows * cols
    r, c = np.divmod(np.arange(n), cols)
    avail = np.ones(n, dtype=bool) if available is None else np.asarray(available, dtype=bool)
    return SelectionState(available=avail, measured=np.asarray(measured, dtype=np.int64),
                          y_measured=np.zeros(len(measured)),
                          grid_shape=grid_shape or (rows, cols),
                          yx_px=np.stack([4.0 * r, 4.0 * c], axis=1).astype(np.float64), step=0,
                          rng=np.random.default_rng(seed), pending=np.asarray(pending, dtype=np.int64))


def test_random_covers_all_candidates_uniformly():
    policy = RandomPolicy()
    state = grid_state(3, 4, seed=7)
    counts = np.bincount([int(policy.select(None, state).indices[0]) for _ in range(6000)], minlength=12)
    assert counts.min() > 400 and counts.max() < 600  # expectation 500, std about 21
    selection = policy.select(None, state)
    assert policy.needs_model is False and selection.reason == "random" and selection.phase == "baseline"
    assert policy.acquisition(None, state) is None


def test_random_reproducible_distinct_and_only_available():
    avail = np.arange(12) % 3 != 0
    a = RandomPolicy().select(None, grid_state(3, 4, available=avail, pending=[1], seed=3), q=5).indices
    b = RandomPolicy().select(None, grid_state(3, 4, available=avail, pending=[1], seed=3), q=5).indices
    c = RandomPolicy().select(None, grid_state(3, 4, available=avail, pending=[1], seed=4), q=5).indices
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()
    assert len(set(a.tolist())) == 5 and avail[a].all() and 1 not in a.tolist()
    # More asked than available: all of them, once each.
    assert sorted(RandomPolicy().select(None, grid_state(3, 4, available=avail), q=50).indices.tolist()) == \
        np.flatnonzero(avail).tolist()
