"""The Surrogate protocol declares its optional members, and SurrogateBase gives their defaults, so
the loop calls ``health``/``state_dict``/``load_state_dict`` on any surrogate without probing."""

from __future__ import annotations

import numpy as np
import pytest

from agent.surrogates import HealthReport, Surrogate, SurrogateBase, SurrogateStateError
from policies.posterior import Posterior


class MeanOnly(SurrogateBase):
    """A surrogate that writes only the required members."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> MeanOnly:
        self.mean_ = float(np.mean(y))
        return self

    def posterior(self, X: np.ndarray) -> Posterior:
        return Posterior(np.full(len(X), self.mean_), np.ones(len(X)))


def test_a_surrogate_with_only_fit_and_posterior_satisfies_the_whole_protocol() -> None:
    model = MeanOnly().fit(np.zeros((3, 2)), np.array([1.0, 2.0, 3.0]))
    assert isinstance(model, Surrogate)
    assert model.health(np.zeros((4, 2))) == HealthReport(ok=True)
    assert model.fit_summary() == {}
    assert model.state_dict() == {}
    model.load_state_dict(model.state_dict())  # a resumed run refits: nothing to restore
    with pytest.raises(SurrogateStateError, match=r"MeanOnly\.load_state_dict: this model keeps no state"):
        model.load_state_dict({"weights": [1.0]})
