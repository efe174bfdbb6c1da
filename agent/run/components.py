"""What the user may change mid-run (``set policy=...``, ``set reward=...``, ``label``): the run's
:class:`~agent.run.interventions.Components`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..candidates import CandidateSet
from ..control import ControlError
from ..reward_info import SWITCH_EVENT
from .decider import Decider
from .labels import label_learners
from .measurer import Measurer
from .rescore import rescore
from .state import LoopState
from .store import RunStore
from .truth import truth_map

__all__ = ["Switchboard"]


class Switchboard:
    """Applies ``set`` and ``label`` to the run's parts.

    Args:
        rebuild: ``rebuild(group, overrides) -> object`` builds a new policy or reward from the run's
            config; None: this run cannot switch components.
    """

    def __init__(self, rebuild: Callable[[str, list[str]], Any] | None, state: LoopState, store: RunStore,
                 measurer: Measurer, decider: Decider) -> None:
        self.rebuild = rebuild
        self.state = state
        self.store = store
        self.measurer = measurer
        self.decider = decider
        self.candidates: CandidateSet | None = None

    def attach(self, candidates: CandidateSet) -> None:
        self.candidates = candidates

    def switch(self, args: list[str]) -> None:
        """Rebuild the policy and/or reward from ``group[.key]=value`` overrides and use them; a new
        reward recomputes every target (and the truth) from the recorded spectra: nothing re-measured."""
        if self.rebuild is None:
            raise ValueError("this run cannot switch components (no config to build them from)")
        for group in ("policy", "reward"):
            mine = [a for a in args if a.split("=", 1)[0].split(".")[0] == group]
            if not mine:
                continue
            obj = self.rebuild(group, mine)
            if group == "policy":
                self.decider.switch_policy(obj)
            else:
                self.measurer.reward = obj
                self.store.event(SWITCH_EVENT, **self.measurer.describe_reward().to_event())
                self._rescore()

    def _rescore(self) -> None:
        assert self.store.record is not None and self.candidates is not None
        axis = self.measurer.signal_axis or self.store.recorded_signal_axis()
        st = self.state
        st.measured, st.y, st.failed = rescore(self.measurer.reward, self.store.record, axis, st.failed)
        if self.decider.models is not None:
            self.decider.models.reset()  # the targets changed meaning: new models
        self.store.truth = truth_map(self.measurer.driver, self.measurer.reward, self.candidates)

    def label(self, index: int, positive: bool) -> None:
        """Give candidate ``index``'s label to every image model of the policy that learns from labels
        (:class:`policies.LabelledModel`, the few-shot scorer), then re-prepare the policy so the gate
        mask / prior weights follow the new prototypes."""
        assert self.candidates is not None
        sinks = label_learners(self.decider.port.models())
        if not sinks:
            raise ControlError("label: this run has no few-shot scorer to learn from labels (start it with "
                               "gate=fewshot or prior=fewshot)")
        for sink in sinks:
            sink.update(self.candidates, int(index), bool(positive))
        self.decider.prepare_policy()
