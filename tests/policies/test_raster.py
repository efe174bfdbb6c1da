"""policies.raster: the raster-scan baseline."""

from __future__ import annotations

import numpy as np
import pytest

from policies import NoCandidatesLeft, PolicyConfigError, PolicyInputError, Raster, SelectionState, raster_order


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


def run_to_end(policy, rows: int, cols: int) -> list[int]:
    avail = np.ones(rows * cols, dtype=bool)
    seq: list[int] = []
    while avail.any():
        i = int(policy.select(None, grid_state(rows, cols, available=avail, measured=seq)).indices[0])
        assert avail[i]
        avail[i] = False
        seq.append(i)
    with pytest.raises(NoCandidatesLeft):
        policy.select(None, grid_state(rows, cols, available=avail, measured=seq))
    return seq


def test_raster_row_order_on_3x4():
    assert run_to_end(Raster(order="row"), 3, 4) == list(range(12))


def test_raster_serpentine_order_on_3x4():
    assert run_to_end(Raster(order="serpentine"), 3, 4) == [0, 1, 2, 3, 7, 6, 5, 4, 8, 9, 10, 11]
    assert raster_order((2, 3), "serpentine").tolist() == [0, 1, 2, 5, 4, 3]


def test_raster_skips_unavailable_and_pending_and_batches():
    avail = np.ones(12, dtype=bool)
    avail[[0, 1, 5]] = False
    policy = Raster(order="serpentine")
    selection = policy.select(None, grid_state(3, 4, available=avail, pending=[2]), q=3)
    assert selection.indices.tolist() == [3, 7, 6]
    assert policy.needs_model is False and selection.reason == "raster" and selection.phase == "baseline"
    assert policy.acquisition(None, grid_state(3, 4)) is None


def test_raster_with_remeasuring_sweeps_again():
    # Everything measured once and still available, 0 and 1 twice: the next sweep starts at 2.
    measured = list(range(12)) + [0, 1]
    assert Raster().select(None, grid_state(3, 4, measured=measured), q=2).indices.tolist() == [2, 3]


def test_raster_bad_settings_and_grid():
    with pytest.raises(PolicyConfigError, match="order"):
        Raster(order="spiral")
    with pytest.raises(PolicyInputError, match="grid_shape"):
        Raster().select(None, grid_state(3, 4, grid_shape=(4, 4)))
