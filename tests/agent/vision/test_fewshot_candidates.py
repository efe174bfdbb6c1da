"""FewShotCandidateScorer: examples named by position on the overview, every candidate scored; the
same scores serve as a gate (mask above the threshold) and as a prior (weights); labels update it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fewshot_examples import fitted_scorer, rod_tip_examples

from agent.vision import FewShotCandidateScorer, VisionConfigError
from policies import CandidateGate, CandidatePrior, GatedPolicy, RandomPolicy, WeightedPolicy

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def rod_view():
    return rod_tip_examples()


@pytest.fixture(scope="module")
def fitted(rod_view):
    return fitted_scorer(rod_view)


def test_candidate_scorer_by_positions_as_gate_and_prior(rod_view, fitted):
    view, tips, pos, neg = rod_view
    c = view.candidates
    scorer = FewShotCandidateScorer(positive_yx_m=c.yx_m[pos].tolist(),
                                    negative_yx_m=c.yx_m[neg].tolist())
    assert isinstance(scorer, CandidateGate) and isinstance(scorer, CandidatePrior)
    values = scorer.values(c)
    _, scores = fitted
    assert np.allclose(values, scores)  # same examples, same pool, same seed
    assert scorer.as_map(c).shape == c.grid_shape
    mask = scorer.gate_mask(c)
    assert np.array_equal(mask, values >= 0.5) and 0 < mask.sum() < c.n
    assert scorer.has_scores and np.array_equal(scorer.gate_scores(c), values)
    assert np.array_equal(scorer.weights(c, view.overview), values)
    policy = GatedPolicy(RandomPolicy(), scorer)
    policy.prepare(c, view.overview)
    assert np.array_equal(policy.mask, mask)
    assert np.allclose(policy.scores, values)
    weighted = WeightedPolicy(RandomPolicy(), scorer)
    weighted.prepare(c, view.overview)
    assert weighted.weights is not None and weighted.weights.shape == (c.n,)
    scorer.update(c, int(np.argmax(values)), False)
    assert scorer.scorer.n_negative == 6


def test_configuration_errors_name_the_field():
    with pytest.raises(VisionConfigError, match="positive_yx_m"):
        FewShotCandidateScorer()
    with pytest.raises(VisionConfigError, match="pairs"):
        FewShotCandidateScorer(positive_yx_m=[[1.0, 2.0, 3.0]])
    with pytest.raises(VisionConfigError, match="scorer"):
        FewShotCandidateScorer(positive_yx_m=[[0.0, 0.0]], scorer=object())
