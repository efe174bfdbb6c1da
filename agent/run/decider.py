"""The decider: seed design, forced points, fit/predict, the policy's choice.

:meth:`Decider.decide` answers "what next?" from the loop state, with the candidates in flight
(``pending``) excluded and entered as fantasies (kriging believer). In this order: a point the user
forced, the seed design's next unmeasured point, deterministic exploration while fewer than two
targets exist, the policy's choice on a fresh posterior.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from drivers.frames import Frame
from policies.posterior import MultiPosterior
from policies.protocol import NoCandidatesLeft, PolicyBase, SelectionState

from ..candidates import CandidateSet
from ..guardians import DoseGuardian
from ..settings import ExperimentSettings
from ..surrogates.protocol import Surrogate
from .decision import AnyPosterior, Decision
from .design import seed_design
from .models import ObjectiveModels
from .policy_port import PolicyPort
from .state import LoopState
from .store import RunStore

__all__ = ["Decider", "NoCandidatesLeft"]

log = logging.getLogger(__name__)


class Decider:
    """Chooses candidates for a run.

    Args:
        policy: the run's policy (see :class:`~agent.run.policy_port.PolicyPort`).
        surrogate: the model; None only with a model-free policy (``needs_model = False``).
        settings: ``q``, ``steps``, ``n_init``, ``init``, ``maximize``, ``allow_remeasure``.
        seed: the run's seed (the design's own stream derives from it).
        state: the loop state (measured, targets, failed, vetoed, forced, step).
        store: where fit summaries and health events are recorded.
    """

    def __init__(self, policy: PolicyBase, surrogate: Surrogate | None, settings: ExperimentSettings, seed: int,
                 state: LoopState, store: RunStore) -> None:
        self.port = PolicyPort(policy)
        if surrogate is None and self.port.needs_model:
            raise ValueError(f"policy {self.port.name} needs a surrogate; set `surrogate=`")
        self.surrogate = surrogate
        self.models = ObjectiveModels(surrogate) if surrogate is not None else None
        self.settings = settings
        self.seed = int(seed)
        self.state = state
        self.store = store
        self.rng = np.random.default_rng(self.seed)
        self.candidates: CandidateSet | None = None
        self.overview: Frame | None = None
        self.dose: DoseGuardian | None = None
        self.design: list[int] = []
        self.last_posterior: AnyPosterior | None = None

    @property
    def policy(self) -> PolicyBase:
        return self.port.policy

    # ---------------------------------------------------------------- set-up
    def attach(self, candidates: CandidateSet, overview: Frame, dose: DoseGuardian) -> None:
        """The candidates exist: let the policy look at them, record its gate, build the seed design."""
        self.candidates, self.overview, self.dose = candidates, overview, dose
        self.prepare_policy()

    def prepare_policy(self) -> None:
        """Called again after a new overview, a label or a policy switch."""
        if self.candidates is not None:
            self.port.prepare(self.candidates, self.overview)

    def record_gate(self) -> None:
        """A gate or prior goes in the record once (a ``gate`` or ``prior`` event): what it is, its
        validation figures, its pass rate or weights' spread."""
        info = self.port.describe()
        if info is not None:
            self.store.event(self.port.event_kind, **info)

    def make_design(self) -> None:
        assert self.candidates is not None
        self.design = seed_design(self.candidates, int(self.settings.n_init or 0), self.seed, self.settings.init,
                                  self.port.design_weights(), self.port.name)

    def switch_policy(self, policy: PolicyBase) -> None:
        self.port.switch(policy)
        self.prepare_policy()

    # ---------------------------------------------------------------- what the policy sees
    def targets(self) -> np.ndarray:
        """Measured targets: ``(m,)`` float64, or ``(m, k)`` for a vector reward."""
        y = np.asarray(self.state.y, dtype=np.float64)
        return y if y.size else np.zeros(0)

    def available(self, pending: tuple[int, ...] = ()) -> np.ndarray:
        """(n,) bool: candidates the policy may choose now."""
        assert self.candidates is not None
        st = self.state
        avail = np.ones(self.candidates.n, dtype=bool)
        if not self.settings.allow_remeasure:
            avail[st.measured] = False
        avail[st.failed] = False
        avail[st.vetoed] = False
        avail[list(pending)] = False
        if self.dose is not None:
            avail &= ~self.dose.damaged
        return avail

    def selection_state(self, avail: np.ndarray, pending: tuple[int, ...]) -> SelectionState:
        cand = self.candidates
        assert cand is not None
        return SelectionState(
            available=avail,
            measured=np.asarray(self.state.measured, dtype=np.int64),
            y_measured=self.targets(),
            grid_shape=cand.grid_shape,
            yx_px=cand.yx_px.astype(np.float64),
            step=self.state.step,
            rng=self.rng,
            maximize=self.settings.maximize,
            pending=np.asarray(pending, dtype=np.int64),
            yx_m=cand.yx_m,
            probe_index=int(pending[-1]) if pending else self.state.last_index,
            local_dose_e_per_A2=self.dose.local_dose if self.dose is not None else None,
        )

    # ---------------------------------------------------------------- deciding
    def decide(self, pending: tuple[int, ...] = (), q: int | None = None) -> Decision:
        """The next candidates (``q`` of them at most, default ``experiment.q``); pops a forced point.

        Raises:
            NoCandidatesLeft: every candidate was measured, failed or vetoed.
        """
        st = self.state
        if st.forced:
            return Decision(np.array([st.forced.pop(0)]), "forced", "forced by user")
        done = set(st.measured) | set(st.failed) | set(st.vetoed) | set(pending)
        for i in self.design:  # seed phase: the design points not yet measured, in order
            if i not in done:
                return Decision(np.array([i]), "seed", "seed")
        avail = self.available(pending)
        if not avail.any():
            raise NoCandidatesLeft("every candidate was measured, failed or vetoed")
        remaining = self.settings.steps - st.n_done - len(pending)
        q = max(1, min(q or self.settings.q, remaining, int(avail.sum())))
        sel_state = self.selection_state(avail, pending)
        if not self.port.needs_model:
            return self._select(None, sel_state, q, avail)
        if len(st.y) < 2:  # nothing to learn from yet: explore deterministically
            from policies import SpaceFilling

            t0 = time.perf_counter()
            chosen = SpaceFilling().select(None, sel_state, q)
            return Decision(chosen.indices, "policy", "explore: too few targets to fit",
                            t_select_s=time.perf_counter() - t0)
        posterior, t_fit_s, t_predict_s = self._fit_predict()
        if pending:  # points being acquired right now enter as fantasies (kriging believer)
            p = np.asarray(pending, dtype=np.int64)
            posterior = (MultiPosterior(tuple(m.fantasize(p) for m in posterior.marginals))
                         if isinstance(posterior, MultiPosterior) else posterior.fantasize(p))
        return self._select(posterior, sel_state, q, avail, t_fit_s, t_predict_s)

    def _select(self, posterior: AnyPosterior | None, sel_state: SelectionState, q: int, avail: np.ndarray,
                t_fit_s: float = float("nan"), t_predict_s: float = float("nan")) -> Decision:
        t0 = time.perf_counter()
        chosen = self.port.select(posterior, sel_state, q)
        t_select_s = time.perf_counter() - t0
        idx = chosen.indices
        if idx.size == 0 or not np.all(avail[idx]):
            raise RuntimeError(f"policy {self.port.name} chose unavailable candidates {idx.tolist()}")
        costs: dict[int, float] = {}
        chosen_costs = chosen.chosen_costs_s
        if chosen_costs is not None:
            costs = {int(i): float(c) for i, c in zip(idx, chosen_costs)}
        return Decision(idx, "policy", chosen.reason or "acquisition", posterior, t_fit_s, t_predict_s,
                        t_select_s, costs)

    def _fit_predict(self) -> tuple[AnyPosterior, float, float]:
        assert self.models is not None and self.candidates is not None
        fit = self.models.fit(self.models.inputs(self.candidates),
                              np.asarray(self.state.measured, dtype=np.int64), self.targets())
        for j, summary in enumerate(fit.summaries):
            if summary:  # which model drove this decision, and how well it predicts left-out points
                self.store.event("surrogate_fit", step=self.state.step, objective=j, **summary)
        if fit.sick:
            self.state.n_degenerate += 1
            log.warning("step %d: surrogate unhealthy (%s); the policy explores", self.state.step, fit.sick)
            self.store.event("surrogate_unhealthy", step=self.state.step, message=fit.sick)
        self.last_posterior = fit.posterior
        return fit.posterior, fit.t_fit_s, fit.t_predict_s

    def final_posterior(self) -> AnyPosterior | None:
        """Refit on every target and predict over all candidates (the run's final maps)."""
        if self.models is None or self.candidates is None or len(self.state.y) < 2:
            return None
        fit = self.models.fit(self.models.inputs(self.candidates),
                              np.asarray(self.state.measured, dtype=np.int64), self.targets())
        return fit.posterior

    # ---------------------------------------------------------------- checkpoints
    def model_state(self) -> Any:
        return self.models.state_dict() if self.models is not None else None

    def load_model_state(self, state: Any) -> None:
        if self.models is not None:
            self.models.load_state_dict(state)
