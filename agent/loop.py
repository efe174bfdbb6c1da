"""The closed loop: driver -> measurement -> reward -> surrogate -> policy -> driver.

:class:`Experiment` owns all experiment state (measured indices, targets, timings, random state);
the driver, reward, surrogate and policy own only their own. Per measurement, in this order:

1. the spectrum and its metadata go into ``journal.jsonl`` (fsynced: the crash-proof copy);
2. the same row goes into ``record.h5`` (flushed);
3. ``checkpoint.pt`` (loop state, random state, model weights) is replaced atomically.

A run killed anywhere resumes (:meth:`Experiment.resume`) with every journaled measurement; rows
journaled after the last checkpoint are *replayed*: the decisions are recomputed from the restored
state and the recorded measurements are used instead of measuring again, so a resumed run on a
deterministic instrument chooses the same positions as one never interrupted.

With ``experiment.pipeline`` the next decision is computed while the instrument acquires the
current point; the point in flight is *pending* (unavailable, and avoided by the policies'
separation rule), so the detector does not wait for the model.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import copy
import logging
import math
import signal
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from drivers.errors import (
    Aborted,
    ConnectionLost,
    DriverError,
    InstrumentError,
    InvalidArgument,
    SafetyInterlock,
    Timeout,
)
from drivers.frames import Axis, Frame
from drivers.protocol import Driver, GroundTruth
from policies.posterior import MultiPosterior, Posterior
from policies.protocol import NoCandidatesLeft, Policy, SelectionState
from rewards.errors import RewardError

from .candidates import CandidateSet, make_candidates
from .checkpoint import restore_rng, save_checkpoint
from .control import Inbox
from .guardians import DoseGuardian, DriftGuardian
from .interventions import InterventionsMixin
from .consistency import StoreCheck, check_store, repair_store
from .journal import Journal
from .record import Record, RecordError, StepRow
from .preflight import check_driver, check_overview
from .runlock import RunLock
from .runfiles import axis_from_record, load_overview, save_overview
from .settings import ExperimentSettings
from .surrogates.protocol import Surrogate

__all__ = ["Experiment", "MeasurementFailed", "StopReason", "LoopState", "SpectrumRejected"]

log = logging.getLogger(__name__)

#: Faults worth another try (with backoff); refusals (InvalidArgument, SafetyInterlock) are not.
TRANSIENT = (Timeout, InstrumentError, ConnectionLost)


class MeasurementFailed(RuntimeError):
    """A candidate could not be measured after every retry."""


class SpectrumRejected(InstrumentError):
    """The instrument returned an unusable spectrum (NaN, wrong shape, saturated): retried."""


class StopReason:
    BUDGET = "steps budget reached"
    WALL_TIME = "wall-time budget reached"
    DOSE = "total-dose budget reached"
    EXHAUSTED = "no candidates left"
    SAFETY = "safety interlock"
    USER = "stopped by the user"
    SIGNAL = "stopped by signal"
    FAILING = "failing measurements"  # experiment.max_consecutive_failures unusable in a row


@dataclass
class _Decision:
    indices: np.ndarray
    posterior: Posterior | None = None
    t_fit_s: float = float("nan")
    t_predict_s: float = float("nan")
    t_select_s: float = float("nan")
    reason: str = ""
    cost_s: dict[int, float] = field(default_factory=dict)


@dataclass
class LoopState:
    """Mutable state of a run: what a checkpoint holds besides random state and weights."""

    measured: list[int] = field(default_factory=list)
    y: list[Any] = field(default_factory=list)  # floats, or lists of k floats for a vector reward
    failed: list[int] = field(default_factory=list)
    vetoed: list[int] = field(default_factory=list)
    forced: list[int] = field(default_factory=list)
    step: int = 0
    n_rows: int = 0
    n_degenerate: int = 0
    total_dose_e: float = 0.0
    paused: bool = False
    stop_reason: str = ""
    drift_px: list[float] = field(default_factory=lambda: [0.0, 0.0])
    last_index: int = -1  # the candidate the probe last measured (travel costs start there)
    overrides: list[str] = field(default_factory=list)
    labels: list[list[Any]] = field(default_factory=list)  # few-shot labels sent: [candidate, positive]
    consecutive_failures: int = 0  # unusable measurements in a row (failed, or no reward)


class Experiment(InterventionsMixin):
    """One autonomous experiment.

    Args:
        driver: the instrument (or emulator, or replay).
        reward: ``reward(spectrum, axis) -> float``.
        surrogate: the model; may be None only with model-free policies.
        policy: chooses candidates.
        settings: :class:`ExperimentSettings` (validated here).
        out_dir: the run directory: ``record.h5``, ``journal.jsonl``, ``checkpoint.pt``,
            ``overview.npz``, ``summary.json``, ``plots/``, ``control/``.
        seed: seeds the experiment's random generator (seed design, random policies).
        config_yaml: the resolved configuration, stored in the record.
        on_step: optional callback ``(experiment, rows)`` after each decision's measurements.
        rebuild: ``rebuild(group, overrides) -> object`` builds a new policy or reward when the user
            switches one mid-run (``autoscope-ctl RUN_DIR set policy=ucb``); None disables that.
    """

    def __init__(
        self,
        driver: Driver,
        reward: Callable[[np.ndarray, Axis], float],
        surrogate: Surrogate | None,
        policy: Policy,
        settings: ExperimentSettings,
        out_dir: str | Path,
        seed: int = 0,
        config_yaml: str = "",
        on_step: Callable[["Experiment", list[StepRow]], None] | None = None,
        rebuild: Callable[[str, list[str]], Any] | None = None,
    ) -> None:
        if surrogate is None and getattr(policy, "needs_model", True):
            raise ValueError(f"policy {type(policy).__name__} needs a surrogate; set `surrogate=`")
        self.driver = driver
        self.reward = reward
        self.surrogate = surrogate
        self.policy = policy
        self.settings = settings.validate()
        self.out_dir = Path(out_dir)
        self.seed = int(seed)
        self.config_yaml = config_yaml
        self.on_step = on_step
        self.rebuild = rebuild
        self.rng = np.random.default_rng(self.seed)
        self.state = LoopState()
        self.overview: Frame | None = None
        self.probe_frame_id: str = ""
        self.candidates: CandidateSet | None = None
        self.truth: np.ndarray | None = None
        self.record: Record | None = None
        self.journal: Journal | None = None
        self.signal_axis: Axis | None = None
        self.last_posterior: Posterior | None = None
        self.drift: DriftGuardian | None = None
        self.dose: DoseGuardian | None = None
        # a vector reward gets one surrogate per objective, cloned from the configured one
        self._prototype = copy.deepcopy(surrogate) if surrogate is not None else None
        self._objective_models: list[Surrogate] = []
        self._design: list[int] = []
        self._replay: collections.deque[StepRow] = collections.deque()
        self._stop = threading.Event()
        self._stop_reason = ""
        self._t_start = time.perf_counter()
        self._inbox: Inbox | None = None
        self._run_lock: RunLock | None = None

    # ================================================================== set-up and resume
    def setup(self) -> None:
        """New run: acquire the overview, build candidates, compute the truth, open the files."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if (self.out_dir / "record.h5").exists() or (self.out_dir / "journal.jsonl").exists():
            raise RecordError(f"{self.out_dir} already holds a run; continue it with "
                              f"`autoscope-resume {self.out_dir}` or choose a new directory")
        self._lock_run()
        ov = self.settings.overview
        check_driver(self.settings, self.driver, self.reward)  # preflight: nothing dosed yet
        self.overview = self._retry("acquire_overview", self._acquire_overview)
        check_overview(self.settings, self.overview)  # before the candidate arrays are built
        self.probe_frame_id = self.overview.frame_id
        save_overview(self.out_dir / "overview.npz", self.overview)
        self._build_candidates()
        self.record = Record.create(self.out_dir / "record.h5", self.overview, self.candidates,
                                    self.config_yaml, self.truth)
        self.journal = Journal(self.out_dir / "journal.jsonl")
        self.record.journal = self.journal  # every event is journaled first (rebuilds keep them)
        self._record_gate()
        self._design = self._initial_design(self.settings.n_init)
        del ov

    def _record_gate(self) -> None:
        """A gate or prior (conf/gate/) goes in the record once the record exists: what it is, its
        own validation figures (the quality gate's precision and F(1/3)), how much it passes."""
        describe = getattr(self.policy, "describe", None)
        if callable(describe) and self.record is not None:
            self.record.event("gate", **describe())

    def _lock_run(self) -> None:
        """Hold ``run.lock``: a second writer of this folder is refused with this PID."""
        if self._run_lock is None:
            self._run_lock = RunLock(self.out_dir).acquire()
            if self._run_lock.took_over:
                log.warning("took over the stale lock of PID %s (no longer running)",
                            self._run_lock.took_over.get("pid"))

    def _unlock_run(self) -> None:
        if self._run_lock is not None:
            self._run_lock.release()
            self._run_lock = None

    def _prepare_policy(self) -> None:
        """Policies that look at the candidates once (a quality gate scoring every patch, a
        segmentation mask of the overview) get them through an optional
        ``prepare(candidates, overview)``, called again after every new overview and on resume."""
        prepare = getattr(self.policy, "prepare", None)
        if callable(prepare) and self.candidates is not None:
            prepare(self.candidates, self.overview)

    def truth_source(self) -> GroundTruth | None:
        """The driver that knows the noise-free truth (emulators, replays), looking through
        wrappers (safety layer, fault injector) that keep the real driver as ``inner``. Scoring only:
        the truth never reaches the policy."""
        driver, seen = self.driver, 0
        while driver is not None and seen < 8:
            if callable(getattr(type(driver), "ground_truth", None)):
                return driver
            driver, seen = getattr(driver, "inner", None), seen + 1
        return None

    def _acquire_overview(self) -> Frame:
        ov = self.settings.overview
        shape = None if ov.shape_px is None else tuple(int(v) for v in ov.shape_px)
        return self.driver.acquire_overview(ov.fov_m, shape, ov.dwell_s, ov.detector)

    def _build_candidates(self) -> None:
        assert self.overview is not None
        c, s = self.settings.candidates, self.settings
        self.candidates = make_candidates(self.overview, c.window_px, c.stride_px, c.margin_px, c.normalise)
        oracle = self.truth_source()
        if oracle is not None:
            t0 = time.perf_counter()
            self.truth = np.asarray(oracle.ground_truth(self.reward, self.candidates.yx_m), np.float64)
            log.info("ground truth over %d candidates in %.2f s (scoring only, never shown to the policy)",
                     self.candidates.n, time.perf_counter() - t0)
        self._prepare_policy()
        if s.drift_every:
            self.drift = DriftGuardian(s.drift_every)
        # dose is always accounted (cost-aware policies read it); the limit is off unless set
        limit = s.max_dose_e_per_A2 if s.max_dose_e_per_A2 is not None else math.inf
        self.dose = DoseGuardian(self.candidates.yx_m, limit, s.dose_radius_m)

    def resume(self) -> None:
        """Continue the run in ``out_dir``: every journaled measurement is kept (see module doc).

        The folder is locked first; :func:`agent.consistency.check_store` then checks journal,
        record and checkpoint against each other and refuses (``RunStoreError``) what the journal
        cannot repair, before anything is changed."""
        d = self.out_dir
        if not (d / "journal.jsonl").exists() and not (d / "record.h5").exists():
            if not ((d / "overview.npz").exists() or (d / "config.yaml").exists()):
                raise RecordError(f"{d} holds no run to resume (no journal.jsonl or record.h5)")
            log.warning("%s was stopped before its record existed: nothing was measured; starting afresh", d)
            self.setup()
            return
        self._lock_run()
        try:
            self._resume_locked()
        except BaseException:
            self._unlock_run()
            raise

    def _resume_locked(self) -> None:
        d = self.out_dir
        check = check_store(d)
        for note in check.notes:
            log.warning("%s", note)
        self.overview = load_overview(d / "overview.npz")
        check_driver(self.settings, self.driver, self.reward)
        check_overview(self.settings, self.overview)
        self._build_candidates()
        rows = check.journal.rows
        ckpt = check.checkpoint
        if ckpt is None:
            log.warning("no checkpoint: resuming from the journal alone, from the seed state")
        self.record = self._reopen_record(check)
        self.journal = Journal(d / "journal.jsonl")
        self.record.journal = self.journal
        self.signal_axis = check.journal.signal_axis or axis_from_record(self.record)
        for note in self._repairs:
            self.record.event("store_repaired", message=note)
        if check.record_problem:
            self.record.event("record_rebuilt_from_journal", reason=check.record_problem)
        self._record_gate()
        self._design = self._initial_design(self.settings.n_init)  # same seed -> same design
        if ckpt is not None:
            self.state = LoopState(**ckpt["loop"])
            self.rng = restore_rng(ckpt)
            self._load_model_states(ckpt.get("surrogate"))
            for ov in self.state.overrides:
                self._apply_set(ov.split(" "), record=False)
            for index, positive in self.state.labels:  # the scorer is rebuilt from the config: relabel
                try:
                    self._apply_label(int(index), bool(positive))
                except Exception as err:  # noqa: BLE001 - resumed without the few-shot gate: labels unused
                    log.warning("few-shot label of candidate %s not re-applied: %s", index, err)
            if self.dose is not None and "dose_local" in ckpt["extra"]:
                self.dose.local_dose = np.asarray(ckpt["extra"]["dose_local"], dtype=np.float64)
        self._replay.extend(rows[self.state.n_rows:])
        # The instrument process is new: it needs its own overview frame to place the probe.
        fresh = self._retry("acquire_overview", self._acquire_overview)
        self.probe_frame_id = fresh.frame_id
        if self.drift is not None:
            self.drift.update(len(rows), self.overview.data, fresh.data)
            self.state.drift_px = list(self.drift.shift_px)
        self.record.event("resumed", n_rows=len(rows), from_checkpoint=self.state.n_rows,
                          replay=len(self._replay))
        log.info("resumed %s: %d measurements kept, %d to replay", d, len(rows), len(self._replay))

    def _reopen_record(self, check: StoreCheck) -> Record:
        """The record, completed or rebuilt from the journal (see :func:`agent.consistency.repair_store`)."""
        rec, self._repairs = repair_store(check, lambda: Record.create(
            self.out_dir / "record.h5", self.overview, self.candidates, self.config_yaml, self.truth))
        for note in self._repairs:
            log.warning("%s", note)
        return rec

    def _initial_design(self, n: int) -> list[int]:
        cand = self.candidates
        assert cand is not None
        n = min(n, cand.n)
        rng = np.random.default_rng([self.seed, 0xD5])  # own stream: identical on resume
        if n == 0:
            return []
        # a gate (0/1 per candidate) or a prior (weights in (0, 1]) applies to the seed design too:
        # the seed acquisitions are as expensive as the policy's
        fn = getattr(self.policy, "design_weights", None)
        w = fn() if callable(fn) else None
        if w is not None:
            w = np.asarray(w, dtype=np.float64)
            if w.shape != (cand.n,) or not np.all(np.isfinite(w)) or np.any(w < 0):
                raise ValueError(f"{type(self.policy).__name__}.design_weights() must be ({cand.n},) "
                                 f"finite weights >= 0, got shape {w.shape}")
            n_ok = int(np.count_nonzero(w > 0))
            if n_ok < n:
                log.warning("seed design: the gate passes %d candidates, fewer than n_init=%d", n_ok, n)
            n = min(n, n_ok)
            if n == 0:
                return []
        if self.settings.init == "random":
            if w is None:
                return [int(i) for i in rng.choice(cand.n, size=n, replace=False)]
            return [int(i) for i in rng.choice(cand.n, size=n, replace=False, p=w / w.sum())]
        from scipy.stats import qmc

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Sobol balance warning for n not a power of two
            pts = qmc.Sobol(d=2, scramble=True, seed=rng).random(n)
        # without weights: the candidate nearest each Sobol point. With weights: the candidate
        # maximising w * exp(-d^2 / 2h^2), h half the spacing of n space-filling points (a 0/1 gate
        # mask: the nearest candidate the gate passes)
        penalty = None
        if w is not None:
            h2 = (0.5 / math.sqrt(n)) ** 2
            with np.errstate(divide="ignore"):
                penalty = -2.0 * h2 * np.log(w)  # in units of d^2; inf where the gate refuses
        taken = np.zeros(cand.n, dtype=bool)
        design = []
        for p in pts:
            d2 = np.sum((cand.yx_frac - p) ** 2, axis=1)
            if penalty is not None:
                d2 = d2 + penalty
            d2[taken] = np.inf
            i = int(np.argmin(d2))
            taken[i] = True
            design.append(i)
        if w is not None:
            log.info("seed design: %d space-filling points among the %d candidates the %s passes "
                     "(mean weight %.3g vs %.3g over all)", n, n_ok, type(self.policy).__name__,
                     float(w[design].mean()), float(w.mean()))
        return design

    # ================================================================== main loop
    def run(self) -> dict[str, Any]:
        """Run until a budget ends (or a stop); returns the summary (also in ``summary.json``)."""
        from .summary import finish_run  # local: plots pull in matplotlib

        torch_threads = _set_torch_threads(self.settings.threads)
        self._t_start = time.perf_counter()
        restore_signals = self._install_signal_handlers()
        try:
            if self.record is None:
                self.setup()
            self._inbox = Inbox(self.out_dir)
            bar = _progress(self.settings.steps, self.settings.progress, initial=self._n_done())
            try:
                if self.settings.pipeline:
                    self._run_pipelined(bar)
                else:
                    self._run_sequential(bar)
            finally:
                if bar is not None:
                    bar.close()
                self._safe_blank()
            if self._stop_reason:
                self.state.stop_reason = self._stop_reason
            log.info("stopped: %s after %d measurements", self.state.stop_reason, len(self.state.measured))
            self.record.event("stopped", reason=self.state.stop_reason, n_rows=self.state.n_rows)
            return finish_run(self)
        finally:
            restore_signals()
            if torch_threads is not None:
                _set_torch_threads(torch_threads)
            if self.journal is not None:
                self.journal.close()
            if self.record is not None:
                self.record.close()
            self._unlock_run()

    def request_stop(self, reason: str = StopReason.USER) -> None:
        """Ask the loop to stop after the measurement in progress (thread- and signal-safe)."""
        if not self._stop_reason:
            self._stop_reason = reason
        self._stop.set()

    def _run_sequential(self, bar) -> None:
        while self._before_decision():
            try:
                decision = self._decide(pending=())
            except NoCandidatesLeft:
                self.state.stop_reason = StopReason.EXHAUSTED
                return
            rows = []
            for i in decision.indices.tolist():
                result = self._acquire_guarded(int(i))
                row = self._complete(int(i), decision, result)
                if row is not None:
                    rows.append(row)
                if self._stop.is_set():
                    break
            self._after(rows, bar)

    def _run_pipelined(self, bar) -> None:
        pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="acquire")
        inflight: list[tuple[int, _Decision, cf.Future]] = []
        try:
            while True:
                go_on = self._before_decision(n_inflight=len(inflight))
                if go_on and self.drift is not None and self.drift.due(self._n_done() + len(inflight)):
                    done, inflight = inflight, []
                    self._drain(done, bar)  # the overview needs the beam: nothing in flight
                    continue
                decision = None
                if go_on:
                    pending = tuple(i for i, _, _ in inflight)
                    try:
                        decision = self._decide(pending=pending)  # runs while the detector works
                    except NoCandidatesLeft:
                        if not inflight:
                            raise
                # the detector starts on the next point as soon as the finished ones are journaled;
                # record and checkpoint are written while it acquires. `inflight` is the new list
                # before anything starts, so whatever happens the `finally` drains what is running.
                done, inflight = inflight, []

                def submit(decision=decision, started=inflight) -> None:
                    started.extend((int(i), decision, pool.submit(self._acquire_guarded, int(i)))
                                   for i in decision.indices.tolist())

                self._drain(done, bar, then=submit if decision is not None else None)
                if decision is None:
                    if not go_on or self._stop.is_set():
                        break
                    continue
        except NoCandidatesLeft:
            self.state.stop_reason = StopReason.EXHAUSTED
        finally:
            self._drain(inflight, bar)
            pool.shutdown(wait=True)

    def _drain(self, inflight, bar, then=None) -> None:
        """Wait for the acquisitions in flight, journal them (fsync), call ``then()`` (which starts
        the next acquisitions; not after an interlock, an abort or a stop request), then record and
        checkpoint them."""
        secured = [(i, decision, self._secure(i, decision, fut.result())) for i, decision, fut in inflight]
        halt = any(isinstance(r, (SafetyInterlock, Aborted)) for _, _, r in secured)
        if then is not None and not halt and not self._stop.is_set():
            then()
        rows = []
        for i, decision, result in secured:
            row = self._complete(i, decision, result)
            if row is not None:
                rows.append(row)
        if inflight:
            self._after(rows, bar)

    def _after(self, rows: list[StepRow], bar) -> None:
        if bar is not None:
            bar.n = self._n_done()
            if self.state.y:
                bar.set_postfix(best=f"{self._best():.4g}", refresh=False)
            bar.refresh()
        if self.on_step is not None:
            self.on_step(self, rows)

    def _before_decision(self, n_inflight: int = 0) -> bool:
        """Control commands, budgets and guardians; False when the run must stop deciding."""
        self._poll_control()
        while self.state.paused and not self._stop.is_set():
            time.sleep(0.05)
            self._poll_control()
        if self._stop.is_set():
            return False
        reason = self._budget_exhausted(n_inflight)
        if reason:
            self.state.stop_reason = reason
            return False
        if self.drift is not None and n_inflight == 0 and self.drift.due(self._n_done()):
            self._correct_drift()
        return True

    def _n_done(self) -> int:
        return len(self.state.measured) + len(self.state.failed)

    def _budget_exhausted(self, n_inflight: int = 0) -> str:
        s = self.settings
        if self._n_done() + n_inflight >= s.steps:
            return StopReason.BUDGET
        if s.wall_time_s is not None and time.perf_counter() - self._t_start >= s.wall_time_s:
            return StopReason.WALL_TIME
        if s.max_total_dose_e is not None:
            # the next spectrum (and those in flight) must fit: a dose budget is never overshot
            st = self.state
            per_spectrum = st.total_dose_e / st.n_rows if st.n_rows else 0.0
            if st.total_dose_e + per_spectrum * (1 + n_inflight) > s.max_total_dose_e:
                return StopReason.DOSE
        if not self.available_mask().any() and not self.state.forced:
            return StopReason.EXHAUSTED
        return ""

    def available_mask(self, pending: tuple[int, ...] = ()) -> np.ndarray:
        """(n,) bool: candidates the policy may choose now."""
        assert self.candidates is not None
        avail = np.ones(self.candidates.n, dtype=bool)
        if not self.settings.allow_remeasure:
            avail[self.state.measured] = False
        avail[self.state.failed] = False
        avail[self.state.vetoed] = False
        avail[list(pending)] = False
        if self.dose is not None:
            avail &= ~self.dose.damaged
        return avail

    # ================================================================== deciding
    def _decide(self, pending: tuple[int, ...]) -> _Decision:
        st = self.state
        remaining = self.settings.steps - self._n_done() - len(pending)
        if st.forced:
            i = st.forced.pop(0)
            return _Decision(np.array([i]), reason="forced by user")
        done = set(st.measured) | set(st.failed) | set(st.vetoed) | set(pending)
        for i in self._design:  # seed phase: the design points not yet measured, in order
            if i not in done:
                return _Decision(np.array([i]), reason="seed")
        avail = self.available_mask(pending)
        if not avail.any():
            raise NoCandidatesLeft("every candidate was measured, failed or vetoed")
        q = max(1, min(self.settings.q, remaining, int(avail.sum())))
        decision = _Decision(np.zeros(0, dtype=np.int64))
        posterior = None
        needs_model = getattr(self.policy, "needs_model", True)
        if needs_model and len(st.y) >= 2:
            posterior = self._fit_predict(decision)
            if pending:  # points being acquired right now enter as fantasies (kriging believer)
                p = np.asarray(pending, dtype=np.int64)
                posterior = (MultiPosterior(tuple(m.fantasize(p) for m in posterior.marginals))
                             if isinstance(posterior, MultiPosterior) else posterior.fantasize(p))
        elif needs_model:
            # Fewer than two targets: nothing to learn from yet. Explore deterministically.
            from policies import SpaceFilling

            t0 = time.perf_counter()
            decision.indices = np.asarray(SpaceFilling().select(None, self._selection_state(avail, pending), q))
            decision.t_select_s = time.perf_counter() - t0
            decision.reason = "explore: too few targets to fit"
            return decision
        t0 = time.perf_counter()
        decision.indices = np.asarray(
            self.policy.select(posterior, self._selection_state(avail, pending), q), dtype=np.int64
        )
        decision.t_select_s = time.perf_counter() - t0
        decision.posterior = posterior
        decision.reason = getattr(self.policy, "last_reason", "") or "acquisition"
        costs = getattr(self.policy, "last_cost_s", None)
        if costs is not None and len(costs) == decision.indices.size:
            decision.cost_s = {int(i): float(c) for i, c in zip(decision.indices, costs)}
        if decision.indices.size == 0 or not np.all(avail[decision.indices]):
            raise RuntimeError(f"policy {type(self.policy).__name__} chose unavailable candidates "
                               f"{decision.indices.tolist()}")
        return decision

    def _selection_state(self, avail: np.ndarray, pending: tuple[int, ...]) -> SelectionState:
        assert self.candidates is not None
        return SelectionState(
            available=avail,
            measured=np.asarray(self.state.measured, dtype=np.int64),
            y_measured=self.targets(),
            grid_shape=self.candidates.grid_shape,
            yx_px=self.candidates.yx_px.astype(np.float64),
            step=self.state.step,
            rng=self.rng,
            maximize=self.settings.maximize,
            pending=np.asarray(pending, dtype=np.int64),
            yx_m=self.candidates.yx_m,
            probe_index=int(pending[-1]) if pending else self.state.last_index,
            local_dose_e_per_A2=self.dose.local_dose if self.dose is not None else None,
        )

    def targets(self) -> np.ndarray:
        """Measured targets: ``(m,)`` float64, or ``(m, k)`` for a vector reward."""
        y = np.asarray(self.state.y, dtype=np.float64)
        return y if y.size else np.zeros(0)

    @property
    def n_objectives(self) -> int:
        y = self.targets()
        return 1 if y.ndim < 2 else int(y.shape[1])

    def surrogate_inputs(self) -> np.ndarray:
        """The candidate representation the surrogate takes (``Surrogate.inputs``: patches,
        [0, 1] coordinates or structure descriptors), one row per candidate."""
        assert self.candidates is not None and self.surrogate is not None
        return self.surrogate.inputs(self.candidates)

    def _fit_predict(self, decision: _Decision) -> Posterior:
        assert self.surrogate is not None and self.record is not None
        X = self.surrogate_inputs()
        idx = np.asarray(self.state.measured, dtype=np.int64)
        y = self.targets()
        models = self.models()
        t0 = time.perf_counter()
        for j, model in enumerate(models):
            model.fit(X[idx], y if y.ndim == 1 else y[:, j])
        t1 = time.perf_counter()
        marginals = [model.posterior(X) for model in models]
        posterior = marginals[0] if len(marginals) == 1 else MultiPosterior(tuple(marginals))
        decision.t_fit_s, decision.t_predict_s = t1 - t0, time.perf_counter() - t1
        for j, model in enumerate(models):
            summary = model.fit_summary()
            if summary:  # which model drove this decision, and how well it predicts left-out points
                self.record.event("surrogate_fit", step=self.state.step, objective=j, **summary)
        if posterior.degenerate:
            self.state.n_degenerate += 1
            sick = models[[p.degenerate for p in marginals].index(True)]
            msg = sick.health(X).message or "degenerate posterior"
            log.warning("step %d: surrogate unhealthy (%s); the policy explores", self.state.step, msg)
            self.record.event("surrogate_unhealthy", step=self.state.step, message=msg)
        self.last_posterior = posterior
        return posterior

    def models(self) -> list[Surrogate]:
        """The surrogate(s): the configured one, or one clone per objective for a vector reward."""
        assert self.surrogate is not None
        k = self.n_objectives
        if k == 1:
            return [self.surrogate]
        while len(self._objective_models) < k:
            self._objective_models.append(copy.deepcopy(self._prototype))
        return self._objective_models[:k]

    def _model_states(self) -> Any:
        if self.surrogate is None:
            return None
        if self._objective_models:
            return {"objectives": [m.state_dict() for m in self._objective_models]}
        return self.surrogate.state_dict()

    def _load_model_states(self, state: Any) -> None:
        if state is None or self.surrogate is None:
            return
        if isinstance(state, dict) and set(state) == {"objectives"}:
            self._objective_models = [copy.deepcopy(self._prototype) for _ in state["objectives"]]
            for model, sd in zip(self._objective_models, state["objectives"]):
                model.load_state_dict(sd)
        else:
            self.surrogate.load_state_dict(state)

    # ================================================================== measuring
    def _acquire_guarded(self, i: int) -> Frame | StepRow | Exception:
        """Place the probe and acquire (or replay a journaled row); never raises for a fault."""
        if self._replay:
            row = self._replay.popleft()
            if row.index != i:
                log.warning("replay: decision %d differs from the recorded %d; the record wins", i, row.index)
            return row
        cand = self.candidates
        assert cand is not None
        frac = self._probe_fraction(i)
        if frac is None:
            return InvalidArgument(f"candidate {i} drifted out of the field of view")
        try:
            self._retry("set_probe", lambda: self.driver.set_probe(self.probe_frame_id, yx_frac=frac))
            return self._retry("acquire_spectrum", self._acquire_checked)
        except (MeasurementFailed, InvalidArgument, SafetyInterlock, Aborted) as err:
            return err

    def _acquire_checked(self) -> Frame:
        frame = self.driver.acquire_spectrum(self.settings.exposure_s, self.settings.detector)
        data = np.asarray(frame.data)
        if data.ndim != 1:
            raise SpectrumRejected(f"spectrum has shape {data.shape}, expected 1-D")
        if self.signal_axis is not None and data.shape[0] != self.signal_axis.size:
            raise SpectrumRejected(f"spectrum has {data.shape[0]} channels, expected {self.signal_axis.size}")
        if not np.all(np.isfinite(data)):
            raise SpectrumRejected("spectrum holds NaN or infinite values")
        sat = frame.metadata.get("saturation_counts")
        if sat is not None and np.count_nonzero(data >= float(sat)) > 0:
            raise SpectrumRejected(f"detector saturated ({np.count_nonzero(data >= float(sat))} channels)")
        return frame

    def _probe_fraction(self, i: int) -> tuple[float, float] | None:
        cand = self.candidates
        assert cand is not None
        f = cand.yx_frac[i].copy()
        if self.drift is not None:
            f += np.asarray(self.state.drift_px) / np.asarray(cand.image_shape, dtype=np.float64)
        if np.any(f < 0) or np.any(f > 1):
            return None
        return float(f[0]), float(f[1])

    def _secure(self, i: int, decision: _Decision, result: Frame | StepRow | Exception
                ) -> Frame | StepRow | Exception | tuple[StepRow, Frame]:
        """Journal (fsync) a new measurement at once: paid-for data is safe from here on. Returns
        ``(row, frame)`` for :meth:`_complete`; other results pass through unchanged."""
        if isinstance(result, Frame):
            row = self._make_row(i, decision, result)
            self.journal.append(row, result.signal_axis)
            return row, result
        return result

    def _complete(self, i: int, decision: _Decision,
                  result: Frame | StepRow | Exception | tuple[StepRow, Frame]) -> StepRow | None:
        """Turn an acquisition result into a journaled, recorded, checkpointed row."""
        if isinstance(result, Frame):
            result = self._secure(i, decision, result)
        st, record = self.state, self.record
        assert record is not None and self.candidates is not None
        if isinstance(result, SafetyInterlock):
            record.event("safety_interlock", step=st.step, index=i, message=str(result))
            self.request_stop(f"{StopReason.SAFETY}: {result}")
            return None
        if isinstance(result, Aborted):
            record.event("aborted", step=st.step, index=i, message=str(result))
            self.request_stop(self._stop_reason or StopReason.USER)
            return None
        if isinstance(result, Exception):
            st.failed.append(i)
            st.step += 1
            record.event("measurement_failed", step=st.step, index=i, error=type(result).__name__,
                         message=str(result))
            log.warning("candidate %d failed and is skipped: %s", i, result)
            self._count_failure(False)
            self._checkpoint()
            return None
        if isinstance(result, StepRow):  # replayed from the journal after a resume
            row = result
            if self.signal_axis is None:
                self.signal_axis = axis_from_record(record)
        else:
            row, frame = result  # journaled by _secure
            record.append(row, frame.signal_axis)
        st.n_rows += 1
        st.step += 1
        self.state.last_index = row.index
        values = np.asarray(row.objectives if np.size(row.objectives) else [row.reward], dtype=np.float64)
        if np.all(np.isfinite(values)):
            st.measured.append(row.index)
            st.y.append(float(values[0]) if values.size == 1 else [float(v) for v in values])
            self._count_failure(True)
        else:
            st.failed.append(row.index)
            self._count_failure(False)
        if math.isfinite(row.dose_e):
            st.total_dose_e += row.dose_e
        self._checkpoint()
        return row

    def _count_failure(self, usable: bool) -> None:
        """K unusable measurements in a row (``experiment.max_consecutive_failures``) stop the run:
        an instrument or reward that keeps failing must not burn the whole dose budget."""
        st, k = self.state, self.settings.max_consecutive_failures
        st.consecutive_failures = 0 if usable else st.consecutive_failures + 1
        if k and st.consecutive_failures >= k and not self._stop.is_set():
            assert self.record is not None
            self.record.event("failing_measurements", step=st.step, consecutive=st.consecutive_failures)
            log.error("%d unusable measurements in a row: stopping", st.consecutive_failures)
            self.request_stop(f"{StopReason.FAILING}: {st.consecutive_failures} unusable in a row")

    def _make_row(self, i: int, decision: _Decision, frame: Frame) -> StepRow:
        cand = self.candidates
        assert cand is not None and self.record is not None
        spectrum = np.asarray(frame.data, dtype=np.float64)
        axis = frame.signal_axis
        if self.signal_axis is None:
            self.signal_axis = axis
        objectives = np.zeros(0)
        try:
            out = np.atleast_1d(np.asarray(self.reward(spectrum, axis), dtype=np.float64))
            if out.ndim != 1 or out.size == 0:
                raise RewardError(f"reward returned shape {out.shape}; expected a number or (k,)")
            if not np.all(np.isfinite(out)):
                raise RewardError(f"reward returned {out.tolist()}")
            value = float(out[0])
            if out.size > 1:
                objectives = out
        except RewardError as err:
            value = float("nan")
            self.record.event("reward_failed", step=self.state.step, index=i, message=str(err))
            log.warning("reward failed at candidate %d (spectrum kept): %s", i, err)
        md = frame.metadata
        per_area = float(md.get("dose_e_per_A2", float("nan")))
        if self.dose is not None:
            for j in self.dose.add(tuple(cand.yx_m[i]), per_area):
                self.record.event("dose_limit", index=int(j), step=self.state.step)
        post = decision.posterior
        return StepRow(
            step=self.state.step,
            index=i,
            phase="seed" if decision.reason == "seed" else ("forced" if decision.reason.startswith("forced")
                                                            else "policy"),
            yx_px=(int(cand.yx_px[i, 0]), int(cand.yx_px[i, 1])),
            yx_m=(float(cand.yx_m[i, 0]), float(cand.yx_m[i, 1])),
            reward=value,
            pred_mean=float(np.ravel(post.mean[i])[0]) if post is not None else float("nan"),
            pred_std=float(np.ravel(post.std[i])[0]) if post is not None else float("nan"),
            t_acquire_s=float(md.get("wall_s", float("nan"))),
            t_fit_s=decision.t_fit_s,
            t_predict_s=decision.t_predict_s,
            t_select_s=decision.t_select_s,
            clock_s=float(md.get("time_s", float("nan"))),
            dose_e=float(md.get("dose_e", float("nan"))),
            healthy=not (post is not None and post.degenerate),
            reason=decision.reason,
            travel_m=(float(np.linalg.norm(cand.yx_m[i] - cand.yx_m[self.state.last_index]))
                      if self.state.last_index >= 0 else float("nan")),
            cost_s=decision.cost_s.get(i, float("nan")),
            spectrum=spectrum,
            objectives=objectives,
        )

    def _retry(self, what: str, call: Callable[[], Any]) -> Any:
        """Call with retries and exponential backoff on transient faults; every fault recorded.

        Also times the call: the last successful duration is put in the frame's ``wall_s``.
        """
        s = self.settings
        for attempt in range(s.max_retries + 1):
            if self._stop.is_set() and what != "acquire_overview":
                raise Aborted(f"{what}: stop requested")
            t0 = time.perf_counter()
            try:
                out = call()
            except TRANSIENT as err:
                if self.record is not None:
                    self.record.event("fault", verb=what, attempt=attempt, error=type(err).__name__,
                                      message=str(err), step=self.state.step)
                log.warning("%s failed (%s: %s), attempt %d", what, type(err).__name__, err, attempt + 1)
                if attempt == s.max_retries:
                    if self.record is None:
                        raise
                    raise MeasurementFailed(f"{what}: {type(err).__name__}: {err}") from err
                time.sleep(s.retry_backoff_s * (2**attempt))
                continue
            if isinstance(out, Frame):
                md = dict(out.metadata)
                md["wall_s"] = time.perf_counter() - t0
                out = Frame(out.data, out.axes, out.frame_id, md)
            return out
        raise AssertionError("unreachable")

    # ================================================================== checkpoints
    def _checkpoint(self) -> None:
        if not self.settings.checkpoint:
            return
        state = self._model_states()
        extra = {"dose_local": self.dose.local_dose} if self.dose is not None else {}
        save_checkpoint(self.out_dir / "checkpoint.pt", loop=asdict(self.state), rng=self.rng,
                        surrogate_state=state, extra=extra)

    # ================================================================== guardians
    def _correct_drift(self) -> None:
        assert self.drift is not None and self.overview is not None and self.record is not None
        try:
            frame = self._retry("acquire_overview", self._acquire_overview)
        except MeasurementFailed as err:
            self.record.event("drift_check_failed", message=str(err))
            return
        dy, dx = self.drift.update(self._n_done(), self.overview.data, frame.data)
        self.probe_frame_id = frame.frame_id
        self.state.drift_px = [dy, dx]
        self.record.event("drift", n_done=self._n_done(), dy_px=dy, dx_px=dx, frame_id=frame.frame_id)

    # ================================================================== signals and helpers
    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum, _frame):
            if self._stop.is_set() and signum == signal.SIGINT:
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
            if self.record is not None:
                self.record.event("blank_failed", message=str(err))

    def _best(self) -> float:
        y = self.targets()
        if y.ndim > 1:
            y = y[:, 0]
        return float(y.max() if self.settings.maximize else y.min())


def _progress(total: int, enabled: bool, initial: int = 0):
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
