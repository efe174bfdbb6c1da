"""Few-shot labels from the user (``autoscope-ctl RUN label Y X positive``) reach the image models
of the run's gate or prior that learn from labels: those deriving :class:`policies.LabelledModel`."""

from __future__ import annotations

from collections.abc import Iterable

from policies.candidate_models import CandidateModel, LabelledModel

__all__ = ["label_learners"]


def label_learners(models: Iterable[CandidateModel]) -> list[LabelledModel]:
    """The models among ``models`` (a policy's declared ``models()``, outermost first) that take
    labels with ``update(candidates, index, positive)``."""
    return [m for m in models if isinstance(m, LabelledModel)]
