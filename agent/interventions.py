"""Human in the loop: the control commands a running experiment applies (``autoscope-ctl``).

A mixin of :class:`agent.loop.Experiment`: it reads the run's inbox before every decision and
applies pause / resume / stop / veto / force / set, each recorded as an ``intervention`` event.
Switching the reward recomputes every target from the recorded spectra: nothing is re-measured.
"""

from __future__ import annotations

import logging

import numpy as np

from drivers.errors import DriverError
from rewards.errors import RewardError

from .control import Command
from .runfiles import axis_from_record

__all__ = ["InterventionsMixin"]

log = logging.getLogger(__name__)


class InterventionsMixin:
    """Applies control commands to the experiment's state (see :mod:`agent.control`)."""

    def _poll_control(self) -> None:
        if self._inbox is None:
            return
        for cmd, text, path in self._inbox.take():
            try:
                if cmd is None:
                    raise ValueError(f"unreadable command {text}")
                self._apply(cmd)
                self.record.event("intervention", verb=cmd.verb, args=cmd.args, metres=cmd.metres,
                                  id=cmd.id, outcome="applied")
            except (ValueError, KeyError, DriverError) as err:
                self.record.event("intervention", text=text, outcome=f"refused: {err}")
                log.error("control command refused: %s", err)
            self._inbox.archive(path)

    def _to_pixels(self, cmd: Command, values: list[float]) -> list[float]:
        if not cmd.metres:
            return values
        assert self.overview is not None
        ay, ax = self.overview.axes
        out = []
        for k, v in enumerate(values):
            axis = ay if (cmd.verb == "force" and k == 0) or (cmd.verb == "veto" and k < 2) else ax
            out.append((v - axis.offset) / axis.scale)
        return out

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
        elif cmd.verb == "force":
            py, px = self._to_pixels(cmd, [float(v) for v in cmd.args])
            d2 = (cand.yx_px[:, 0] - py) ** 2 + (cand.yx_px[:, 1] - px) ** 2
            st.forced.append(int(np.argmin(d2)))
        elif cmd.verb == "set":
            self._apply_set([str(a) for a in cmd.args], record=True)
        else:
            raise ValueError(f"unknown verb {cmd.verb}")

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
