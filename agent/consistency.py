"""One consistency check of a run's files, at every resume and every ``autoscope-ctl RUN status``.

The journal is the source of truth (every line carries its SHA-256). The check:

* a partial last journal line (a kill mid-write) is reported, and cut off before anything is
  appended (:func:`repair_store`; the cut bytes are kept as ``journal.partial-<time>``);
* the checkpoint's row count must not exceed the journal's rows (the journal may be ahead: those
  rows are replayed); a damaged checkpoint is refused with the fix;
* every record row must equal its journal row (every field, the spectrum, the objectives), the
  record's events must be the journal's events, the signal axis the journal's axis. A record that
  is behind is completed from the journal; one that is unreadable or differs is kept aside and
  rebuilt from it;
* anything that cannot be repaired from the journal (the journal damaged, or holding fewer rows
  than the checkpoint or the record) raises :class:`RunStoreError`, whose one-line message names the
  file and the fix. Nothing is changed on disk before the whole check has passed.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoint import CheckpointError, load_checkpoint
from .journal import Journal, JournalContents, JournalError, scan_journal
from .record import STEP_FIELDS, Record, RecordError, StepRow

__all__ = ["RunStoreError", "StoreCheck", "check_store", "repair_store", "row_difference"]


class RunStoreError(RecordError):
    """The run's files disagree in a way the journal cannot repair; the message names file and fix."""


@dataclass
class StoreCheck:
    """What :func:`check_store` found (nothing changed yet).

    Attributes:
        journal: the journal's contents (rows, events, signal axis, partial tail).
        checkpoint: the loaded checkpoint, or None when there is none.
        checkpoint_rows: rows the checkpoint accounts for (None without a checkpoint).
        record_rows: rows in ``record.h5`` (None when it is missing or unreadable).
        record_problem: why the record must be rebuilt from the journal ("" when it agrees).
    """

    run_dir: Path
    journal: JournalContents
    checkpoint: dict[str, Any] | None = None
    checkpoint_rows: int | None = None
    record_rows: int | None = None
    record_problem: str = ""
    record_unclean: bool = False
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: the three row counts and what a resume would repair."""
        parts = [f"journal {len(self.journal.rows)} rows, {len(self.journal.events)} events",
                 f"record {'missing/unreadable' if self.record_rows is None else self.record_rows}",
                 f"checkpoint {'none' if self.checkpoint_rows is None else self.checkpoint_rows}"]
        line = "store: " + ", ".join(parts)
        todo = []
        if self.journal.partial:
            todo.append(f"partial last journal line ({len(self.journal.partial)} bytes) to cut")
        if self.record_problem:
            todo.append(f"record to rebuild from the journal ({self.record_problem})")
        elif self.record_unclean:
            todo.append("record not closed cleanly (a kill, or being written): rebuilt from the journal")
        elif self.record_rows is not None and self.record_rows < len(self.journal.rows):
            todo.append(f"{len(self.journal.rows) - self.record_rows} row(s) to copy into the record")
        return line + ("; on resume: " + "; ".join(todo) if todo else "; consistent")


def _same(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        return bool(np.array_equal(a.astype(np.float64), b.astype(np.float64), equal_nan=True))
    return bool(np.array_equal(a, b))


def row_difference(rec_cols: dict[str, np.ndarray], k: int, row: StepRow) -> str:
    """The first field in which record row ``k`` differs from the journal's ``row`` ("" if none)."""
    for name in STEP_FIELDS:
        got = rec_cols[name][k]
        want = getattr(row, name)
        if name in ("phase", "reason"):
            got = got.decode() if isinstance(got, bytes) else str(got)
            if got != str(want):
                return name
        elif name == "healthy":
            if bool(got) != bool(want):
                return name
        elif not _same(got, want):
            return name
    spectra = rec_cols.get("spectrum")
    spec = np.asarray(row.spectrum, dtype=np.float64)
    if spectra is not None and spectra.size:
        got = spectra[k]
        expected = spec if spec.size == got.size else np.full(got.size, np.nan)
        if not _same(got, expected):
            return "spectrum"
    elif spec.size:
        return "spectrum"
    obj = rec_cols.get("objectives")
    if obj is not None and obj.size:
        want = np.asarray(row.objectives, dtype=np.float64).reshape(-1)
        expected = want if want.size == obj.shape[1] else np.full(obj.shape[1], np.nan)
        if not _same(obj[k], expected):
            return "objectives"
    return ""


