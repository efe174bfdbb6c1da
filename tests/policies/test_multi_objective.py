"""Pareto fronts, exact 2-D hypervolume (improvement), EHVI and the scalarised option."""

import numpy as np
import pytest

from policies import (
    EHVI,
    UCB,
    LogEI,
    MaxUncertainty,
    MultiPosterior,
    Posterior,
    Scalarised,
    SelectionState,
    Thompson,
    hypervolume_2d,
    hypervolume_improvement_2d,
    pareto_mask,
)
from policies.errors import PolicyInputError


def test_pareto_mask_and_hypervolume_by_hand():
    Y = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [1.5, 1.5], [np.nan, 9.0]])
    assert pareto_mask(Y).tolist() == [True, True, True, False, False]
    # staircase over ref (0, 0): 1*3 + 1*2 + 1*1
    assert hypervolume_2d(Y, np.zeros(2)) == pytest.approx(6.0)
    assert hypervolume_2d(np.zeros((0, 2)), np.zeros(2)) == 0.0


def test_hypervolume_improvement_equals_difference_of_volumes():
    rng = np.random.default_rng(0)
    front = rng.random((6, 2))
    ref = np.array([-0.1, -0.2])
    P = rng.random((50, 2)) * 1.2
    hvi = hypervolume_improvement_2d(P, front, ref)
    base = hypervolume_2d(front, ref)
    direct = [hypervolume_2d(np.vstack([front, p]), ref) - base for p in P]
    assert np.allclose(hvi, direct)
    assert np.all(hvi >= 0)


def _state(n, Y, maximize=True):
    return SelectionState(available=np.ones(n, bool), measured=np.arange(len(Y)), y_measured=np.asarray(Y),
                          grid_shape=(1, n), yx_px=np.c_[np.zeros(n), np.arange(n)].astype(float),
                          step=len(Y), rng=np.random.default_rng(1), maximize=maximize)


def _multi(means, stds):
    means, stds = np.asarray(means, float), np.asarray(stds, float)
    return MultiPosterior(tuple(Posterior(means[:, j], stds[:, j]) for j in range(means.shape[1])))


def test_ehvi_prefers_the_point_that_extends_the_front():
    Y = [[1.0, 0.0], [0.0, 1.0]]
    post = _multi([[0.5, 0.5], [0.9, 0.9], [0.2, 0.2], [1.5, 1.5]], np.full((4, 2), 1e-3))
    state = _state(4, Y)
    state.available[:] = True
    assert EHVI().select(post, state).indices[0] == 3
    state.available[3] = False
    assert EHVI().select(post, state).indices[0] == 1  # (0.9, 0.9) adds more than (0.5, 0.5)
    # minimising: flip everything, the same point wins
    mpost = _multi(-np.array([[0.5, 0.5], [0.9, 0.9], [0.2, 0.2], [1.5, 1.5]]), np.full((4, 2), 1e-3))
    mstate = _state(4, -np.array(Y), maximize=False)
    assert EHVI().select(mpost, mstate).indices[0] == 3


def test_ehvi_values_uncertainty_when_means_are_dominated():
    Y = [[1.0, 1.0]]
    post = _multi([[0.5, 0.5], [0.5, 0.5]], [[0.01, 0.01], [1.0, 1.0]])
    assert EHVI(n_samples=512).select(post, _state(2, Y)).indices[0] == 1


def test_ehvi_refuses_a_scalar_posterior():
    with pytest.raises(PolicyInputError, match="one posterior"):
        EHVI().select(Posterior(np.zeros(3), np.ones(3)), _state(3, [[0.0, 0.0]]))


@pytest.mark.parametrize("make", [lambda: UCB(), lambda: MaxUncertainty(), lambda: Thompson()],
                         ids=["ucb", "max_uncertainty", "thompson"])
def test_a_single_objective_policy_refuses_a_vector_rewards_posterior(make):
    # The contract hands select a MultiPosterior on a vector reward: a one-objective policy says so
    # (before: UCB ranked on a flattened (n, 2) mean, Thompson failed on a missing sampler).
    post = _multi(np.zeros((3, 2)), np.ones((3, 2)))
    with pytest.raises(PolicyInputError, match="handles one objective.*ehvi or policy=scalarised"):
        make().select(post, _state(3, [[0.0, 0.0]]))


def test_scalarised_is_an_exact_gaussian_and_picks_the_weighted_best():
    Y = np.array([[0.0, 10.0], [1.0, 0.0], [2.0, 5.0]])
    post = _multi([[0, 10], [1, 0], [2, 5], [3.0, 0.0], [0.0, 30.0]], np.full((5, 2), 0.1))

    def state():
        s = _state(5, Y)
        s.available[:3] = False
        return s

    only_first = Scalarised(LogEI(), weights=[1.0, 0.0])
    only_second = Scalarised(LogEI(), weights=[0.0, 1.0])
    assert only_first.select(post, state()).indices[0] == 3
    assert only_second.select(post, state()).indices[0] == 4
    scalar, sstate = Scalarised(weights=[1.0, 1.0]).scalarise(post, state())
    sd = Y.std(axis=0)
    assert scalar.std[3] == pytest.approx(np.sqrt((0.1 / sd[0]) ** 2 * 0.25 + (0.1 / sd[1]) ** 2 * 0.25))
    assert sstate.y_measured.shape == (3,)
