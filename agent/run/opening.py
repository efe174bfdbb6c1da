"""Opening a run: a new one (overview, candidates, truth, files, seed design) or a resumed one
(files checked and repaired, checkpoint restored, journaled rows after it queued for replay)."""

from __future__ import annotations

import logging

import numpy as np

from drivers.frames import Frame

from ..candidates import CandidateSet, make_candidates
from ..preflight import check_driver, check_overview
from ..record import RecordError
from ..settings import ExperimentSettings
from .components import Switchboard
from .decider import Decider
from .guardians import Guardians
from .interventions import Interventions
from .ledger import Ledger
from .measurer import Measurer
from .state import LoopState
from .store import RunStore
from .truth import truth_map

__all__ = ["Opener"]

log = logging.getLogger(__name__)


class Opener:
    """Opens the run for its parts; afterwards :attr:`overview` and :attr:`candidates` are set."""

    def __init__(self, settings: ExperimentSettings, state: LoopState, store: RunStore, measurer: Measurer,
                 decider: Decider, guardians: Guardians, ledger: Ledger, switchboard: Switchboard,
                 interventions: Interventions) -> None:
        self.settings = settings
        self.state = state
        self.store = store
        self.measurer = measurer
        self.decider = decider
        self.guardians = guardians
        self.ledger = ledger
        self.switchboard = switchboard
        self.interventions = interventions
        self.overview: Frame | None = None
        self.candidates: CandidateSet | None = None

    def new(self) -> None:
        """New run: acquire the overview, build candidates, compute the truth, open the files."""
        self.store.refuse_existing()
        self.store.lock()
        check_driver(self.settings, self.measurer.driver, self.measurer.reward)  # preflight: nothing dosed yet
        overview = self.measurer.acquire_overview()
        check_overview(self.settings, overview)  # before the candidate arrays are built
        self.measurer.probe_frame_id = overview.frame_id
        self.store.save_overview(overview)
        self._build_candidates(overview)
        assert self.candidates is not None
        self.store.create(overview, self.candidates, self.measurer.describe_reward())
        self._start_design()

    def resume(self) -> None:
        """Continue the run in ``out_dir``: every journaled measurement is kept (see module doc).

        The folder is locked first; :func:`agent.consistency.check_store` then checks journal,
        record and checkpoint against each other and refuses (``RunStoreError``) what the journal
        cannot repair, before anything is changed."""
        if not self.store.holds_measurements():
            if not self.store.holds_a_started_run():
                raise RecordError(f"{self.store.out_dir} holds no run to resume (no journal.jsonl or record.h5)")
            log.warning("%s was stopped before its record existed: nothing was measured; starting afresh",
                        self.store.out_dir)
            self.new()
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
        check_driver(self.settings, self.measurer.driver, self.measurer.reward)
        check_overview(self.settings, overview)
        self._build_candidates(overview)
        assert self.candidates is not None
        restored = self.store.reopen(check, overview, self.candidates, self.measurer.describe_reward())
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
                self.switchboard.switch(ov.split(" "))
            for index, positive in self.state.labels:  # the scorer is rebuilt from the config: relabel
                try:
                    self.switchboard.label(int(index), bool(positive))
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
        log.info("resumed %s: %d measurements kept, %d to replay", self.store.out_dir, len(rows), self.store.n_replay)

    def _build_candidates(self, overview: Frame) -> None:
        c = self.settings.candidates
        self.overview = overview
        self.candidates = make_candidates(overview, c.window_px, c.stride_px, c.margin_px, c.normalise)
        self.store.truth = truth_map(self.measurer.driver, self.measurer.reward, self.candidates)
        self.guardians.attach(self.candidates)
        self.ledger.attach(self.candidates)
        self.switchboard.attach(self.candidates)
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
