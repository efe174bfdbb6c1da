"""The run store: one run folder's files - lock, journal, record, checkpoint, overview - and replay.

Per measurement, in this order:

1. the spectrum and its metadata go into ``journal.jsonl`` (fsynced: the crash-proof copy), see
   :meth:`RunStore.secure`;
2. the same row goes into ``record.h5`` (flushed), :meth:`RunStore.append`;
3. ``checkpoint.pt`` (loop state, random state, model weights) is replaced atomically,
   :meth:`RunStore.checkpoint`.

On resume, :meth:`RunStore.reopen` checks the three against each other (``agent.consistency``),
repairs what the journal can repair, and queues the rows journaled after the last checkpoint for
*replay*: the loop recomputes those decisions and takes the recorded measurement instead of
measuring again (:meth:`RunStore.take_replay`).

Composes :mod:`agent.journal`, :mod:`agent.record`, :mod:`agent.checkpoint` through their public
methods only.
"""

from __future__ import annotations

import collections
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from drivers.frames import Axis, Frame

from ..candidates import CandidateSet
from ..checkpoint import restore_rng, save_checkpoint
from ..consistency import StoreCheck, check_store, repair_store
from ..journal import Journal
from ..metrics import write_metrics_csv
from ..record import Record, RecordError, StepRow
from ..reward_info import RewardInfo
from ..runfiles import axis_from_record, load_overview, save_overview
from ..runlock import RunLock
from .state import LoopState

__all__ = ["RunStore", "Restored"]

log = logging.getLogger(__name__)


class Restored:
    """What a checkpoint gives back on resume (None where the run had no checkpoint)."""

    def __init__(self, payload: dict[str, Any] | None) -> None:
        self.payload = payload

    @property
    def loop(self) -> LoopState | None:
        return None if self.payload is None else LoopState(**self.payload["loop"])

    @property
    def rng(self) -> np.random.Generator | None:
        return None if self.payload is None else restore_rng(self.payload)

    @property
    def model_state(self) -> Any:
        return None if self.payload is None else self.payload.get("surrogate")

    @property
    def extra(self) -> dict[str, Any]:
        return {} if self.payload is None else dict(self.payload.get("extra") or {})


