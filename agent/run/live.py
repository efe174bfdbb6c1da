"""What a run shows while it runs: each decision as an event, and the latest predicted maps.

A viewer of the run folder (``autoscope-dash``) learns the point in flight and the next planned
point from one ``decision`` event per decision, written (journal first, then record, as every
event) when the candidates are chosen, before their acquisition starts::

    {"kind": "decision", "step": s, "indices": [i, ...], "yx_px": [[y, x], ...],
     "yx_m": [[y, x], ...], "phase": "seed" | "forced" | "policy", "reason": "...", "maps_n": m}

``step`` is the step the first chosen candidate's row will have (the next ones follow it, one step
each); ``yx_px`` are overview pixels, ``yx_m`` metres (the overview's calibration units). A decision
whose step has no row yet is in flight; with ``experiment.pipeline=true`` the one decided while it
acquires is the next planned point. A resumed run decides again the steps after its last
checkpoint: the last decision event of a step is the one that counts.

The decider's posterior over every candidate (the fit made for this decision, before pending points
enter as fantasies) is written into the record's ``/maps/mean`` and ``/maps/std`` - the same layout
as the final maps, which the end of the run overwrites after its own refit - at most once every
``min_interval_s`` of wall time; ``maps_n`` (present only then) is the number of targets it was
fitted on, so the maps are "as of step ``s``". No extra fit or prediction is made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from ..candidates import CandidateSet
from .decision import AnyPosterior, Decision
from .store import RunStore

__all__ = ["LiveView", "posterior_maps", "DECISION_EVENT"]

log = logging.getLogger(__name__)

#: the event kind of a decision
DECISION_EVENT = "decision"


def posterior_maps(candidates: CandidateSet, posterior: AnyPosterior) -> dict[str, np.ndarray]:
    """``{"mean", "std"}`` over the candidate grid: ``(rows, cols)``, or ``(rows, cols, k)`` for a
    vector reward's posterior (reward units)."""
    return {"mean": candidates.as_map(posterior.mean), "std": candidates.as_map(posterior.std)}


class LiveView:
    """Writes the ``decision`` events and the live maps of a run (see module doc).

    Args:
        store: the run's files (events and maps go through it).
        min_interval_s: the least wall time between two live map writes (the dashboard re-reads
            the record at most every 2 s).
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(self, store: RunStore, min_interval_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.min_interval_s = float(min_interval_s)
        self.clock = clock
        self._maps_at: float | None = None
        self._maps_of: AnyPosterior | None = None
        #: seconds each live map write took (the latest 100), for benchmarks
        self.write_s: list[float] = []

    def decided(self, decision: Decision, step: int, candidates: CandidateSet,
                fit: AnyPosterior | None, n_fit: int) -> None:
        """Record ``decision`` (its first row will be ``step``); ``fit``: the posterior fitted for it
        (None when the decision used no model), over every candidate, fitted on ``n_fit`` targets."""
        maps_n = self._maps(candidates, fit, n_fit) if fit is not None else None
        idx = decision.indices
        extra = {} if maps_n is None else {"maps_n": maps_n}
        self.store.event(DECISION_EVENT, step=int(step), indices=[int(i) for i in idx],
                         yx_px=[[int(v) for v in candidates.yx_px[i]] for i in idx],
                         yx_m=[[float(v) for v in candidates.yx_m[i]] for i in idx],
                         phase=decision.phase, reason=decision.reason, **extra)

    def _maps(self, candidates: CandidateSet, fit: AnyPosterior, n_fit: int) -> int | None:
        now = self.clock()
        if fit is self._maps_of or (self._maps_at is not None and now - self._maps_at < self.min_interval_s):
            return None
        t0 = time.perf_counter()
        try:
            self.store.write_maps(**posterior_maps(candidates, fit))
        except (OSError, ValueError, RuntimeError) as err:  # a live view must never stop the run
            log.warning("live maps not written: %s", err)
            return None
        self.write_s = [*self.write_s[-99:], time.perf_counter() - t0]
        self._maps_at, self._maps_of = now, fit
        return int(n_fit)
