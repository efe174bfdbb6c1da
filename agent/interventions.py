"""Human in the loop: the control commands a running experiment applies (``autoscope-ctl``).

A mixin of :class:`agent.loop.Experiment`: it reads the run's inbox before every decision and
applies pause / resume / stop / veto / force / set / label, each recorded as an ``intervention``
event. Switching the reward recomputes every target from the recorded spectra: nothing is
re-measured. A label reaches the run's few-shot scorer (``FewShotReward.update``), and the gate's
mask or the prior's weights are recomputed from its new prototypes before the next decision.
"""

from __future__ import annotations

import logging
import math
import sys
from typing import Any

import numpy as np

from rewards.errors import RewardError

from .control import Command, ControlError, parse, to_pixels
from .runfiles import axis_from_record

__all__ = ["InterventionsMixin"]

log = logging.getLogger(__name__)


class InterventionsMixin:
    """Applies control commands to the experiment's state (see :mod:`agent.control`)."""

    def _poll_control(self) -> None:
        """Apply every command in the inbox; an invalid one is rejected (moved to
        ``control/rejected/``, recorded) and never stops the run."""
        if self._inbox is None:
            return
        for cmd, text, path in self._inbox.take():
            try:
                if cmd is None:
                    raise ControlError(text)
                # validated again here: the file may have been written by hand, or by an older ctl
                checked = parse(cmd.verb, [str(a) for a in cmd.args], cmd.metres)
                self._apply(Command(checked.verb, checked.args, cmd.metres, cmd.sent_at, cmd.id))
            except Exception as err:  # noqa: BLE001 - no command may crash the loop
                reason = f"{type(err).__name__}: {err}".splitlines()[0][:500]
                self.record.event("intervention", text=text[:2000], id=getattr(cmd, "id", ""),
                                  outcome=f"rejected: {reason}")
                log.error("control command rejected: %s", reason)
                self._inbox.reject(path, reason)
                continue
            self.record.event("intervention", verb=cmd.verb, args=cmd.args, metres=cmd.metres,
                              id=cmd.id, outcome="applied")
            self._inbox.archive(path)

    def _to_pixels(self, cmd: Command, values: list[float]) -> list[float]:
        assert self.overview is not None
        return to_pixels(cmd.verb, values, cmd.metres, self.overview.axes, tuple(self.overview.data.shape))

    def _apply(self, cmd: Command) -> None:
        cand = self.candidates
        assert cand is not None
        st = self.state
        if cmd.verb == "pause":
            st.paused = True
        elif cmd.verb == "resume":
            st.paused = False
        elif cmd.verb == "stop":
            self.request_stop("stopped by the user")
        elif cmd.verb == "veto":
            y0, y1, x0, x1 = self._to_pixels(cmd, [float(v) for v in cmd.args])
            py, px = cand.yx_px[:, 0], cand.yx_px[:, 1]
            inside = (py >= min(y0, y1)) & (py <= max(y0, y1)) & (px >= min(x0, x1)) & (px <= max(x0, x1))
            new = sorted(set(np.flatnonzero(inside).tolist()) - set(st.vetoed))
            st.vetoed.extend(new)
            st.forced = [i for i in st.forced if i not in set(new)]
            log.info("vetoed %d candidates", len(new))
        elif cmd.verb == "label":
            py, px = self._to_pixels(cmd, [float(v) for v in cmd.args[:2]])
            i = self._nearest_candidate("label", py, px)
            positive = str(cmd.args[2]) != "negative"
            self._apply_label(i, positive)
            st.labels.append([i, positive])
            log.info("few-shot label: candidate %d at %s is %s", i, tuple(int(v) for v in cand.yx_px[i]),
                     "positive" if positive else "negative")
        elif cmd.verb == "force":
            py, px = self._to_pixels(cmd, [float(v) for v in cmd.args])
            i = self._nearest_candidate("force", py, px)
            if i in set(st.vetoed) or i in set(st.failed):
                raise ControlError(f"force: candidate {i} is vetoed or failed")
            if i in set(st.measured) and not self.settings.allow_remeasure:
                raise ControlError(f"force: candidate {i} at {tuple(int(v) for v in cand.yx_px[i])} was "
                                   f"measured already (experiment.allow_remeasure=false)")
            if self.dose is not None and bool(self.dose.damaged[i]):
                raise ControlError(f"force: candidate {i} reached the dose limit")
            if i in set(st.forced):
                raise ControlError(f"force: candidate {i} is already queued")
            st.forced.append(i)
        elif cmd.verb == "set":
            self._apply_set([str(a) for a in cmd.args], record=True)
        else:
            raise ValueError(f"unknown verb {cmd.verb}")

    def _nearest_candidate(self, verb: str, py: float, px: float) -> int:
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

    def _label_sinks(self) -> list[Any]:
        """The few-shot scorers (``FewShotReward``) inside the policy: a gate's or a prior's."""
        module = sys.modules.get("agent.vision.fewshot")  # not loaded: no few-shot scorer in this run
        if module is None:
            return []
        out: list[Any] = []
        todo, seen = [self.policy], set()
        while todo:
            obj = todo.pop()
            if obj is None or id(obj) in seen or len(seen) > 16:
                continue
            seen.add(id(obj))
            if isinstance(obj, module.FewShotReward):
                out.append(obj)
                continue
            todo.extend(getattr(obj, name, None) for name in ("gate", "prior", "policy"))
        return out

    def _apply_label(self, index: int, positive: bool) -> None:
        """Give candidate ``index``'s label to every few-shot scorer of the run, then re-prepare the
        policy so the gate mask / prior weights follow the new prototypes."""
        sinks = self._label_sinks()
        if not sinks:
            raise ControlError("label: this run has no few-shot scorer to learn from labels (start it with "
                               "gate=fewshot or gate=weight_fewshot)")
        for sink in sinks:
            sink.update(self.candidates, int(index), bool(positive))
        self._prepare_policy()

    def _apply_set(self, args: list[str], record: bool) -> None:
        if self.rebuild is None:
            raise ValueError("this run cannot switch components (no config to build them from)")
        for group in ("policy", "reward"):
            mine = [a for a in args if a.split("=", 1)[0].split(".")[0] == group]
            if not mine:
                continue
            obj = self.rebuild(group, mine)
            if group == "policy":
                if getattr(self.policy, "wraps_experiment_policy", False):
                    self.policy.policy = obj  # keep the gate or prior (and its model); swap what it wraps
                else:
                    self.policy = obj
                self._prepare_policy()
            else:
                self.reward = obj
                self._rescore()
        if record:
            self.state.overrides.append(" ".join(args))

    def _rescore(self) -> None:
        """A new reward: recompute every target from the recorded spectra (nothing re-measured)."""
        assert self.record is not None and self.candidates is not None
        axis = self.signal_axis or axis_from_record(self.record)
        idx, spectra = self.record.column("index"), self.record.column("spectrum")
        measured, y, failed = [], [], [i for i in self.state.failed if i not in set(idx.tolist())]
        for i, spec in zip(idx.tolist(), spectra):
            try:
                v = np.atleast_1d(np.asarray(self.reward(spec, axis), dtype=np.float64))
                ok = bool(np.all(np.isfinite(v)))
            except RewardError:
                ok = False
            if ok:
                measured.append(int(i))
                y.append(float(v[0]) if v.size == 1 else [float(x) for x in v])
            else:
                failed.append(int(i))
        self._objective_models = []  # the targets changed meaning: new models
        self.state.measured, self.state.y, self.state.failed = measured, y, failed
        oracle = self.truth_source()
        if oracle is not None:
            self.truth = np.asarray(oracle.ground_truth(self.reward, self.candidates.yx_m), np.float64)
