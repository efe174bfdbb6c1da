"""The run's surrogate(s): the configured model, or one clone per objective for a vector reward."""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np

from policies.posterior import MultiPosterior

from ..candidates import CandidateSet
from ..surrogates.protocol import Surrogate
from .decision import AnyPosterior

__all__ = ["ObjectiveModels", "Fit"]


class Fit:
    """One refit: the posterior over every candidate, timings, per-objective fit summaries, and the
    health message of the first degenerate marginal ('' when healthy)."""

    __slots__ = ("posterior", "t_fit_s", "t_predict_s", "summaries", "sick")

    def __init__(self, posterior: AnyPosterior, t_fit_s: float, t_predict_s: float,
                 summaries: list[dict[str, Any]], sick: str) -> None:
        self.posterior = posterior
        self.t_fit_s = t_fit_s
        self.t_predict_s = t_predict_s
        self.summaries = summaries
        self.sick = sick


class ObjectiveModels:
    """The configured surrogate for a scalar reward; for k objectives, k deep copies of it made
    before it was ever fitted (each fitted to one column of the targets)."""

    def __init__(self, surrogate: Surrogate) -> None:
        self.surrogate = surrogate
        self._prototype = copy.deepcopy(surrogate)
        self._clones: list[Surrogate] = []

    def for_objectives(self, k: int) -> list[Surrogate]:
        """The k models (the configured one when k == 1)."""
        if k == 1:
            return [self.surrogate]
        while len(self._clones) < k:
            self._clones.append(copy.deepcopy(self._prototype))
        return self._clones[:k]

    def reset(self) -> None:
        """The targets changed meaning (a new reward): fresh clones next time."""
        self._clones = []

    def inputs(self, candidates: CandidateSet) -> np.ndarray:
        """``(n, d)``: the candidate representation the surrogate takes (``Surrogate.inputs``)."""
        return np.asarray(self.surrogate.inputs(candidates))

    def fit(self, X: np.ndarray, measured: np.ndarray, y: np.ndarray) -> Fit:
        """Fit on ``X[measured]`` and targets ``y`` ``(m,)`` or ``(m, k)``; predict over all of ``X``."""
        models = self.for_objectives(1 if y.ndim == 1 else int(y.shape[1]))
        t0 = time.perf_counter()
        for j, model in enumerate(models):
            model.fit(X[measured], y if y.ndim == 1 else y[:, j])
        t1 = time.perf_counter()
        marginals = [model.posterior(X) for model in models]
        posterior = marginals[0] if len(marginals) == 1 else MultiPosterior(tuple(marginals))
        t2 = time.perf_counter()
        summaries = [model.fit_summary() for model in models]
        sick = ""
        if posterior.degenerate:
            model = models[[p.degenerate for p in marginals].index(True)]
            sick = model.health(X).message or "degenerate posterior"
        return Fit(posterior, t1 - t0, t2 - t1, summaries, sick)

    def state_dict(self) -> Any:
        """Weights for the checkpoint: the surrogate's, or ``{"objectives": [...]}``."""
        if self._clones:
            return {"objectives": [m.state_dict() for m in self._clones]}
        return self.surrogate.state_dict()

    def load_state_dict(self, state: Any) -> None:
        if state is None:
            return
        if isinstance(state, dict) and set(state) == {"objectives"}:
            self._clones = [copy.deepcopy(self._prototype) for _ in state["objectives"]]
            for model, sd in zip(self._clones, state["objectives"]):
                model.load_state_dict(sd)
        else:
            self.surrogate.load_state_dict(state)
