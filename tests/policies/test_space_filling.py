"""SpaceFilling: greedy maximin over candidate pixels."""

from __future__ import annotations

import numpy as np

from policies import SelectionState, SpaceFilling


def grid_state(rows: int, cols: int, available=None, measured=(), pending=(), seed: int = 0,
               pitch_px: float = 4.0) -> SelectionState:
    n = rows * cols
    r, c = np.divmod(np.arange(n), cols)
    avail = np.ones(n, dtype=bool) if available is None else np.asarray(available, dtype=bool)
    return SelectionState(available=avail, measured=np.asarray(measured, dtype=np.int64),
                          y_measured=np.zeros(len(measured)), grid_shape=(rows, cols),
                          yx_px=pitch_px * np.stack([r, c], axis=1).astype(np.float64), step=0,
                          rng=np.random.default_rng(seed), pending=np.asarray(pending, dtype=np.int64))


def test_first_pick_is_grid_centre():
    policy = SpaceFilling()
    selection = policy.select(None, grid_state(5, 5))
    assert selection.indices[0] == 12
    assert policy.needs_model is False and selection.reason == "space filling"


def test_centre_tie_broken_by_rng():
    # A 4 x 4 grid has four centre candidates: 5, 6, 9, 10.
    picks = {int(SpaceFilling().select(None, grid_state(4, 4, seed=s)).indices[0]) for s in range(40)}
    assert picks == {5, 6, 9, 10}


def test_picks_farthest_from_measured_and_pending():
    # Measured at the top-left corner of a 5 x 5 grid: the farthest is the bottom-right corner.
    assert SpaceFilling().select(None, grid_state(5, 5, measured=[0])).indices[0] == 24
    # With the bottom-right corner pending too, the two remaining corners tie; both get chosen.
    avail = np.ones(25, dtype=bool)
    avail[[0, 24]] = False
    picks = {int(SpaceFilling().select(None, grid_state(5, 5, available=avail, measured=[0], pending=[24],
                                                        seed=s)).indices[0]) for s in range(30)}
    assert picks == {4, 20}


def test_batch_is_greedy_maximin():
    # 1 x 9 row, measured at 0: next the far end (8), then the middle (4), then 2 or 6.
    picks = SpaceFilling().select(None, grid_state(1, 9, measured=[0], available=np.arange(9) != 0), q=3).indices
    assert picks[:2].tolist() == [8, 4] and picks[2] in (2, 6)


def test_farthest_unavailable_candidate_skipped():
    avail = np.ones(25, dtype=bool)
    avail[[0, 24]] = False
    pick = SpaceFilling().select(None, grid_state(5, 5, available=avail, measured=[0])).indices[0]
    assert pick in (19, 23)  # next farthest from 0, distance sqrt(16 + 9) pitches


def test_acquisition_is_distance_to_nearest_reference():
    state = grid_state(1, 5, measured=[0], available=np.arange(5) != 0, pitch_px=2.0)
    acq = SpaceFilling().acquisition(None, state)
    assert np.isnan(acq[0])
    np.testing.assert_allclose(acq[1:], [2.0, 4.0, 6.0, 8.0])
    fresh = SpaceFilling().acquisition(None, grid_state(1, 5, pitch_px=2.0))
    np.testing.assert_allclose(fresh, [-4.0, -2.0, 0.0, -2.0, -4.0])
