"""The closed loop: driver -> measurement -> reward -> surrogate -> policy -> driver.

:class:`Experiment` owns all experiment state (measured indices, targets, timings, random state);
the driver, reward, surrogate and policy it is given own only their own. Every measurement is
appended to the HDF5 record and flushed before the next decision, so a crash never loses one.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from drivers.errors import (
    ConnectionLost,
    InstrumentError,
    InvalidArgument,
    SafetyInterlock,
    Timeout,
)
from drivers.frames import Axis, Frame
from drivers.protocol import Driver, GroundTruth
from policies.posterior import Posterior
from policies.protocol import NoCandidatesLeft, Policy, SelectionState
from rewards.errors import RewardError

from .candidates import CandidateSet, make_candidates
from .record import Record, StepRow
from .settings import ExperimentSettings
from .surrogates.protocol import Surrogate

__all__ = ["Experiment", "MeasurementFailed", "StopReason"]

log = logging.getLogger(__name__)

#: Faults worth another try (with backoff); refusals (InvalidArgument, SafetyInterlock) are not.
TRANSIENT = (Timeout, InstrumentError, ConnectionLost)


class MeasurementFailed(RuntimeError):
    """A candidate could not be measured after every retry."""


class StopReason:
    BUDGET = "steps budget reached"
    WALL_TIME = "wall-time budget reached"
    EXHAUSTED = "no candidates left"
    SAFETY = "safety interlock"


@dataclass
class _Decision:
    indices: np.ndarray
    posterior: Posterior | None = None
    t_fit_s: float = float("nan")
    t_predict_s: float = float("nan")
    t_select_s: float = float("nan")
    reason: str = ""


@dataclass
class LoopState:
    """Mutable state of a run (what a checkpoint must hold)."""

    measured: list[int] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    step: int = 0
    n_degenerate: int = 0
    stop_reason: str = ""


class Experiment:
    """One autonomous experiment.

    Args:
        driver: the instrument (or emulator, or replay).
        reward: ``reward(spectrum, axis) -> float``.
        surrogate: the model; may be None only with model-free policies.
        policy: chooses candidates.
        settings: validated :class:`ExperimentSettings`.
        out_dir: where ``record.h5``, ``summary.json`` and ``plots/`` go (created if missing).
        seed: seeds the experiment's random generator (seed design, random policies).
        config_yaml: the resolved configuration, stored in the record.
        on_step: optional callback ``(experiment, rows)`` after each decision's measurements.
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
        self.rng = np.random.default_rng(self.seed)
        self.state = LoopState()
        self.overview: Frame | None = None
        self.candidates: CandidateSet | None = None
        self.truth: np.ndarray | None = None
        self.record: Record | None = None
        self.signal_axis: Axis | None = None
        self.last_posterior: Posterior | None = None
        self._t_start = 0.0

    # ------------------------------------------------------------------ set-up
    def setup(self) -> None:
        """Acquire the overview, build candidates, compute the truth (if known), open the record."""
        s = self.settings
        self.out_dir.mkdir(parents=True, exist_ok=True)
        ov = s.overview
        self.overview = self._retry(
            "acquire_overview",
            lambda: self.driver.acquire_overview(
                ov.fov_m, None if ov.shape_px is None else tuple(ov.shape_px), ov.dwell_s, ov.detector
            ),
        )
        c = s.candidates
        self.candidates = make_candidates(self.overview, c.window_px, c.stride_px, c.margin_px, c.normalise)
        if isinstance(self.driver, GroundTruth) and hasattr(self.driver, "ground_truth"):
            t0 = time.perf_counter()
            self.truth = np.asarray(self.driver.ground_truth(self.reward, self.candidates.yx_m), np.float64)
            log.info("ground truth over %d candidates in %.2f s (scoring only)",
                     self.candidates.n, time.perf_counter() - t0)
        self.record = Record.create(self.out_dir / "record.h5", self.overview, self.candidates,
                                    self.config_yaml, self.truth)
        self._design = self._initial_design(s.n_init)

    def _initial_design(self, n: int) -> list[int]:
        cand = self.candidates
        assert cand is not None
        n = min(n, cand.n)
        if n == 0:
            return []
        if self.settings.init == "random":
            return [int(i) for i in self.rng.choice(cand.n, size=n, replace=False)]
        from scipy.stats import qmc

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Sobol balance warning for n not a power of two
            pts = qmc.Sobol(d=2, scramble=True, seed=self.rng).random(n)
        taken = np.zeros(cand.n, dtype=bool)
        design = []
        for p in pts:
            d2 = np.sum((cand.yx_frac - p) ** 2, axis=1)
            d2[taken] = np.inf
            i = int(np.argmin(d2))
            taken[i] = True
            design.append(i)
        return design

    # ------------------------------------------------------------------ main loop
    def run(self) -> dict[str, Any]:
        """Run until a budget ends; returns the summary (also written to ``summary.json``)."""
        from .summary import finish_run  # local: plots pull in matplotlib

        torch_threads = _set_torch_threads(self.settings.threads)
        self._t_start = time.perf_counter()
        try:
            if self.record is None:
                self.setup()
            bar = _progress(self.settings.steps, self.settings.progress, initial=len(self.state.measured))
            try:
                while True:
                    reason = self._budget_left()
                    if reason:
                        self.state.stop_reason = reason
                        break
                    try:
                        decision = self._decide()
                    except NoCandidatesLeft:
                        self.state.stop_reason = StopReason.EXHAUSTED
                        break
                    try:
                        rows = self._measure(decision)
                    except SafetyInterlock as err:
                        self.state.stop_reason = f"{StopReason.SAFETY}: {err}"
                        self.record.event("safety_interlock", step=self.state.step, message=str(err))
                        break
                    if bar is not None:
                        bar.update(len(rows))
                        if self.state.y:
                            bar.set_postfix(best=f"{self._best():.4g}", refresh=False)
                    if self.on_step is not None:
                        self.on_step(self, rows)
            finally:
                if bar is not None:
                    bar.close()
            log.info("stopped: %s after %d measurements", self.state.stop_reason, len(self.state.measured))
            return finish_run(self)
        finally:
            if torch_threads is not None:
                _set_torch_threads(torch_threads)
            if self.record is not None:
                self.record.close()

    def _budget_left(self) -> str:
        s = self.settings
        if len(self.state.measured) + len(self.state.failed) >= s.steps:
            return StopReason.BUDGET
        if s.wall_time_s is not None and time.perf_counter() - self._t_start >= s.wall_time_s:
            return StopReason.WALL_TIME
        return ""

    def available_mask(self) -> np.ndarray:
        """(n,) bool: candidates the policy may choose now."""
        assert self.candidates is not None
        avail = np.ones(self.candidates.n, dtype=bool)
        if not self.settings.allow_remeasure:
            avail[self.state.measured] = False
        avail[self.state.failed] = False
        return avail

    def _decide(self) -> _Decision:
        st = self.state
        remaining = self.settings.steps - len(st.measured) - len(st.failed)
        if st.step < len(self._design):  # seed phase: one design point per attempt
            return _Decision(np.array([self._design[st.step]]), reason="seed")
        q = min(self.settings.q, remaining)
        avail = self.available_mask()
        if not avail.any():
            raise NoCandidatesLeft("every candidate was measured or failed")
        decision = _Decision(np.zeros(0, dtype=np.int64))
        posterior = None
        if getattr(self.policy, "needs_model", True) and len(st.y) >= 2:
            posterior = self._fit_predict(decision)
        elif getattr(self.policy, "needs_model", True):
            # Fewer than two targets: nothing to learn from yet. Explore deterministically.
            from policies import SpaceFilling

            t0 = time.perf_counter()
            decision.indices = SpaceFilling().select(None, self._selection_state(avail), q)
            decision.t_select_s = time.perf_counter() - t0
            decision.reason = "explore: too few targets to fit"
            return decision
        t0 = time.perf_counter()
        decision.indices = np.asarray(
            self.policy.select(posterior, self._selection_state(avail), q), dtype=np.int64
        )
        decision.t_select_s = time.perf_counter() - t0
        decision.posterior = posterior
        decision.reason = getattr(self.policy, "last_reason", "") or "acquisition"
        if decision.indices.size == 0 or not np.all(avail[decision.indices]):
            raise RuntimeError(f"policy {type(self.policy).__name__} chose unavailable candidates "
                               f"{decision.indices.tolist()}")
        return decision

    def _selection_state(self, avail: np.ndarray) -> SelectionState:
        assert self.candidates is not None
        return SelectionState(
            available=avail,
            measured=np.asarray(self.state.measured, dtype=np.int64),
            y_measured=np.asarray(self.state.y, dtype=np.float64),
            grid_shape=self.candidates.grid_shape,
            yx_px=self.candidates.yx_px.astype(np.float64),
            step=self.state.step,
            rng=self.rng,
            maximize=self.settings.maximize,
        )

    def surrogate_inputs(self) -> np.ndarray:
        """The candidate representation the surrogate takes (patches or [0, 1] coordinates)."""
        assert self.candidates is not None and self.surrogate is not None
        kind = getattr(self.surrogate, "input_kind", "patches")
        if kind == "patches":
            return self.candidates.patches
        if kind == "coords":
            return self.candidates.coords01
        raise ValueError(f"surrogate.input_kind={kind!r}: expected 'patches' or 'coords'")

    def _fit_predict(self, decision: _Decision) -> Posterior:
        assert self.surrogate is not None and self.record is not None
        X = self.surrogate_inputs()
        idx = np.asarray(self.state.measured, dtype=np.int64)
        y = np.asarray(self.state.y, dtype=np.float64)
        t0 = time.perf_counter()
        self.surrogate.fit(X[idx], y)
        t1 = time.perf_counter()
        posterior = self.surrogate.posterior(X)
        decision.t_fit_s, decision.t_predict_s = t1 - t0, time.perf_counter() - t1
        if posterior.degenerate:
            self.state.n_degenerate += 1
            health = self.surrogate.health(X) if hasattr(self.surrogate, "health") else None
            msg = getattr(health, "message", "degenerate posterior")
            log.warning("step %d: surrogate unhealthy (%s); the policy explores", self.state.step, msg)
            self.record.event("surrogate_unhealthy", step=self.state.step, message=msg)
        self.last_posterior = posterior
        return posterior

    # ------------------------------------------------------------------ measuring
    def _measure(self, decision: _Decision) -> list[StepRow]:
        assert self.candidates is not None and self.record is not None
        rows = []
        for i in decision.indices.tolist():
            row = self._measure_one(int(i), decision)
            if row is not None:
                rows.append(row)
            self.state.step += 1
        return rows

    def _measure_one(self, i: int, decision: _Decision) -> StepRow | None:
        cand, st, record = self.candidates, self.state, self.record
        assert cand is not None and record is not None
        t0 = time.perf_counter()
        try:
            self._retry("set_probe", lambda: self.driver.set_probe(cand.frame_id,
                                                                   yx_frac=tuple(cand.yx_frac[i])))
            frame = self._retry("acquire_spectrum", lambda: self.driver.acquire_spectrum(
                self.settings.exposure_s, self.settings.detector))
        except (MeasurementFailed, InvalidArgument) as err:
            st.failed.append(i)
            record.event("measurement_failed", step=st.step, index=i, message=str(err))
            log.warning("candidate %d failed and is skipped: %s", i, err)
            return None
        t_acquire = time.perf_counter() - t0
        spectrum = np.asarray(frame.data, dtype=np.float64)
        axis = frame.signal_axis
        try:
            value = float(self.reward(spectrum, axis))
            if not math.isfinite(value):
                raise RewardError(f"reward returned {value}")
        except RewardError as err:
            value = float("nan")
            record.event("reward_failed", step=st.step, index=i, message=str(err))
            log.warning("reward failed at candidate %d (spectrum kept): %s", i, err)
        post = decision.posterior
        row = StepRow(
            step=st.step,
            index=i,
            phase="seed" if decision.reason == "seed" else "policy",
            yx_px=(int(cand.yx_px[i, 0]), int(cand.yx_px[i, 1])),
            yx_m=(float(cand.yx_m[i, 0]), float(cand.yx_m[i, 1])),
            reward=value,
            pred_mean=float(post.mean[i]) if post is not None else float("nan"),
            pred_std=float(post.std[i]) if post is not None else float("nan"),
            t_acquire_s=t_acquire,
            t_fit_s=decision.t_fit_s,
            t_predict_s=decision.t_predict_s,
            t_select_s=decision.t_select_s,
            clock_s=float(frame.metadata.get("time_s", float("nan"))),
            dose_e=float(frame.metadata.get("dose_e", float("nan"))),
            healthy=not (post is not None and post.degenerate),
            reason=decision.reason,
            spectrum=spectrum,
        )
        record.append(row, axis)  # flushed: the measurement is safe from here on
        if self.signal_axis is None:
            self.signal_axis = axis
        if math.isfinite(value):
            st.measured.append(i)
            st.y.append(value)
        else:
            st.failed.append(i)
        return row

    def _retry(self, what: str, call: Callable[[], Any]) -> Any:
        """Call with retries and exponential backoff on transient faults; every fault recorded."""
        s = self.settings
        for attempt in range(s.max_retries + 1):
            try:
                return call()
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
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ helpers
    def _best(self) -> float:
        y = np.asarray(self.state.y)
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

