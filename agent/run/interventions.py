"""Human in the loop: the control commands a running experiment applies (``autoscope-ctl``, the dashboard).

The run's inbox is read before every decision; pause / resume / stop / veto / force change the loop
state, ``set`` and ``label`` go to the run's :class:`Components` (a new policy or reward, a few-shot
label). Each command is recorded as an ``intervention`` event; an invalid one is moved to
``control/rejected/``, recorded, and never stops the run.
"""

from __future__ import annotations

import logging
import math
from typing import Protocol

import numpy as np

from drivers.frames import Frame

from ..candidates import CandidateSet
from ..control import Command, ControlError, Inbox, parse, to_pixels
from ..settings import ExperimentSettings
from .guardians import Guardians
from .state import LoopState, StopFlag, StopReason
from .store import RunStore

__all__ = ["Interventions", "Components"]

log = logging.getLogger(__name__)


class Components(Protocol):
    """What a run lets the user change mid-run (implemented by :class:`agent.loop.Experiment`)."""

    def switch(self, args: list[str]) -> None:
        """Rebuild the policy and/or reward from ``group[.key]=value`` overrides and use them.
        Raises ``ConfigError``/``ValueError`` when they cannot be built."""

    def label(self, index: int, positive: bool) -> None:
        """Give candidate ``index``'s label to the run's few-shot scorers. Raises ``ControlError``
        when the run has none."""


class Interventions:
    """Applies control commands (see :mod:`agent.control`).

    Args:
        run_dir: the run folder (its ``control/`` inbox).
        settings: ``allow_remeasure`` (force refuses a measured candidate otherwise).
        state: the loop state the commands change.
        store: where ``intervention`` events go.
        guardians: the dose guardian (force refuses a damaged candidate).
        stop: ``stop`` requests a stop here.
        components: applies ``set`` and ``label``.
    """

    def __init__(self, settings: ExperimentSettings, state: LoopState, store: RunStore,
                 guardians: Guardians, stop: StopFlag, components: Components) -> None:
        self.settings = settings
        self.state = state
        self.store = store
        self.guardians = guardians
        self.stop = stop
        self.components = components
        self.inbox: Inbox | None = None
        self.candidates: CandidateSet | None = None
        self.overview: Frame | None = None

    def attach(self, candidates: CandidateSet, overview: Frame) -> None:
        self.candidates, self.overview = candidates, overview

    def open_inbox(self) -> None:
        """Start reading ``control/`` (the loop does this when it starts running)."""
        self.inbox = Inbox(self.store.out_dir)

    def poll(self) -> None:
        """Apply every command in the inbox."""
        if self.inbox is None:
            return
        for cmd, text, path in self.inbox.take():
            try:
                if cmd is None:
                    raise ControlError(text)
                # validated again here: the file may have been written by hand, or by an older ctl
                checked = parse(cmd.verb, [str(a) for a in cmd.args], cmd.metres)
                self.apply(Command(checked.verb, checked.args, cmd.metres, cmd.sent_at, cmd.id))
            except Exception as err:  # noqa: BLE001 - no command may crash the loop
                reason = f"{type(err).__name__}: {err}".splitlines()[0][:500]
                self.store.event("intervention", text=text[:2000], id=cmd.id if cmd is not None else "",
                                 outcome=f"rejected: {reason}")
                log.error("control command rejected: %s", reason)
                self.inbox.reject(path, reason)
                continue
            self.store.event("intervention", verb=cmd.verb, args=cmd.args, metres=cmd.metres,
                             id=cmd.id, outcome="applied")
            self.inbox.archive(path)

    def apply(self, cmd: Command) -> None:
        """Apply one validated command; ``ControlError`` (or the component's error) refuses it."""
        cand = self.candidates
        assert cand is not None
        st = self.state
        if cmd.verb == "pause":
            st.paused = True
        elif cmd.verb == "resume":
            st.paused = False
        elif cmd.verb == "stop":
            self.stop.request(StopReason.USER)
        elif cmd.verb == "veto":
            y0, y1, x0, x1 = self._to_pixels(cmd, [float(v) for v in cmd.args])
            cy, cx = cand.yx_px[:, 0], cand.yx_px[:, 1]
            inside = (cy >= min(y0, y1)) & (cy <= max(y0, y1)) & (cx >= min(x0, x1)) & (cx <= max(x0, x1))
            new = sorted(set(np.flatnonzero(inside).tolist()) - set(st.vetoed))
            st.vetoed.extend(new)
            st.forced = [i for i in st.forced if i not in set(new)]
            log.info("vetoed %d candidates", len(new))
        elif cmd.verb == "label":
            py, px = self._to_pixels(cmd, [float(v) for v in cmd.args[:2]])
            i = self.nearest_candidate("label", py, px)
            positive = str(cmd.args[2]) != "negative"
            self.components.label(i, positive)
            st.labels.append([i, positive])
            log.info("few-shot label: candidate %d at %s is %s", i, tuple(int(v) for v in cand.yx_px[i]),
                     "positive" if positive else "negative")
        elif cmd.verb == "force":
            self._force(cmd)
        elif cmd.verb == "set":
            args = [str(a) for a in cmd.args]
            self.components.switch(args)
            st.overrides.append(" ".join(args))
        else:
            raise ValueError(f"unknown verb {cmd.verb}")

    def _force(self, cmd: Command) -> None:
        cand, st = self.candidates, self.state
        assert cand is not None
        py, px = self._to_pixels(cmd, [float(v) for v in cmd.args])
        i = self.nearest_candidate("force", py, px)
        if i in set(st.vetoed) or i in set(st.failed):
            raise ControlError(f"force: candidate {i} is vetoed or failed")
        if i in set(st.measured) and not self.settings.allow_remeasure:
            raise ControlError(f"force: candidate {i} at {tuple(int(v) for v in cand.yx_px[i])} was "
                               f"measured already (experiment.allow_remeasure=false)")
        dose = self.guardians.dose
        if dose is not None and bool(dose.damaged[i]):
            raise ControlError(f"force: candidate {i} reached the dose limit")
        if i in set(st.forced):
            raise ControlError(f"force: candidate {i} is already queued")
        st.forced.append(i)

    def _to_pixels(self, cmd: Command, values: list[float]) -> list[float]:
        assert self.overview is not None
        return to_pixels(cmd.verb, values, cmd.metres, self.overview.axes, tuple(self.overview.data.shape))

    def nearest_candidate(self, verb: str, py: float, px: float) -> int:
        """The candidate nearest overview pixel (py, px), refused beyond a grid step or half a window."""
        cand = self.candidates
        assert cand is not None
        d2 = (cand.yx_px[:, 0] - py) ** 2 + (cand.yx_px[:, 1] - px) ** 2
        i = int(np.argmin(d2))
        reach = max(float(cand.stride), cand.window / 2.0)
        if math.sqrt(float(d2[i])) > reach:
            raise ControlError(f"{verb} {py:g} {px:g}: no candidate within {reach:g} px (the nearest is "
                               f"at {tuple(int(v) for v in cand.yx_px[i])})")
        return i
