"""Few-shot scoring of patches: 5 rod-tip + 5 background patches -> every candidate scored (AUROC > 0.8
against the emulator's own rod-tip labels), online updates, the scorer as a gate over candidates.
Examples from fewshot_examples.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fewshot_examples import fitted_scorer, rod_tip_examples

from agent.vision import (
    FewShotScorer,
    RandomFeatureEncoder,
    VisionConfigError,
    VisionInputError,
    VisionNotFittedError,
    VisionStateError,
    auroc,
)
from policies import CandidateGate

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def rod_view():
    return rod_tip_examples()


@pytest.fixture(scope="module")
def fitted(rod_view):
    return fitted_scorer(rod_view)


def test_five_plus_five_labels_rank_rod_tips(rod_view, fitted):
    view, tips, pos, neg = rod_view
    scorer, scores = fitted
    assert scores.shape == (view.candidates.n,) and scores.dtype == np.float64
    assert np.all((scores >= 0) & (scores <= 1))
    assert auroc(scores, tips) > 0.8
    # the labelled examples: positives rank high, the bare-film negatives are scored near zero
    rank = np.argsort(np.argsort(-scores))
    assert np.median(rank[pos]) < 0.1 * view.candidates.n
    assert np.all(scores[neg] < 0.05) and scores[pos].mean() > 0.3
    # the inside of particles (never labelled) is kept low by the open-set class
    inside = view.labels("inside")
    assert np.median(scores[inside]) < np.median(scores[tips])


def test_encoder_is_invariant_and_deterministic():
    x = torch.randn(5, 16, 16, generator=torch.Generator().manual_seed(0))
    enc = RandomFeatureEncoder(n_filters=8, seed=3)
    z = enc(x)
    assert z.shape == (5, enc.dim) and enc.dim == 2 * 8 + 3
    assert torch.allclose(z, enc(torch.flip(x, dims=(2,))), atol=1e-5)
    assert torch.allclose(z, enc(torch.rot90(x, 1, dims=(1, 2))), atol=1e-5)
    assert torch.allclose(z, RandomFeatureEncoder(n_filters=8, seed=3)(x))
    assert not torch.allclose(z, RandomFeatureEncoder(n_filters=8, seed=4)(x))
    assert RandomFeatureEncoder(n_filters=8, depth=2).dim == 4 * 8 + 3
    with pytest.raises(VisionConfigError, match="odd"):
        RandomFeatureEncoder(kernel_px=4)


def test_online_update_and_state_round_trip(rod_view, fitted, tmp_path):
    view, tips, pos, neg = rod_view
    p = view.candidates.patches
    scorer = FewShotScorer().fit(p[pos[:1]], None, pool=p)
    assert scorer.n_positive == 1 and scorer.n_negative == 0
    before = scorer.score(p[neg])
    for i in neg:
        scorer.update(p[i], False)
    for i in pos[1:]:
        scorer.update(p[i], True)
    assert scorer.n_negative == 5 and scorer.n_positive == 5
    after = scorer.score(p[neg])
    assert np.all(after < before)  # labelled negatives pull their own scores down
    # same examples, same seed: the online path ends where the batch fit does
    full, _ = fitted
    assert np.allclose(scorer.score(p[:200]), full.score(p[:200]), atol=0.05)
    path = tmp_path / "fewshot.pt"
    scorer.save(path)
    again = FewShotScorer().load(path)
    assert np.allclose(again.score(p[:50]), scorer.score(p[:50]))
    with pytest.raises(VisionStateError, match="n_filters"):
        FewShotScorer(n_filters=8).load(path)


def test_patch_scorer_is_a_gate_over_the_candidates(rod_view, fitted):
    view, _, _, _ = rod_view
    scorer, scores = fitted
    assert isinstance(scorer, CandidateGate) and scorer.has_scores
    assert np.allclose(scorer.gate_scores(view.candidates), scores)
    assert np.array_equal(scorer.gate_mask(view.candidates), scores >= scorer.threshold)
    with pytest.raises(VisionInputError, match="CandidateSet"):
        scorer.gate_scores(view.candidates.patches)


def test_synthetic_known_answer_and_errors():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:12, 0:12] - 5.5
    disc = (yy ** 2 + xx ** 2 <= 9).astype(np.float32) * 3.0
    discs = disc + 0.2 * rng.standard_normal((20, 12, 12)).astype(np.float32)
    noise = 0.2 * rng.standard_normal((20, 12, 12)).astype(np.float32)
    scorer = FewShotScorer(n_filters=8).fit(discs[:3], noise[:3])
    s = scorer.score(np.concatenate([discs[3:], noise[3:]]))
    assert s[:17].min() > 0.3 and s[17:].max() < 0.01  # every disc above every noise patch
    assert scorer.predict(discs[3:], threshold=0.2).all()
    assert not scorer.predict(noise[3:], threshold=0.2).any()
    with pytest.raises(VisionInputError, match="trained on 12x12"):
        scorer.score(np.zeros((1, 16, 16), np.float32))
    with pytest.raises(VisionNotFittedError, match="positive"):
        FewShotScorer().score(noise)
    with pytest.raises(VisionConfigError, match="prototypes"):
        FewShotScorer(prototypes="median")
    with pytest.raises(VisionInputError, match="one"):
        scorer.update(noise[:2], True)

