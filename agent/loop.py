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
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

from drivers.errors import DriverError
from drivers.frames import Axis, Frame
from drivers.protocol import Driver, GroundTruth
from policies.protocol import PolicyBase

from .candidates import CandidateSet, make_candidates
from .preflight import check_driver, check_overview
from .record import RecordError, StepRow
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
from .run.ending import finish_run
from .run.rescore import rescore
from .run.truth import truth_map, truth_source
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
        self.rebuild = rebuild
        self.state = LoopState()
        self.stop = StopFlag()
        self.store = RunStore(out_dir, config_yaml, self.settings.checkpoint)
        self.decider = Decider(policy, surrogate, self.settings, self.seed, self.state, self.store)
        self.measurer = Measurer(driver, reward, self.settings, self.store, self.state, self.stop)
        self.guardians = Guardians(self.settings, self.state, self.store, self.stop)
        self.interventions = Interventions(self.settings, self.state, self.store, self.guardians, self.stop, self)
        self.overview: Frame | None = None
        self.candidates: CandidateSet | None = None
        self.truth: np.ndarray | None = None
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

    def truth_source(self) -> GroundTruth | None:
        """The driver that knows the noise-free truth (scoring only: never shown to the policy)."""
        return truth_source(self.driver)

    # ================================================================== set-up and resume
    def setup(self) -> None:
        """New run: acquire the overview, build candidates, compute the truth, open the files."""
        self.store.refuse_existing()
        self.store.lock()
        check_driver(self.settings, self.driver, self.reward)  # preflight: nothing dosed yet
        overview = self.measurer.acquire_overview()
        check_overview(self.settings, overview)  # before the candidate arrays are built
        self.measurer.probe_frame_id = overview.frame_id
        self.store.save_overview(overview)
        self._build_candidates(overview)
        assert self.candidates is not None
        self.store.create(overview, self.candidates, self.truth)
        self._start_design()

    def resume(self) -> None:
        """Continue the run in ``out_dir``: every journaled measurement is kept (see module doc).

        The folder is locked first; :func:`agent.consistency.check_store` then checks journal,
        record and checkpoint against each other and refuses (``RunStoreError``) what the journal
        cannot repair, before anything is changed."""
        if not self.store.holds_measurements():
            if not self.store.holds_a_started_run():
                raise RecordError(f"{self.out_dir} holds no run to resume (no journal.jsonl or record.h5)")
            log.warning("%s was stopped before its record existed: nothing was measured; starting afresh",
                        self.out_dir)
            self.setup()
            return
        self.store.lock()
        try:
            self._resume_locked()
        except BaseException:
            self.store.unlock()
            raise

    def _resume_locked(self) -> None:
        check = self.store.check()
        overview = self.store.load_overview()
        check_driver(self.settings, self.driver, self.reward)
        check_overview(self.settings, overview)
        self._build_candidates(overview)
        assert self.candidates is not None
        restored = self.store.reopen(check, overview, self.candidates, self.truth)
        self.measurer.signal_axis = self.store.recorded_signal_axis(check)
        self._start_design()  # same seed -> same design
        loop = restored.loop
        if loop is not None:
            vars(self.state).update(vars(loop))  # in place: every part holds this state
            rng = restored.rng
            assert rng is not None
            self.decider.rng = rng
            self.decider.load_model_state(restored.model_state)
            for ov in self.state.overrides:
                self.switch(ov.split(" "))
            for index, positive in self.state.labels:  # the scorer is rebuilt from the config: relabel
                try:
                    self.label(int(index), bool(positive))
                except Exception as err:  # noqa: BLE001 - resumed without the few-shot gate: labels unused
                    log.warning("few-shot label of candidate %s not re-applied: %s", index, err)
            self.guardians.restore(restored.extra)
        rows = check.journal.rows
        self.store.queue_replay(rows[self.state.n_rows:])
        # The instrument process is new: it needs its own overview frame to place the probe.
        fresh = self.measurer.acquire_overview()
        self.measurer.probe_frame_id = fresh.frame_id
        self.guardians.track(overview, fresh, len(rows))
        self.store.event("resumed", n_rows=len(rows), from_checkpoint=self.state.n_rows,
                         replay=self.store.n_replay)
        log.info("resumed %s: %d measurements kept, %d to replay", self.out_dir, len(rows), self.store.n_replay)

    def _build_candidates(self, overview: Frame) -> None:
        c = self.settings.candidates
        self.overview = overview
        self.candidates = make_candidates(overview, c.window_px, c.stride_px, c.margin_px, c.normalise)
        self.truth = truth_map(self.driver, self.reward, self.candidates)
        self.guardians.attach(self.candidates)
        assert self.guardians.dose is not None
        self.decider.attach(self.candidates, overview, self.guardians.dose)
        self.interventions.attach(self.candidates, overview)

    def _start_design(self) -> None:
        """The gate (if any) into the record, then the seed design (its weights kept as the gate map)."""
        assert self.candidates is not None
        self.decider.record_gate()
        self.decider.make_design()
        weights = self.decider.port.design_weights()
        if weights is not None:
            self.store.write_maps(gate=self.candidates.as_map(np.asarray(weights, dtype=np.float64)))

    # ================================================================== mid-run changes (Components)
    def switch(self, args: list[str]) -> None:
        """Rebuild the policy and/or reward from ``group[.key]=value`` overrides and use them; a new
        reward recomputes every target from the recorded spectra (nothing is re-measured)."""
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
                self._rescore()

    def _rescore(self) -> None:
        assert self.record is not None and self.candidates is not None
        axis = self.signal_axis or self.store.recorded_signal_axis()
        measured, y, failed = rescore(self.reward, self.record, axis, self.state.failed)
        if self.decider.models is not None:
            self.decider.models.reset()  # the targets changed meaning: new models
        self.state.measured, self.state.y, self.state.failed = measured, y, failed
        self.truth = truth_map(self.driver, self.reward, self.candidates)

    def label(self, index: int, positive: bool) -> None:
        """Give candidate ``index``'s label to every few-shot scorer of the run, then re-prepare the
        policy so the gate mask / prior weights follow the new prototypes."""
        from .run.labels import few_shot_scorers  # vision loads only with a few-shot gate

        sinks = few_shot_scorers(self.decider.port.models())
        if not sinks:
            from .control import ControlError

            raise ControlError("label: this run has no few-shot scorer to learn from labels (start it with "
                               "gate=fewshot or prior=fewshot)")
        for sink in sinks:
            sink.update(self.candidates, int(index), bool(positive))
        self.decider.prepare_policy()

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
        """Journal (fsync) a new measurement at once: paid-for data is safe from here on."""
        if acq.status is not Status.MEASURED or acq.row is not None:
            return acq
        assert acq.frame is not None and self.candidates is not None
        row = self.measurer.build_row(acq.index, decision, acq.frame, self.candidates)
        self.guardians.account_dose(acq.index, float(acq.frame.metadata.get("dose_e_per_A2", float("nan"))))
        self.store.secure(row, acq.frame.signal_axis)
        return acq.secured(row)

    def complete(self, decision: Decision, acq: Acquisition) -> StepRow | None:
        """Turn an acquisition into a journaled, recorded, checkpointed row (None when there is none)."""
        st, i = self.state, acq.index
        self.withdraw(decision, [i])
        if acq.status is Status.MEASURED and acq.row is None:
            acq = self.secure(decision, acq)
        if acq.status is Status.INTERLOCK:
            self.store.event("safety_interlock", step=st.step, index=i, message=str(acq.error))
            self.stop.request(f"{StopReason.SAFETY}: {acq.error}")
            return None
        if acq.status is Status.ABORTED:
            self.store.event("aborted", step=st.step, index=i, message=str(acq.error))
            self.stop.request(self.stop.reason or StopReason.USER)
            return None
        if acq.status is Status.FAILED:
            st.failed.append(i)
            st.step += 1
            self.store.event("measurement_failed", step=st.step, index=i, error=type(acq.error).__name__,
                             message=str(acq.error))
            log.warning("candidate %d failed and is skipped: %s", i, acq.error)
            self.guardians.count_failure(False)
            self._checkpoint()
            return None
        row = acq.row
        assert row is not None
        if acq.status is Status.REPLAYED:
            if self.measurer.signal_axis is None:
                self.measurer.signal_axis = self.store.recorded_signal_axis()
        else:
            assert acq.frame is not None
            self.store.append(row, acq.frame.signal_axis)
        st.n_rows += 1
        st.step += 1
        st.last_index = row.index
        values = np.asarray(row.objectives if np.size(row.objectives) else [row.reward], dtype=np.float64)
        if np.all(np.isfinite(values)):
            st.measured.append(row.index)
            st.y.append(float(values[0]) if values.size == 1 else [float(v) for v in values])
            self.guardians.count_failure(True)
        else:
            st.failed.append(row.index)
            self.guardians.count_failure(False)
        if np.isfinite(row.dose_e):
            st.total_dose_e += row.dose_e
        self._checkpoint()
        return row

    def _checkpoint(self) -> None:
        self.store.checkpoint(self.state, self.decider.rng, self.decider.model_state(),
                              self.guardians.checkpoint_extra())

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
        restore_signals = self._install_signal_handlers()
        try:
            self.begin()
            self._bar = _progress(self.settings.steps, self.settings.progress, initial=self.n_done)
            try:
                (run_pipelined if self.settings.pipeline else run_sequential)(self)
            finally:
                if self._bar is not None:
                    self._bar.close()
                    self._bar = None
                self._safe_blank()
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
        return finish_run(self.store, self.decider, self.candidates, self.truth, self.settings,
                          wall_time_s=time.perf_counter() - self.guardians.t_start, seed=self.seed)

    def close(self) -> None:
        """Close journal and record and release the run folder's lock (idempotent)."""
        self.store.close()
        self.store.unlock()

    # ================================================================== signals
    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum: int, _frame: FrameType | None) -> None:
            if self.stop.is_set() and signum == signal.SIGINT:
                raise KeyboardInterrupt  # a second Ctrl-C: leave now (files are already flushed)
            self.request_stop(f"{StopReason.SIGNAL} {signal.Signals(signum).name}")
            threading.Thread(target=self._safe_stop_driver, daemon=True).start()

        for s in previous:
            signal.signal(s, handler)

        def restore() -> None:
            for s, h in previous.items():
                signal.signal(s, h)

        return restore

    def _safe_stop_driver(self) -> None:
        try:
            self.driver.stop()
        except DriverError as err:  # the stop itself failed: blanking is retried in run()
            log.error("driver.stop() failed: %s", err)

    def _safe_blank(self) -> None:
        try:
            self.driver.blank()
        except DriverError as err:
            log.error("could not blank the beam: %s", err)
            self.store.event("blank_failed", message=str(err))


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

