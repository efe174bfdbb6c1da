"""Examples shared by the few-shot tests (plain functions, wrapped in module fixtures by each test
file; not a conftest.py, whose module name ``conftest`` other test folders import from): one
emulator survey with 5 rod-tip and 5 bare-film example candidates, and a patch scorer fitted on them."""

from __future__ import annotations

from typing import Any

import numpy as np

from agent.vision import EmulatorView, FewShotScorer, emulator_view


def rod_tip_examples() -> tuple[EmulatorView, np.ndarray, np.ndarray, np.ndarray]:
    """(survey of specimen 7, (n,) bool rod-tip labels, 5 positive indices, 5 bare-film indices)."""
    view = emulator_view(7)
    tips = view.labels("rod_tip")
    background = ~view.labels("particle", 5e-9)  # bare film, > 5 nm from every particle
    rng = np.random.default_rng(0)
    pos = rng.choice(np.flatnonzero(tips), 5, replace=False)
    neg = rng.choice(np.flatnonzero(background), 5, replace=False)
    return view, tips, pos, neg


def fitted_scorer(examples: Any) -> tuple[FewShotScorer, np.ndarray]:
    """A default scorer fitted on the examples (pool: every candidate) and its (n,) scores."""
    view, _, pos, neg = examples
    p = view.candidates.patches
    scorer = FewShotScorer().fit(p[pos], p[neg], pool=p)
    return scorer, scorer.score(p)
