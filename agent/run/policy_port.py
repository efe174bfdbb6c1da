"""The loop's only door to a policy: every member the run uses, in one place.

The contract is :class:`policies.PolicyBase`: ``select`` returns a :class:`policies.Selection`;
``needs_model``, ``prepare``, ``design_weights``, ``describe``, ``models`` and ``switch_policy``
are declared there with their defaults, so nothing is probed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from policies.candidate_models import CandidateModel
from policies.protocol import PolicyBase, Selection, SelectionState

from .decision import AnyPosterior

__all__ = ["PolicyPort"]


class PolicyPort:
    """Holds the run's policy (a :class:`policies.PolicyBase`); the decider, the loop and the
    interventions reach the policy only through this."""

    def __init__(self, policy: PolicyBase) -> None:
        if not isinstance(policy, PolicyBase):
            raise TypeError(f"policy {type(policy).__name__} must derive policies.PolicyBase (it declares "
                            f"the whole contract the loop uses)")
        self.policy = policy

    @property
    def name(self) -> str:
        return type(self.policy).__name__

    @property
    def needs_model(self) -> bool:
        return bool(self.policy.needs_model)

    def select(self, posterior: AnyPosterior | None, state: SelectionState, q: int) -> Selection:
        """The policy's :class:`~policies.Selection` of ``q`` candidates (a vector reward's policy gets
        a ``MultiPosterior``)."""
        return self.policy.select(posterior, state, q)

    def prepare(self, candidates: Any, overview: Any) -> None:
        self.policy.prepare(candidates, overview)

    def design_weights(self) -> np.ndarray | None:
        return self.policy.design_weights()

    def describe(self) -> dict[str, Any] | None:
        return self.policy.describe()

    @property
    def event_kind(self) -> str:
        """The record event :meth:`describe` goes under: ``"gate"`` or ``"prior"``."""
        return self.policy.event_kind

    def models(self) -> tuple[CandidateModel, ...]:
        """The image models inside the policy (gates, priors), outermost first."""
        return tuple(self.policy.models())

    def switch(self, new: PolicyBase) -> None:
        """Use ``new`` from now on (a gate or prior wrapper keeps itself and wraps ``new``)."""
        self.policy = self.policy.switch_policy(new)
