"""LogEI: stable log expected improvement and the choices it makes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from policies import LogEI, PolicyConfigError, Posterior, SelectionState, log_expected_improvement, log_h


def make_state(n: int, y: list[float] | None = None, maximize: bool = True, available=None,
               seed: int = 0) -> SelectionState:
    avail = np.ones(n, dtype=bool) if available is None else np.asarray(available, dtype=bool)
    y = [0.0] if y is None else y
    return SelectionState(available=avail, measured=np.arange(len(y), dtype=np.int64) % n,
                          y_measured=np.asarray(y, dtype=np.float64), grid_shape=(1, n),
                          yx_px=np.stack([np.zeros(n), 10.0 * np.arange(n)], axis=1), step=3,
                          rng=np.random.default_rng(seed), maximize=maximize)


def direct_log_ei(mean, std, best):
    u = (mean - best) / std
    return np.log(std * (np.exp(-0.5 * u * u) / math.sqrt(2 * math.pi) + u * special.ndtr(u)))


def test_log_h_matches_direct_float64_where_ei_is_representable():
    u = np.linspace(-8.0, 8.0, 801)
    direct = np.log(np.exp(-0.5 * u * u) / math.sqrt(2 * math.pi) + u * special.ndtr(u))
    # Direct evaluation loses digits to cancellation as u -> -8; 1e-9 relative is still tight.
    np.testing.assert_allclose(log_h(u), direct, rtol=1e-9, atol=1e-12)


def test_log_h_against_high_precision_far_in_the_tail():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    u = np.concatenate([-np.logspace(0, 9, 60), [-1.0 - 1e-9, -999.9, -1000.0, -1000.1]])
    ref = np.array([float(mpmath.log(mpmath.npdf(v) + mpmath.mpf(v) * mpmath.ncdf(v))) for v in u])
    np.testing.assert_allclose(log_h(u), ref, rtol=1e-13)


def test_log_ei_equals_direct_log_ei_with_scale_and_offset():
    rng = np.random.default_rng(1)
    mean = rng.normal(0, 2, 200)
    std = rng.uniform(0.1, 3.0, 200)
    got = log_expected_improvement(mean, std, best_f=0.5)
    np.testing.assert_allclose(got, direct_log_ei(mean, std, 0.5), rtol=1e-9, atol=1e-12)


def test_ranking_survives_where_plain_ei_underflows():
    mean = np.array([-40.0, -45.0, -60.0, -200.0])
    std = np.ones(4)
    with np.errstate(all="ignore"):
        plain = std * (np.exp(-0.5 * mean**2) / math.sqrt(2 * math.pi) + mean * special.ndtr(mean))
    assert np.all(plain <= 0.0)  # plain EI has no ranking left here
    lei = log_expected_improvement(mean, std, best_f=0.0)
    assert np.all(np.isfinite(lei))
    assert np.all(np.diff(lei) < 0)  # strictly decreasing with the distance to the incumbent
    post = Posterior(mean=mean[::-1].copy(), std=std)
    assert LogEI().select(post, make_state(4, y=[0.0])).indices[0] == 3  # the -40 candidate


def test_zero_std_gives_exact_improvement_or_minus_inf():
    out = log_expected_improvement(np.array([2.0, -1.0, 1.0]), np.array([0.0, 0.0, 1e-300]), best_f=1.0)
    assert out[0] == pytest.approx(0.0)  # log(2 - 1)
    assert out[1] == -np.inf
    assert np.isfinite(out[2])


def test_xi_raises_the_bar():
    base = log_expected_improvement(np.array([1.0]), np.array([1.0]), best_f=0.0)
    shifted = log_expected_improvement(np.array([1.0]), np.array([1.0]), best_f=0.0, xi=0.5)
    np.testing.assert_allclose(shifted, log_expected_improvement(np.array([0.5]), np.array([1.0]), 0.0))
    assert shifted[0] < base[0]


def test_picks_high_std_when_means_tie_and_high_mean_when_stds_tie():
    state = make_state(3, y=[1.0])
    assert LogEI().select(Posterior(mean=np.zeros(3), std=np.array([0.1, 0.5, 0.2])), state).indices[0] == 1
    assert LogEI().select(Posterior(mean=np.array([0.2, -0.1, 0.9]), std=np.full(3, 0.3)), state).indices[0] == 2


def test_minimise_direction():
    post = Posterior(mean=np.array([0.2, -0.1, 0.9]), std=np.full(3, 0.3))
    state = make_state(3, y=[0.5, 1.5], maximize=False)
    assert LogEI().select(post, state).indices[0] == 1
    acq = LogEI().acquisition(post, state)
    np.testing.assert_allclose(acq, direct_log_ei(-post.mean, post.std, -0.5), rtol=1e-9)


def test_unavailable_best_is_never_chosen():
    post = Posterior(mean=np.array([5.0, 0.0, 1.0]), std=np.full(3, 0.3))
    state = make_state(3, y=[0.0], available=[False, True, True])
    policy = LogEI()
    selection = policy.select(post, state)
    assert selection.indices[0] == 2
    assert selection.reason == "acquisition"
    acq = policy.acquisition(post, state)
    assert np.isnan(acq[0]) and np.isfinite(acq[1:]).all()


def test_nothing_measured_explores_space_filling():
    post = Posterior(mean=np.arange(5.0), std=np.ones(5))
    state = make_state(5, y=[])
    policy = LogEI()
    selection = policy.select(post, state)
    assert selection.indices[0] == 2  # the centre of a 1 x 5 row, not the best mean (4)
    assert selection.reason == "explore: nothing measured" and selection.phase == "explore"
    assert policy.acquisition(post, state) is None


@pytest.mark.parametrize("kwargs, name", [({"xi": -0.1}, "xi"), ({"xi": float("nan")}, "xi"),
                                          ({"min_separation_px": -1}, "min_separation_px"),
                                          ({"xi": "a"}, "xi")])
def test_bad_settings_name_the_argument(kwargs, name):
    with pytest.raises(PolicyConfigError, match=name):
        LogEI(**kwargs)
    assert issubclass(PolicyConfigError, ValueError)
