"""``PolicyWrapper``: the base of every policy that wraps another (cost, gate, prior).

A wrapper changes one thing about the wrapped policy (its acquisition per second, the candidates it
may choose, a prior on its acquisition) and forwards everything else: the flags
(``needs_model``, ``log_acquisition``, ``has_acquisition``) and the members ``select``,
``acquisition``, ``costs``, ``prepare``, ``design_weights``, ``describe``, ``models``. A subclass
overrides only what it changes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .candidate_models import CandidateModel, CandidateView, OverviewImage
from .errors import PolicyConfigError
from .posterior import AnyPosterior
from .protocol import PolicyBase, Selection, SelectionState

__all__ = ["PolicyWrapper"]


class PolicyWrapper(PolicyBase):
    """Wrap ``policy`` and forward every member this class does not override.

    Args:
        policy: the wrapped policy (a :class:`~policies.protocol.PolicyBase`).

    Attributes:
        policy: the wrapped policy; a gate or prior wrapper (``wraps_experiment_policy = True``)
            gets a new one when the user switches the experiment's policy mid-run.
    """

    def __init__(self, policy: PolicyBase) -> None:
        self.policy = self._check_policy(policy)

    def _check_policy(self, policy: Any) -> PolicyBase:
        if not isinstance(policy, PolicyBase):
            raise PolicyConfigError(f"{type(self).__name__}: policy must be a policies.PolicyBase "
                                    f"(with select(posterior, state, q)), got {type(policy).__name__}")
        return policy

    # the flags of the wrapped policy (properties: the wrapped policy may be switched mid-run)
    @property
    def needs_model(self) -> bool:  # type: ignore[override]
        return self.policy.needs_model

    @property
    def log_acquisition(self) -> bool:  # type: ignore[override]
        return self.policy.log_acquisition

    @property
    def has_acquisition(self) -> bool:  # type: ignore[override]
        return self.policy.has_acquisition

    @property
    def event_kind(self) -> str:  # type: ignore[override]
        return self.policy.event_kind

    def select(self, posterior: AnyPosterior | None, state: SelectionState, q: int = 1) -> Selection:
        return self.policy.select(posterior, state, q)

    def acquisition(self, posterior: AnyPosterior | None, state: SelectionState) -> np.ndarray | None:
        return self.policy.acquisition(posterior, state)

    def costs(self, state: SelectionState) -> np.ndarray | None:
        return self.policy.costs(state)

    def prepare(self, candidates: CandidateView, overview: OverviewImage | None = None) -> None:
        self.policy.prepare(candidates, overview)

    def design_weights(self) -> np.ndarray | None:
        return self.policy.design_weights()

    def describe(self) -> dict[str, Any] | None:
        return self.policy.describe()

    def models(self) -> tuple[CandidateModel, ...]:
        return self.policy.models()

    def switch_policy(self, policy: PolicyBase) -> PolicyBase:
        """A gate or prior wrapper keeps itself (and its model) and wraps ``policy``; any other
        wrapper is replaced by ``policy``."""
        if not self.wraps_experiment_policy:
            return policy
        self.policy = self._check_policy(policy)
        return self
