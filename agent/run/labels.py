"""Few-shot labels from the user (``autoscope-ctl RUN label Y X positive``) reach the run's few-shot
candidate scorers: the image models inside a gate or prior that learn from labelled examples."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

__all__ = ["few_shot_scorers"]

#: (module, class) of the few-shot candidate scorer; the vision package is imported only by runs
#: that use one, so it is looked up among the loaded modules (never imported for a plain run)
_SCORERS = (("agent.vision.fewshot_candidates", "FewShotCandidateScorer"), ("agent.vision.fewshot", "FewShotReward"))


def few_shot_scorers(models: Iterable[Any]) -> list[Any]:
    """The models among ``models`` (a policy's ``models()``) that take labels (``update(candidates,
    index, positive)``)."""
    kinds = tuple(vars(sys.modules[m])[c] for m, c in _SCORERS
                  if m in sys.modules and c in vars(sys.modules[m]))
    return [m for m in models if kinds and isinstance(m, kinds)]