class RunStore:
    """The files of the run in ``out_dir`` (``record.h5``, ``journal.jsonl``, ``checkpoint.pt``,
    ``overview.npz``, ``run.lock``).

    Args:
        out_dir: the run folder.
        config_yaml: the resolved configuration, stored in the record.
        checkpoint: False to skip ``checkpoint.pt`` (``experiment.checkpoint``).
    """

    def __init__(self, out_dir: str | Path, config_yaml: str = "", checkpoint: bool = True) -> None:
        self.out_dir = Path(out_dir)
        self.config_yaml = config_yaml
        self.checkpointing = bool(checkpoint)
        self.record: Record | None = None
        self.journal: Journal | None = None
        #: ``(n,)`` or ``(n, k)`` noise-free reward of every candidate (emulators, replays) under the run's
        #: current reward, or None: scoring only, written into the record, never shown to the policy
        self.truth: np.ndarray | None = None
        self._lock: RunLock | None = None
        self._replay: collections.deque[StepRow] = collections.deque()

    # ---------------------------------------------------------------- the folder
    @property
    def is_open(self) -> bool:
        """True once the record exists (new run created, or resumed)."""
        return self.record is not None

    def holds_measurements(self) -> bool:
        return (self.out_dir / "journal.jsonl").exists() or (self.out_dir / "record.h5").exists()

    def holds_a_started_run(self) -> bool:
        """A run stopped before its record existed still left its overview or config behind."""
        return (self.out_dir / "overview.npz").exists() or (self.out_dir / "config.yaml").exists()

    def refuse_existing(self) -> None:
        """Refuse to start a new run over an old one (``RecordError`` naming the fix)."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if self.holds_measurements():
            raise RecordError(f"{self.out_dir} already holds a run; continue it with "
                              f"`autoscope-resume {self.out_dir}` or choose a new directory")

    def lock(self) -> None:
        """Hold ``run.lock``: a second writer of this folder is refused with this PID."""
        if self._lock is None:
            self._lock = RunLock(self.out_dir).acquire()
            if self._lock.took_over:
                log.warning("took over the stale lock of PID %s (no longer running)",
                            self._lock.took_over.get("pid"))

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # ---------------------------------------------------------------- new run and resume
    def save_overview(self, overview: Frame) -> None:
        save_overview(self.out_dir / "overview.npz", overview)

    def load_overview(self) -> Frame:
        return load_overview(self.out_dir / "overview.npz")

    def create(self, overview: Frame, candidates: CandidateSet, reward: RewardInfo) -> None:
        """Open a new record (with :attr:`truth` and the ``reward``'s description) and journal; every
        record event is journaled first."""
        self.record = Record.create(self.out_dir / "record.h5", overview, candidates, self.config_yaml, self.truth,
                                    reward_name=reward.name, reward_units=reward.units,
                                    reward_windows=reward.windows)
        self.journal = Journal(self.out_dir / "journal.jsonl")
        self.record.journal = self.journal

    def check(self) -> StoreCheck:
        """Journal, record and checkpoint checked against each other; refuses what cannot be repaired."""
        check = check_store(self.out_dir)
        for note in check.notes:
            log.warning("%s", note)
        return check

    def reopen(self, check: StoreCheck, overview: Frame, candidates: CandidateSet, reward: RewardInfo) -> Restored:
        """Complete or rebuild the record from the journal, reopen both, and return the checkpoint."""
        record, repairs = repair_store(check, lambda: Record.create(
            self.out_dir / "record.h5", overview, candidates, self.config_yaml, self.truth,
            reward_name=reward.name, reward_units=reward.units, reward_windows=reward.windows))
        for note in repairs:
            log.warning("%s", note)
        self.record = record
        self.journal = Journal(self.out_dir / "journal.jsonl")
        record.journal = self.journal
        for note in repairs:
            record.event("store_repaired", message=note)
        if check.record_problem:
            record.event("record_rebuilt_from_journal", reason=check.record_problem)
        if check.checkpoint is None:
            log.warning("no checkpoint: resuming from the journal alone, from the seed state")
        return Restored(check.checkpoint)

    def recorded_signal_axis(self, check: StoreCheck | None = None) -> Axis | None:
        """The spectra's axis: from the journal when it holds it, else from the record."""
        if check is not None and check.journal.signal_axis is not None:
            return check.journal.signal_axis
        return axis_from_record(self.record) if self.record is not None else None

    # ---------------------------------------------------------------- replay
    def queue_replay(self, rows: list[StepRow]) -> None:
        self._replay.extend(rows)

    @property
    def n_replay(self) -> int:
        return len(self._replay)

    def take_replay(self, index: int) -> StepRow | None:
        """The next journaled row to replay instead of measuring candidate ``index``, or None."""
        if not self._replay:
            return None
        row = self._replay.popleft()
        if row.index != index:
            log.warning("replay: decision %d differs from the recorded %d; the record wins", index, row.index)
        return row

    # ---------------------------------------------------------------- writing
    def event(self, kind: str, **fields: Any) -> None:
        """A record event (journaled first); dropped before the record exists."""
        if self.record is not None:
            self.record.event(kind, **fields)

    def secure(self, row: StepRow, signal_axis: Axis) -> None:
        """Journal a new measurement (fsync): paid-for data is safe from here on."""
        assert self.journal is not None
        self.journal.append(row, signal_axis)

    def append(self, row: StepRow, signal_axis: Axis) -> None:
        """Add a secured row to the record (flushed)."""
        assert self.record is not None
        self.record.append(row, signal_axis)

    def checkpoint(self, state: LoopState, rng: np.random.Generator, model_state: Any,
                   extra: dict[str, Any]) -> None:
        """Replace ``checkpoint.pt`` atomically (unless checkpoints are off)."""
        if self.checkpointing:
            save_checkpoint(self.out_dir / "checkpoint.pt", loop=asdict(state), rng=rng,
                            surrogate_state=model_state, extra=extra)

    def write_maps(self, **maps: np.ndarray) -> None:
        """Per-candidate maps ``(rows, cols)`` into the record (``/maps/<name>``): live ones during the
        run (:mod:`agent.run.live`), the final ones at its end."""
        assert self.record is not None
        self.record.write_maps(**maps)

    def close(self) -> None:
        """Close journal and record (idempotent); the lock is released by :meth:`unlock`."""
        if self.journal is not None:
            self.journal.close()
        if self.record is not None:
            was_open = bool(self.record.h5.id.valid)
            self.record.close()
            if was_open:  # every run's metrics.csv, scored from the record alone (REC)
                try:
                    write_metrics_csv(self.out_dir)
                except (RecordError, OSError, ValueError) as err:
                    log.warning("metrics.csv not written: %s", err)