def _check_record(path: Path, contents: JournalContents, out: StoreCheck) -> None:
    if not path.exists():
        out.record_problem = "record.h5 is missing"
        return
    try:
        rec = Record.open(path, "r")
    except RecordError as err:
        out.record_problem = f"unreadable: {str(err).splitlines()[0][:200]}"
        return
    try:
        n = len(rec)
        out.record_rows = n
        out.record_unclean = not rec.closed_cleanly
        rows = contents.rows
        if n > len(rows):
            raise RunStoreError(
                f"{path.parent / 'journal.jsonl'} holds {len(rows)} rows but record.h5 holds {n}: the "
                f"journal lost measurements; restore journal.jsonl from a backup (nothing was changed)")
        cols = {name: rec.h5["steps"][name][...] for name in STEP_FIELDS}
        for extra in ("spectrum", "objectives"):
            if extra in rec.h5["steps"]:
                cols[extra] = rec.h5["steps"][extra][...]
        for k in range(n):
            diff = row_difference(cols, k, rows[k])
            if diff:
                out.record_problem = f"row {k} differs from the journal in `{diff}`"
                return
        if contents.hashed:  # journals from before events were journaled cannot vouch for events
            have = rec.event_texts()
            if len(have) > len(contents.events) or have != contents.events[:len(have)]:
                out.record_problem = "its events differ from the journal's"
                return
        raw = rec.h5["steps"].attrs.get("signal_axis")
        if contents.signal_axis is not None and "spectrum" in rec.h5["steps"]:
            if raw is None or not _same(json.loads(raw)["values"], contents.signal_axis.values):
                out.record_problem = "its signal axis differs from the journal's"
    except (OSError, KeyError, ValueError, TypeError, IndexError) as err:
        out.record_problem = f"unreadable: {type(err).__name__}: {str(err)[:200]}"
    finally:
        rec.close()


def check_store(run_dir: str | Path) -> StoreCheck:
    """Check journal, record and checkpoint against each other; read-only.

    Raises:
        RunStoreError: a disagreement the journal cannot repair (message: file and fix).
    """
    d = Path(run_dir)
    try:
        contents = scan_journal(d / "journal.jsonl")
    except JournalError as err:
        raise RunStoreError(str(err)) from None
    out = StoreCheck(d, contents)
    if contents.partial:
        out.notes.append(f"journal.jsonl ends in a partial line of {len(contents.partial)} bytes "
                         f"(a kill mid-write)")
    ck = d / "checkpoint.pt"
    if ck.exists():
        try:
            out.checkpoint = load_checkpoint(ck)
        except CheckpointError as err:
            raise RunStoreError(str(err)) from None
        try:
            out.checkpoint_rows = int(out.checkpoint["loop"]["n_rows"])
        except (KeyError, TypeError, ValueError):
            raise RunStoreError(f"{ck} has no row count: it is not this run's checkpoint; move it aside "
                                f"(`mv {ck} {ck}.bad`) and resume again: the run is replayed from the "
                                f"journal") from None
        if out.checkpoint_rows > len(contents.rows):
            raise RunStoreError(
                f"{d / 'journal.jsonl'} holds {len(contents.rows)} rows but checkpoint.pt accounts for "
                f"{out.checkpoint_rows}: the journal lost measurements; restore journal.jsonl from a "
                f"backup (nothing was changed)")
    _check_record(d / "record.h5", contents, out)
    return out


def repair_store(check: StoreCheck, create_record: Callable[[], Record]) -> tuple[Record, list[str]]:
    """Make the files agree with the journal; returns the record open for appending and what was done.

    ``create_record()`` makes an empty record (overview, candidates, config) for a rebuild.
    """
    d = check.run_dir
    notes: list[str] = []
    aside = Journal.truncate_partial(d / "journal.jsonl", check.journal)
    if aside is not None:
        notes.append(f"cut a partial last journal line ({len(check.journal.partial)} bytes, kept as "
                     f"{aside.name})")
    path = d / "record.h5"
    rebuilt = bool(check.record_problem or check.record_unclean)
    if not check.record_problem and check.record_unclean:
        # its rows and events equal the journal's, but HDF5 written up to a kill may hold damage
        # that only shows on the next write: rebuild, and drop the old copy (it held nothing more)
        old = path.with_name(f"record.unclean-{time.time_ns()}.h5")
        shutil.move(path, old)
        rec = create_record()
        old.unlink()
        notes.append("record.h5 was not closed cleanly (killed): rebuilt from the journal")
    elif check.record_problem:
        if path.exists():
            bad = path.with_name(f"record.corrupt-{time.time_ns()}.h5")
            shutil.move(path, bad)
            notes.append(f"record.h5 rebuilt from the journal ({check.record_problem}); the old one is "
                         f"kept as {bad.name}")
        else:
            notes.append(f"record.h5 rebuilt from the journal ({check.record_problem})")
        rec = create_record()
    else:
        rec = Record.open(path, "a")
    rows, axis = check.journal.rows, check.journal.signal_axis
    missing = rows[len(rec):]
    for row in missing:
        rec.append(row, axis, replay=True)
    have = len(rec.event_texts())
    for text in check.journal.events[have:]:
        rec.append_event_text(text)
    if missing and not rebuilt:
        notes.append(f"copied {len(missing)} journaled row(s) into record.h5")
    if len(rec) != len(rows):  # pragma: no cover - a bug, not damage
        rec.close()
        raise RunStoreError(f"{path}: {len(rec)} rows after repair, journal {len(rows)}; report this")
    return rec, notes
