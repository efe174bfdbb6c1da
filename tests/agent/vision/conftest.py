"""Fixtures shared by the few-shot tests: one emulator survey with 5 rod-tip and 5 bare-film
example candidates, and a patch scorer fitted on them."""

from __future__ import annotations

import numpy as np
import pytest

from agent.vision import FewShotScorer, emulator_view


@pytest.fixture(scope="module")
def rod_view():
    view = emulator_view(7)
    tips = view.labels("rod_tip")
    background = ~view.labels("particle", 5e-9)  # bare film, > 5 nm from every particle
    rng = np.random.default_rng(0)
    pos = rng.choice(np.flatnonzero(tips), 5, replace=False)
    neg = rng.choice(np.flatnonzero(background), 5, replace=False)
    return view, tips, pos, neg


@pytest.fixture(scope="module")
def fitted(rod_view):
    view, tips, pos, neg = rod_view
    p = view.candidates.patches
    scorer = FewShotScorer().fit(p[pos], p[neg], pool=p)
    return scorer, scorer.score(p)
