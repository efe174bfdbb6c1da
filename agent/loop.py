"""The closed loop: driver -> measurement -> reward -> surrogate -> policy -> driver.

:class:`Experiment` composes the parts of a run (:mod:`agent.run`) and schedules them:

- :class:`~agent.run.RunStore` - the run folder: journal, record, checkpoint, resume and replay;
- :class:`~agent.run.Measurer` - probe, acquisition with retries, spectrum checks, reward, rows;
- :class:`~agent.run.Decider` - seed design, forced points, fit/predict, the policy;
- :class:`~agent.run.Guardians` - budgets, failure streak, drift, dose;
- :class:`~agent.run.Interventions` - the control inbox (pause, veto, force, set, label).

Its ask/tell seam is the one both schedules use: :meth:`Experiment.suggest` returns a
:class:`~agent.run.Decision` (the candidates it names are *pending* until observed);
:meth:`Experiment.acquire` measures one candidate on the run's driver; :meth:`Experiment.observe`
takes a spectrum measured elsewhere (a notebook driving its own instrument). Per measurement the
spectrum is journaled (fsync), recorded, and the checkpoint replaced, so a run killed anywhere resumes
(:meth:`Experiment.resume`) with every journaled measurement, replaying the decisions made after
the last checkpoint: a resumed run on a deterministic instrument chooses the same positions as one
never interrupted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from drivers.frames import Axis, Frame
from drivers.protocol import Driver
from policies.protocol import PolicyBase

from .candidates import CandidateSet
from .record import StepRow
from .run import (
    Acquisition,
    AnyPosterior,
    Decider,
    Decision,
    Guardians,
    Interventions,
    LoopState,
    MeasurementFailed,
    Measurer,
    RunStore,
    SpectrumRejected,
    Status,
    StopFlag,
    StopReason,
    run_pipelined,
    run_sequential,
)
from .run.components import Switchboard
from .run.ending import finish_run
from .run.ledger import Ledger
from .run.live import LiveView
from .run.opening import Opener
from .run.signals import blank_beam, install_stop_handlers
from .settings import ExperimentSettings
from .surrogates.protocol import Surrogate

__all__ = ["Experiment", "MeasurementFailed", "StopReason", "LoopState", "SpectrumRejected"]

log = logging.getLogger(__name__)


class Experiment:
    """One autonomous experiment.

    Args:
        driver: the instrument (or emulator, or replay).
        reward: ``reward(spectrum, axis) -> float`` (or ``(k,)`` for a vector reward).
        surrogate: the model; may be None only with model-free policies.
        policy: chooses candidates.
        settings: :class:`ExperimentSettings` (validated here).
        out_dir: the run directory: ``record.h5``, ``journal.jsonl``, ``checkpoint.pt``,
            ``overview.npz``, ``summary.json``, ``plots/``, ``control/``.
        seed: seeds the experiment's random generator (seed design, random policies).
        config_yaml: the resolved configuration, stored in the record.
        on_step: optional callback ``(experiment, rows)`` after each decision's measurements.
        on_acquired: optional callback ``(acquisition)`` after every instrument acquisition (its
            ``span_s`` says when the instrument was busy); runs on the acquiring thread.
        rebuild: ``rebuild(group, overrides) -> object`` builds a new policy or reward when the user
            switches one mid-run (``autoscope-ctl RUN_DIR set policy=ucb``); None disables that.
    """

    def __init__(
        self,
        driver: Driver,
        reward: Callable[[np.ndarray, Axis], Any],
        surrogate: Surrogate | None,
        policy: PolicyBase,
        settings: ExperimentSettings,
        out_dir: str | Path,
        seed: int = 0,
        config_yaml: str = "",
        on_step: Callable[[Experiment, list[StepRow]], None] | None = None,
        rebuild: Callable[[str, list[str]], Any] | None = None,
        on_acquired: Callable[[Acquisition], None] | None = None,
    ) -> None:
        self.settings = settings.validate()
        self.seed = int(seed)
        self.config_yaml = config_yaml
        self.on_step = on_step
        self.on_acquired = on_acquired
        self.state = LoopState()
        self.stop = StopFlag()
        self.store = RunStore(out_dir, config_yaml, self.settings.checkpoint)
        self.decider = Decider(policy, surrogate, self.settings, self.seed, self.state, self.store)
        self.measurer = Measurer(driver, reward, self.settings, self.store, self.state, self.stop)
        self.guardians = Guardians(self.settings, self.state, self.store, self.stop)
        self.ledger = Ledger(self.state, self.store, self.measurer, self.decider, self.guardians, self.stop)
        self.switchboard = Switchboard(rebuild, self.state, self.store, self.measurer, self.decider)
        self.interventions = Interventions(self.settings, self.state, self.store, self.guardians, self.stop,
                                           self.switchboard)
        self.opener = Opener(self.settings, self.state, self.store, self.measurer, self.decider, self.guardians,
                             self.ledger, self.switchboard, self.interventions)
        self.live = LiveView(self.store)  # decision events and live maps for viewers of the run folder
        self._pending: list[tuple[int, Decision]] = []  # suggested, not yet observed (in order)
        self._bar: Any = None

    # ================================================================== the parts, by name
    @property
    def driver(self) -> Driver:
        return self.measurer.driver

    @property
    def reward(self) -> Callable[[np.ndarray, Axis], Any]:
        return self.measurer.reward

    @property
    def policy(self) -> PolicyBase:
        return self.decider.policy

    @property
    def surrogate(self) -> Surrogate | None:
        return self.decider.surrogate

    @property
    def out_dir(self) -> Path:
        return self.store.out_dir

    @property
    def record(self) -> Any:
        return self.store.record

    @property
    def journal(self) -> Any:
        return self.store.journal

    @property
    def overview(self) -> Frame | None:
        """The run's first overview (probe positions and drift refer to it)."""
        return self.opener.overview

    @property
    def candidates(self) -> CandidateSet | None:
        return self.opener.candidates

    @property
    def truth(self) -> np.ndarray | None:
        """``(n,)`` (or ``(n, k)``) noise-free reward per candidate where the driver knows it (scoring only)."""
        return self.store.truth

    @property
    def last_posterior(self) -> AnyPosterior | None:
        return self.decider.last_posterior

    @property
    def signal_axis(self) -> Axis | None:
        return self.measurer.signal_axis

    @property
    def n_done(self) -> int:
        """Candidates finished so far (measured with a usable reward, or failed)."""
        return self.state.n_done

    @property
    def design(self) -> list[int]:
        """The seed design's candidate indices, in order."""
        return list(self.decider.design)

    def targets(self) -> np.ndarray:
        """Measured targets: ``(m,)`` float64, or ``(m, k)`` for a vector reward."""
        return self.decider.targets()

    def available_mask(self, pending: tuple[int, ...] = ()) -> np.ndarray:
        """(n,) bool: candidates the policy may choose now."""
        return self.decider.available(pending)

    def models(self) -> list[Surrogate]:
        """The surrogate(s): the configured one, or one clone per objective for a vector reward."""
        assert self.decider.models is not None
        y = self.targets()
        return self.decider.models.for_objectives(1 if y.ndim < 2 else int(y.shape[1]))

    def surrogate_inputs(self) -> np.ndarray:
        """The candidate representation the surrogate takes, one row per candidate."""
        assert self.decider.models is not None and self.candidates is not None
        return self.decider.models.inputs(self.candidates)

    # ================================================================== set-up and resume
    def setup(self) -> None:
        """New run: acquire the overview, build candidates, compute the truth, open the files."""
        self.opener.new()

    def resume(self) -> None:
        """Continue the run in ``out_dir``: every journaled measurement is kept (see module doc).

        The folder is locked first; :func:`agent.consistency.check_store` then checks journal,
        record and checkpoint against each other and refuses (``RunStoreError``) what the journal
        cannot repair, before anything is changed."""
        self.opener.resume()

    # ================================================================== mid-run changes
    def switch(self, args: list[str]) -> None:
        """Switch the policy and/or reward (``["policy=ucb", "reward.window=[1, 2]"]``), as ``set`` does."""
        self.switchboard.switch(args)

    def label(self, index: int, positive: bool) -> None:
        """Label candidate ``index`` for the run's few-shot scorers, as ``label`` does."""
        self.switchboard.label(index, positive)

    def poll_control(self) -> None:
        """Apply the commands waiting in ``control/`` now (the loop does this before every decision)."""
        if self.interventions.inbox is None:
            self.interventions.open_inbox()
        self.interventions.poll()

    def request_stop(self, reason: str = StopReason.USER) -> None:
        """Ask the loop to stop after the measurement in progress (thread- and signal-safe)."""
        self.stop.request(reason)

    # ================================================================== ask / tell
    def suggest(self, q: int | None = None) -> Decision:
        """The next candidate(s) to measure (``q`` at most, default ``experiment.q``), chosen with the
        candidates already suggested and not yet observed as pending.

        Raises:
            NoCandidatesLeft: nothing is left to measure.
        """
        pending = tuple(i for i, _ in self._pending)
        decision = self.decider.decide(pending, q)
        assert self.candidates is not None
        self.live.decided(decision, self.state.step + len(pending), self.candidates,
                          self.decider.last_posterior if decision.posterior is not None else None, len(self.state.y))
        self._pending.extend((int(i), decision) for i in decision.indices.tolist())
        return decision

    def withdraw(self, decision: Decision, indices: list[int]) -> None:
        """Forget suggested candidates that will not be measured."""
        drop = {int(i) for i in indices}
        self._pending = [(i, d) for i, d in self._pending if not (d is decision and i in drop)]

    def acquire(self, index: int) -> Acquisition:
        """Measure candidate ``index`` on the run's driver (or replay its journaled row after a
        resume); never raises for a fault."""
        row = self.store.take_replay(index)
        if row is not None:
            return Acquisition(index, Status.REPLAYED, row=row)
        acq = self.measurer.acquire(index, self.guardians.probe_fraction(index))
        if self.on_acquired is not None:
            self.on_acquired(acq)
        return acq

    def observe(self, where: int | tuple[float, float], frame: Frame) -> StepRow | None:
        """Tell the run a spectrum measured at candidate ``where`` (an index, or a position (y, x) in
        metres: the nearest candidate). The spectrum goes through the same checks, journal, record
        and checkpoint as one the loop measured; returns its row (None when it was refused)."""
        assert self.candidates is not None
        if isinstance(where, (int, np.integer)):
            index = int(where)
        else:
            d2 = np.sum((self.candidates.yx_m - np.asarray(where, dtype=np.float64)) ** 2, axis=1)
            index = int(np.argmin(d2))
        decision = next((d for i, d in self._pending if i == index),
                        Decision(np.array([index]), "forced", "chosen by the user"))
        try:
            self.measurer.check_spectrum(frame)
            acq = Acquisition(index, Status.MEASURED, frame=frame)
        except SpectrumRejected as err:
            acq = Acquisition(index, Status.FAILED, error=err)
        row = self.complete(decision, self.secure(decision, acq))
        self.after([row] if row is not None else [])
        return row

    def secure(self, decision: Decision, acq: Acquisition) -> Acquisition:
        """Journal (fsync) a new measurement at once (see :class:`~agent.run.Ledger`)."""
        return self.ledger.secure(decision, acq)

    def complete(self, decision: Decision, acq: Acquisition) -> StepRow | None:
        """Record and checkpoint an acquisition; the candidate is no longer pending."""
        self.withdraw(decision, [acq.index])
        return self.ledger.complete(decision, acq)

    # ================================================================== what the schedules call
    def before_decision(self, n_inflight: int = 0) -> bool:
        """Control commands, budgets and guardians; False when the run must stop deciding."""
        self.interventions.poll()
        while self.state.paused and not self.stop.is_set():
            time.sleep(0.05)
            self.interventions.poll()
        if self.stop.is_set():
            return False
        reason = self.guardians.budget_exhausted(n_inflight, bool(self.decider.available().any()))
        if reason:
            self.state.stop_reason = reason
            return False
        if n_inflight == 0 and self.guardians.drift_due():
            assert self.overview is not None
            self.guardians.correct_drift(self.measurer, self.overview)
        return True

    def drift_due(self, n_inflight: int) -> bool:
        return self.guardians.drift_due(n_inflight)

    def exhausted(self) -> None:
        self.state.stop_reason = StopReason.EXHAUSTED

    def after(self, rows: list[StepRow]) -> None:
        bar = self._bar
        if bar is not None:
            bar.n = self.n_done
            if self.state.y:
                y = self.targets()
                y = y[:, 0] if y.ndim > 1 else y
                bar.set_postfix(best=f"{float(y.max() if self.settings.maximize else y.min()):.4g}",
                                refresh=False)
            bar.refresh()
        if self.on_step is not None:
            self.on_step(self, rows)

    # ================================================================== the run
    def begin(self) -> None:
        """Set up a new run (unless resumed) and open the control inbox: then ``suggest``/``observe``."""
        if self.record is None:
            self.setup()
        self.interventions.open_inbox()

    def run(self) -> dict[str, Any]:
        """Run until a budget ends (or a stop); returns the summary (also in ``summary.json``)."""
        torch_threads = _set_torch_threads(self.settings.threads)
        self.guardians.t_start = time.perf_counter()
        restore_signals = install_stop_handlers(self.stop, self.driver)
        try:
            self.begin()
            self._bar = _progress(self.settings.steps, self.settings.progress, initial=self.n_done)
            try:
                (run_pipelined if self.settings.pipeline else run_sequential)(self)
            finally:
                if self._bar is not None:
                    self._bar.close()
                    self._bar = None
                failed = blank_beam(self.driver)
                if failed:
                    self.store.event("blank_failed", message=failed)
            return self.finish()
        finally:
            restore_signals()
            if torch_threads is not None:
                _set_torch_threads(torch_threads)
            self.close()

    def finish(self) -> dict[str, Any]:
        """Record the stop, write the final maps, ``summary.json`` and the plots; returns the summary."""
        assert self.candidates is not None
        if self.stop.reason:
            self.state.stop_reason = self.stop.reason
        log.info("stopped: %s after %d measurements", self.state.stop_reason, len(self.state.measured))
        self.store.event("stopped", reason=self.state.stop_reason, n_rows=self.state.n_rows)
        return finish_run(self.store, self.decider, self.candidates, self.settings,
                          wall_time_s=time.perf_counter() - self.guardians.t_start, seed=self.seed)

    def close(self) -> None:
        """Close journal and record and release the run folder's lock (idempotent)."""
        self.store.close()
        self.store.unlock()


def _progress(total: int, enabled: bool, initial: int = 0) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="autoscope", unit="meas", dynamic_ncols=True)


def _set_torch_threads(n: int) -> int | None:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return None
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n))
    return previous

