"""The ledger: what one acquisition does to the run - journal, record, checkpoint, loop state.

:meth:`Ledger.secure` journals (fsync) a new spectrum the moment it arrives; :meth:`Ledger.complete`
records it, updates the loop state (measured / failed, targets, dose, failure streak) and replaces
the checkpoint. An interlock or an abort requests a stop instead.
"""

from __future__ import annotations

import logging

import numpy as np

from ..candidates import CandidateSet
from ..record import StepRow
from .decider import Decider
from .decision import Decision
from .guardians import Guardians
from .measurer import Acquisition, Measurer, Status
from .state import LoopState, StopFlag, StopReason
from .store import RunStore

__all__ = ["Ledger"]

log = logging.getLogger(__name__)


class Ledger:
    """Books acquisitions (see module doc); the parts it writes through are given at construction."""

    def __init__(self, state: LoopState, store: RunStore, measurer: Measurer, decider: Decider,
                 guardians: Guardians, stop: StopFlag) -> None:
        self.state = state
        self.store = store
        self.measurer = measurer
        self.decider = decider
        self.guardians = guardians
        self.stop = stop
        self.candidates: CandidateSet | None = None

    def attach(self, candidates: CandidateSet) -> None:
        self.candidates = candidates

    def secure(self, decision: Decision, acq: Acquisition) -> Acquisition:
        """Journal (fsync) a new measurement at once: paid-for data is safe from here on. Other
        acquisitions pass through unchanged."""
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
            self.checkpoint()
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
        self.checkpoint()
        return row

    def checkpoint(self) -> None:
        """Loop state, random state, model weights and local dose into ``checkpoint.pt``."""
        self.store.checkpoint(self.state, self.decider.rng, self.decider.model_state(),
                              self.guardians.checkpoint_extra())
