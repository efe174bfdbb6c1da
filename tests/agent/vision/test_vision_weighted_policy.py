"""WeightedPolicy: an acquisition weighted by a structure prior (few-shot score, segmentation)."""

from __future__ import annotations

import numpy as np
import pytest

from agent.candidates import make_candidates
from agent.vision import (
    FewShotReward,
    SegmentationWeights,
    VisionConfigError,
    VisionInputError,
    VisionNotFittedError,
    WeightedPolicy,
)
from drivers.emulator import PlasmonEmulator
from policies import UCB, CostAware, LogEI, Policy, Posterior, RandomPolicy, SelectionState


class ColumnPrior:
    """values = the candidate's x fraction (0 on the left edge, 1 on the right)."""

    def values(self, candidates):
        return candidates.yx_frac[:, 1].copy()


class HalfMask:
    """A 'segmenter' whose particle is the right half of the image."""

    def predict(self, image):
        mask = np.zeros(np.shape(image), bool)
        mask[:, mask.shape[1] // 2:] = True
        return mask


@pytest.fixture(scope="module")
def cands():
    em = PlasmonEmulator(seed=3)
    frame = em.acquire_overview(2e-7, (64, 64), 2e-6)
    return make_candidates(frame, 8, 4, 4), frame


def _state(c, measured=(), y=()):
    avail = np.ones(c.n, bool)
    avail[list(measured)] = False
    return SelectionState(available=avail, measured=np.asarray(measured, np.int64),
                          y_measured=np.asarray(y, float), grid_shape=c.grid_shape,
                          yx_px=c.yx_px.astype(float), step=3, rng=np.random.default_rng(0),
                          yx_m=c.yx_m, probe_index=-1)


def test_the_prior_turns_the_choice_towards_high_weights(cands):
    c, frame = cands
    # a flat mean with more uncertainty on the left: plain UCB goes left, the prior pulls right
    std = 1.0 + 0.2 * (1.0 - c.yx_frac[:, 1])
    post = Posterior(np.zeros(c.n), std)
    state = _state(c)
    plain = UCB(beta=1.0).select(post, state)[0]
    assert c.yx_frac[plain, 1] == pytest.approx(c.yx_frac[:, 1].min())
    policy = WeightedPolicy(UCB(beta=1.0), ColumnPrior(), power=2.0)
    assert isinstance(policy, Policy) and policy.needs_model
    w = policy.prepare(c, frame)
    np.testing.assert_allclose(w, np.clip(c.yx_frac[:, 1], 1e-3, 1.0) ** 2)
    pick = policy.select(post, state)[0]
    assert c.yx_frac[pick, 1] > 0.5 and policy.last_reason == "acquisition x structure prior"
    # power 0: the prior has no effect
    none = WeightedPolicy(UCB(beta=1.0), ColumnPrior(), power=0.0)
    none.prepare(c, frame)
    assert none.select(post, state)[0] == plain


def test_log_ei_adds_log_weights_and_costs_pass_through(cands):
    c, frame = cands
    rng = np.random.default_rng(1)
    post = Posterior(rng.normal(size=c.n), np.full(c.n, 0.5))
    state = _state(c, measured=[0, 1], y=[0.0, 0.1])
    policy = WeightedPolicy(LogEI(), ColumnPrior())
    policy.prepare(c, frame)
    base = LogEI().acquisition(post, state)
    expected = base + np.log(np.clip(c.yx_frac[:, 1], 1e-3, 1.0))
    np.testing.assert_allclose(policy.acquisition(post, state), expected)
    # wrapping a cost-aware policy keeps its per-step costs for the record
    costly = WeightedPolicy(CostAware(LogEI(), travel_s_per_m=1e7), ColumnPrior())
    costly.prepare(c, frame)
    picks = costly.select(post, state, q=2)
    assert costly.last_cost_s is not None and costly.last_cost_s.shape == (2,)
    assert len(set(picks.tolist())) == 2 and not np.isin(picks, [0, 1]).any()


def test_model_free_or_degenerate_falls_back_unweighted(cands):
    c, frame = cands
    policy = WeightedPolicy(RandomPolicy(), ColumnPrior())
    assert policy.needs_model is False
    policy.prepare(c, frame)
    picks = policy.select(None, _state(c), q=3)
    assert len(picks) == 3 and policy.last_reason.endswith("(unweighted)")


def test_segmentation_and_fewshot_priors(cands):
    c, frame = cands
    seg = SegmentationWeights(HalfMask(), scale_px=2.0)
    policy = WeightedPolicy(UCB(), seg)
    w = policy.prepare(c, frame)
    right = c.yx_px[:, 1] >= 32
    assert np.all(w[right] == 1.0) and np.all(w[~right] < 1.0)
    with pytest.raises(VisionInputError, match="overview"):
        seg.weights(c, None)
    # few-shot prior: the weights are the few-shot scores of the candidates (clipped, ** power)
    fewshot = FewShotReward(positive_yx_m=c.yx_m[[5, 40]].tolist())
    fs = WeightedPolicy(UCB(), fewshot, power=0.5)
    w = fs.prepare(c, frame)
    np.testing.assert_allclose(w, np.clip(fewshot.values(c), 1e-3, 1.0) ** 0.5)
    assert np.ptp(w) > 0.5  # the score separates the candidates


def test_errors(cands):
    c, frame = cands
    with pytest.raises(VisionConfigError, match="prior"):
        WeightedPolicy(UCB(), object())
    with pytest.raises(VisionConfigError, match="select"):
        WeightedPolicy(object(), ColumnPrior())
    with pytest.raises(VisionConfigError, match="power"):
        WeightedPolicy(UCB(), ColumnPrior(), power=-1)
    with pytest.raises(VisionConfigError, match="floor"):
        WeightedPolicy(UCB(), ColumnPrior(), floor=0.0)
    policy = WeightedPolicy(UCB(), ColumnPrior())
    with pytest.raises(VisionNotFittedError, match="prepare"):
        policy.select(Posterior(np.zeros(c.n), np.ones(c.n)), _state(c))
