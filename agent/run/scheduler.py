"""The two schedules of a run: sequential (decide, then measure) and pipelined (decide the next
point while the instrument measures the current one).

Both drive a :class:`Steps` - the ask/tell seam of :class:`agent.loop.Experiment` - and nothing
else: ``suggest`` (a decision; the candidates it names become *pending* until completed),
``acquire`` (instrument or replay; thread-safe for one worker), ``secure`` (journal, fsync) and
``complete`` (record, checkpoint, loop state). With pipelining the point in flight is pending:
unavailable, entered as a fantasy, and avoided by the policies' separation rule, so the detector
does not wait for the model.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable
from typing import Protocol

from policies.protocol import NoCandidatesLeft

from ..record import StepRow
from .decision import Decision
from .measurer import Acquisition, Status
from .state import StopFlag

__all__ = ["Steps", "run_sequential", "run_pipelined"]


class Steps(Protocol):
    """What a schedule needs from the run."""

    stop: StopFlag

    def before_decision(self, n_inflight: int = 0) -> bool:
        """Control commands, budgets, guardians; False when the run must stop deciding."""

    def drift_due(self, n_inflight: int) -> bool: ...

    def suggest(self, q: int | None = None) -> Decision: ...

    def withdraw(self, decision: Decision, indices: list[int]) -> None:
        """Forget suggested candidates that will not be measured."""

    def acquire(self, index: int) -> Acquisition: ...

    def secure(self, decision: Decision, acq: Acquisition) -> Acquisition: ...

    def complete(self, decision: Decision, acq: Acquisition) -> StepRow | None: ...

    def after(self, rows: list[StepRow]) -> None:
        """Progress bar and ``on_step`` after a decision's measurements."""

    def exhausted(self) -> None:
        """Record that no candidate is left (``stop_reason``)."""


def run_sequential(run: Steps) -> None:
    while run.before_decision():
        try:
            decision = run.suggest()
        except NoCandidatesLeft:
            run.exhausted()
            return
        rows = []
        todo = decision.indices.tolist()
        while todo:
            acq = run.acquire(int(todo.pop(0)))
            row = run.complete(decision, run.secure(decision, acq))
            if row is not None:
                rows.append(row)
            if run.stop.is_set():
                run.withdraw(decision, todo)
                break
        run.after(rows)


Inflight = list[tuple[Decision, "cf.Future[Acquisition]"]]


def run_pipelined(run: Steps) -> None:
    pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="acquire")
    inflight: Inflight = []
    try:
        while True:
            go_on = run.before_decision(n_inflight=len(inflight))
            if go_on and run.drift_due(len(inflight)):
                done, inflight = inflight, []
                _drain(run, done)  # the overview needs the beam: nothing in flight
                continue
            decision = None
            if go_on:
                try:
                    decision = run.suggest()  # runs while the detector works
                except NoCandidatesLeft:
                    if not inflight:
                        raise
            # the detector starts on the next point as soon as the finished ones are journaled;
            # record and checkpoint are written while it acquires. `inflight` is the new list
            # before anything starts, so whatever happens the `finally` drains what is running.
            done, inflight = inflight, []

            def submit(decision: Decision | None = decision, started: Inflight = inflight) -> None:
                assert decision is not None
                started.extend((decision, pool.submit(run.acquire, int(i))) for i in decision.indices.tolist())

            halted = _drain(run, done, then=submit if decision is not None else None)
            if decision is not None and halted:
                run.withdraw(decision, decision.indices.tolist())
            if decision is None:
                if not go_on or run.stop.is_set():
                    break
                continue
    except NoCandidatesLeft:
        run.exhausted()
    finally:
        _drain(run, inflight)
        pool.shutdown(wait=True)


def _drain(run: Steps, inflight: Inflight, then: Callable[[], None] | None = None) -> bool:
    """Wait for the acquisitions in flight, journal them (fsync), call ``then()`` (which starts the
    next acquisitions; not after an interlock, an abort or a stop request), then record and
    checkpoint them. Returns True when ``then`` was held back."""
    secured = [(decision, run.secure(decision, fut.result())) for decision, fut in inflight]
    halt = any(acq.status in (Status.INTERLOCK, Status.ABORTED) for _, acq in secured)
    held = halt or run.stop.is_set()
    if then is not None and not held:
        then()
    rows = []
    for decision, acq in secured:
        row = run.complete(decision, acq)
        if row is not None:
            rows.append(row)
    if inflight:
        run.after(rows)
    return then is not None and held


