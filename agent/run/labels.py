"""Few-shot labels from the user (``autoscope-ctl RUN label Y X positive``) reach the run's few-shot
candidate scorers: the image models inside a gate or prior that learn from labelled examples."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

__all__ = ["few_shot_scorers"]


def few_shot_scorers(models: Iterable[Any]) -> list[Any]:
    """The :class:`agent.vision.FewShotCandidateScorer` among ``models`` (a policy's ``models()``);
    each takes labels with ``update(candidates, index, positive)``. A run without one has not loaded
    the vision package, and it is not imported for the question."""
    module = sys.modules.get("agent.vision.fewshot_candidates")
    if module is None:
        return []
    return [m for m in models if isinstance(m, module.FewShotCandidateScorer)]
