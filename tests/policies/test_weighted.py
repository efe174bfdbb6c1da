"""policies.weighted: WeightedPolicy, an acquisition weighted by a structure prior (few-shot score,
segmentation)."""

from __future__ import annotations

import numpy as np
import pytest

from agent.candidates import CandidateSet, make_candidates
from agent.vision import FewShotCandidateScorer
from drivers.emulator import PlasmonEmulator
from policies import (
    UCB,
    CandidatePrior,
    CostAware,
    LogEI,
    Policy,
    PolicyConfigError,
    PolicyInputError,
    Posterior,
    RandomPolicy,
    SegmentationWeights,
    Segmenter,
    SelectionState,
    WeightedPolicy,
)


class ColumnPrior(CandidatePrior):
    """weights = the candidate's x fraction (0 on the left edge, 1 on the right)."""

    def weights(self, candidates, overview=None):
        return candidates.yx_frac[:, 1].copy()


class HalfMask(Segmenter):
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
    plain = UCB(beta=1.0).select(post, state).indices[0]
    assert c.yx_frac[plain, 1] == pytest.approx(c.yx_frac[:, 1].min())
    policy = WeightedPolicy(UCB(beta=1.0), ColumnPrior(), power=2.0)
    assert isinstance(policy, Policy) and policy.needs_model
    policy.prepare(c, frame)
    np.testing.assert_allclose(policy.weights, np.clip(c.yx_frac[:, 1], 1e-3, 1.0) ** 2)
    selection = policy.select(post, state)
    pick = selection.indices[0]
    assert c.yx_frac[pick, 1] > 0.5 and selection.reason == "acquisition x structure prior"
    assert selection.phase == "acquisition" and selection.costs_s is None
    # power 0: the prior has no effect
    none = WeightedPolicy(UCB(beta=1.0), ColumnPrior(), power=0.0)
    none.prepare(c, frame)
    assert none.select(post, state).indices[0] == plain


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
    selection = costly.select(post, state, q=2)
    picks = selection.indices
    assert selection.chosen_costs_s is not None and selection.chosen_costs_s.shape == (2,)
    assert len(set(picks.tolist())) == 2 and not np.isin(picks, [0, 1]).any()


def test_model_free_or_degenerate_falls_back_unweighted(cands):
    c, frame = cands
    policy = WeightedPolicy(RandomPolicy(), ColumnPrior())
    assert policy.needs_model is False
    policy.prepare(c, frame)
    selection = policy.select(None, _state(c), q=3)
    assert len(selection.indices) == 3 and selection.reason == "random (unweighted)"


def test_segmentation_and_fewshot_priors(cands):
    c, frame = cands
    seg = SegmentationWeights(HalfMask(), scale_px=2.0)
    policy = WeightedPolicy(UCB(), seg)
    policy.prepare(c, frame)
    w = policy.weights
    right = c.yx_px[:, 1] >= 32
    assert np.all(w[right] == 1.0) and np.all(w[~right] < 1.0)
    with pytest.raises(PolicyInputError, match="overview"):
        seg.weights(c, None)
    assert policy.event_kind == "prior" and CostAware(policy).event_kind == "prior"
    assert policy.describe() == {"prior": "SegmentationWeights", "weight_median": float(np.median(w)),
                                 "n_above_half": int(np.count_nonzero(w > 0.5)), "n_candidates": c.n,
                                 "segmenter": {"type": "HalfMask"}}
    # few-shot prior: the weights are the few-shot scores of the candidates (clipped, ** power)
    fewshot = FewShotCandidateScorer(positive_yx_m=c.yx_m[[5, 40]].tolist())
    fs = WeightedPolicy(UCB(), fewshot, power=0.5)
    fs.prepare(c, frame)
    w = fs.weights
    np.testing.assert_allclose(w, np.clip(fewshot.values(c), 1e-3, 1.0) ** 0.5)
    assert np.ptp(w) > 0.5  # the score separates the candidates


def test_errors(cands):
    c, frame = cands
    with pytest.raises(PolicyConfigError, match="prior"):
        WeightedPolicy(UCB(), object())
    with pytest.raises(PolicyConfigError, match="select"):
        WeightedPolicy(object(), ColumnPrior())
    with pytest.raises(PolicyConfigError, match="power"):
        WeightedPolicy(UCB(), ColumnPrior(), power=-1)
    with pytest.raises(PolicyConfigError, match="floor"):
        WeightedPolicy(UCB(), ColumnPrior(), floor=0.0)
    with pytest.raises(PolicyConfigError, match="segmenter"):
        SegmentationWeights(object())
    policy = WeightedPolicy(UCB(), ColumnPrior())
    with pytest.raises(PolicyInputError, match="prepare"):
        policy.select(Posterior(np.zeros(c.n), np.ones(c.n)), _state(c))


# The ranking bug of issue 12: WeightedPolicy decided log space by isinstance(policy, LogEI), so
# around CostAware(LogEI) (log values) it treated log EI - log cost as a linear acquisition and
# ranked these four candidates [0, 1, 3, 2]. Right: log EI - log cost + log w -> [0, 2, 1, 3].
MEAN = [0.8, 0.5, 0.9, 0.7, 0.0]
STD = [0.4, 0.4, 0.3, 0.5, 0.1]
DOSE_E_PER_A2 = [2.0, 0.0, 3.0, 3.0, 0.0]
PRIOR = [0.9, 0.2, 0.5, 0.1, 1.0]


class FixedPrior(CandidatePrior):
    def weights(self, candidates, overview=None):
        return np.asarray(PRIOR)


def _row_of_five() -> CandidateSet:
    n = 5
    yx_px = np.stack([np.zeros(n, np.int64), np.arange(n, dtype=np.int64)], axis=1)
    return CandidateSet(yx_px=yx_px, yx_m=yx_px * 1e-9, yx_frac=(yx_px + 0.5) / n,
                        patches=np.zeros((n, 1, 1), np.float32), grid_shape=(1, n), frame_id="f",
                        image_shape=(1, n), window=1, stride=1, margin=(0, 0),
                        image=np.zeros((1, n), np.float32), pixel_m=(1e-9, 1e-9))


def test_weighted_cost_aware_log_ei_ranks_by_log_ei_minus_log_cost_plus_log_weight():
    c = _row_of_five()
    cost_aware = CostAware(LogEI(), overhead_s=0.0, exposure_s=0.05, dose_weight_s_A2_per_e=0.05)
    assert cost_aware.log_acquisition  # log EI - log cost is still a log value
    policy = WeightedPolicy(cost_aware, FixedPrior())
    policy.prepare(c, None)
    state = SelectionState(available=np.array([True, True, True, True, False]), measured=np.array([4]),
                           y_measured=np.array([1.0]), grid_shape=(1, 5), yx_px=c.yx_px.astype(float),
                           step=1, rng=np.random.default_rng(0),
                           local_dose_e_per_A2=np.asarray(DOSE_E_PER_A2))
    post = Posterior(np.asarray(MEAN), np.asarray(STD))
    values = policy.acquisition(post, state)
    assert np.argsort(-values[:4], kind="stable").tolist() == [0, 2, 1, 3]
    expected = (LogEI().acquisition(post, state) - np.log(0.05 + 0.05 * np.asarray(DOSE_E_PER_A2))
                + np.log(PRIOR))
    np.testing.assert_allclose(values[:4], expected[:4])
    selection = policy.select(post, state, q=4)
    assert selection.indices.tolist() == [0, 2, 1, 3]
    np.testing.assert_allclose(selection.chosen_costs_s, [0.15, 0.2, 0.05, 0.2])
