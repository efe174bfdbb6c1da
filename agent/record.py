"""The experiment record: one HDF5 file, appended and flushed after every measurement.

The file is written in HDF5 SWMR mode (single writer, multiple readers): a viewer opening it with
``h5py.File(path, "r", swmr=True)`` (or :func:`agent.record_reader.read_run`) reads it while the run
appends, and right after a kill. Every dataset is created, chunked and resizable, before SWMR starts;
strings are fixed-length (variable-length strings live in a heap that SWMR readers cannot follow).

The tree of layout 2 (what is where, with units) is in :mod:`agent.record_layout`, which makes it.

Under SWMR a reader may see one dataset a row ahead of another (sizes reach the disk in no fixed
order): take ``len(record)`` (:func:`agent.record_layout.n_complete_rows`) rows. A plain (non-SWMR)
open of a record whose writer runs or was killed fails ("already open for write"); :meth:`Record.open`
and ``read_run`` pick the right mode from the superblock.

Layout 1 records (before SWMR: variable-length strings, no units) are still read; one opened to
append (a resume) is copied into layout 2 first, the old file kept beside it.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from drivers.errors import AutoscopeError
from drivers.frames import Axis, Frame

from .candidates import CandidateSet
from .record_layout import (
    _AXIS_LABEL_BYTES,
    _PHASE_BYTES,
    _REASON_BYTES,
    EVENT_BYTES,
    READABLE_VERSIONS,
    RECORD_VERSION,
    STEP_FIELDS,
    STEP_UNITS,
    as_text,
    axis_from_dict,
    fixed_utf8,
    git_revision,
    layout_of,
    link_nexus_map,
    make_objectives,
    n_complete_rows,
    open_read,
    read_event_texts,
    read_overview,
    read_signal_axis,
    software_version,
    write_layout,
)
from .reward_info import windows_json
from .strictjson import dumps_strict

__all__ = ["Record", "StepRow", "RecordError", "RECORD_VERSION", "STEP_FIELDS", "STEP_UNITS",
           "axis_from_dict", "software_version", "git_revision"]

class RecordError(AutoscopeError, RuntimeError):
    """The record file is missing, corrupt, or inconsistent with the run."""


@dataclass
class StepRow:
    """One measurement (one row of ``/steps``).

    Units: positions in pixels and in the overview's calibration units (metres on instruments),
    times in seconds, dose in electrons. ``reward`` is NaN when the reward failed (the spectrum is
    still kept). ``pred_mean``/``pred_std`` are the surrogate's prediction at the chosen candidate
    before it was measured (NaN for seed points and model-free policies). ``travel_m`` is the
    probe's distance from the previous measurement; ``cost_s`` the policy's cost estimate (cost-aware
    policies only). With a vector reward, ``objectives`` holds all ``k`` values and ``reward`` the first.
    ``phase`` keeps at most 32 UTF-8 bytes and ``reason`` 256 in the record (the journal keeps all).
    """

    step: int
    index: int
    phase: str
    yx_px: tuple[int, int]
    yx_m: tuple[float, float]
    reward: float
    pred_mean: float = float("nan")
    pred_std: float = float("nan")
    t_acquire_s: float = float("nan")
    t_fit_s: float = float("nan")
    t_predict_s: float = float("nan")
    t_select_s: float = float("nan")
    clock_s: float = float("nan")
    dose_e: float = float("nan")
    healthy: bool = True
    reason: str = ""
    travel_m: float = float("nan")
    cost_s: float = float("nan")
    spectrum: np.ndarray = field(default_factory=lambda: np.zeros(0))
    objectives: np.ndarray = field(default_factory=lambda: np.zeros(0))


class Record:
    """Append-only HDF5 record of one run. Use :meth:`create` for a new run, :meth:`open` to read."""

    def __init__(self, h5: h5py.File, path: Path, writer: bool = False) -> None:
        self._h5 = h5
        self.path = path
        # whether this handle writes: not ``h5.mode``, which says "r+" for a reader in the writer's
        # own process (HDF5 shares one open file per process), whose close must not end the run's file
        self._writer = writer
        # writers on two threads (a pipelined loop journals faults from its acquisition thread
        # while the main thread appends rows): each write is whole before the next starts
        self._write_lock = threading.RLock()
        #: where events are journaled before they are written here (``agent.journal.Journal``);
        #: None while the record is rebuilt from the journal itself
        self.journal: Any = None

    # ---------------------------------------------------------------- creation and reading
    @classmethod
    def create(
        cls,
        path: str | Path,
        overview: Frame,
        candidates: CandidateSet,
        config_yaml: str = "",
        truth: np.ndarray | None = None,
        *,
        reward_name: str = "",
        reward_units: str = "",
        reward_windows: Sequence[tuple[float, float]] = (),
    ) -> Record:
        """Start a new record (SWMR from the start); refuses to overwrite an existing file.

        ``reward_name``/``reward_units`` label the reward, prediction and truth datasets and
        ``reward_windows`` (axis units) is stored as ``@reward_windows``: the built reward's own
        description (``agent.reward_info.reward_info``; the run store passes it).
        """
        path = Path(path)
        if path.exists():
            raise RecordError(f"{path} exists: a run directory is never overwritten; choose a new one")
        cand_attrs = dict(grid_shape=candidates.grid_shape, window=candidates.window,
                          stride=candidates.stride, margin=candidates.margin)
        return cls._create(path, overview, np.asarray(candidates.yx_px), np.asarray(candidates.yx_m),
                           cand_attrs, config_yaml, truth, reward_name, reward_units,
                           reward_windows=windows_json(reward_windows))

    @classmethod
    def _create(cls, path: Path, overview: Frame, yx_px: np.ndarray, yx_m: np.ndarray,
                cand_attrs: dict[str, Any], config_yaml: str, truth: np.ndarray | None,
                reward_name: str, reward_units: str, start_time: str | None = None,
                reward_windows: str | None = None) -> Record:
        # No HDF5 file lock (a second process may read), the newest format (needed by SWMR).
        # Written under a temporary name and renamed once in SWMR mode: a reader never meets a
        # half-made file, nor one open for writing without SWMR.
        tmp = path.with_name(f".{path.name}.creating")
        h5 = h5py.File(tmp, "w", libver="latest", locking=False)
        try:
            start = start_time or _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
            write_layout(h5, overview, yx_px, yx_m, cand_attrs, config_yaml, truth, reward_name,
                          reward_units, start, reward_windows)
            h5.flush()
            h5.swmr_mode = True
            os.replace(tmp, path)
        except BaseException:
            h5.close()
            tmp.unlink(missing_ok=True)
            raise
        return cls(h5, path, writer=True)

    @classmethod
    def open(cls, path: str | Path, mode: str = "r") -> Record:
        """Open an existing record (``mode="r"`` to read, ``"a"`` to continue appending).

        Reading uses SWMR, so a record being written, or left by a kill, opens too (see
        :attr:`closed_cleanly`). Appending needs a record closed cleanly; a layout-1 record is
        first copied into layout 2 (the old file is kept as ``record.layout1-<ns>.h5``).
        """
        path = Path(path)
        if not path.exists():
            raise RecordError(f"no record at {path}")
        if mode != "r" and layout_of(path) == 1:
            _migrate_layout1(path)
        try:
            if mode == "r":
                h5 = open_read(path)
            else:
                h5 = h5py.File(path, "r+", libver="latest", locking=False)
        except OSError as err:
            hint = (" (a writer is running, or was killed: rebuild it from the journal with "
                    "`autoscope-resume`)" if "already open for write" in str(err) else "")
            raise RecordError(f"{path} is not a readable HDF5 record (truncated or corrupt){hint}: "
                              f"{err}") from err
        if "steps" not in h5 or h5.attrs.get("version") not in READABLE_VERSIONS:
            h5.close()
            raise RecordError(f"{path} is not an autoscope record of layout {READABLE_VERSIONS}")
        if mode != "r":
            if h5.attrs["version"] == RECORD_VERSION and "objectives" not in h5["steps"]:
                make_objectives(h5["steps"], len(h5["steps/step"]), str(h5.attrs.get("reward_units", "")))
            h5.attrs["closed_cleanly"] = 0
            h5.flush()
            h5.swmr_mode = True
        return cls(h5, path, writer=mode != "r")

    @property
    def layout(self) -> int:
        """1 for records written before SWMR, 2 for this layout."""
        return int(self._h5.attrs["version"])

    @property
    def closed_cleanly(self) -> bool:
        """False when the last writer was killed (HDF5 is trusted only after a clean close: the
        journal is the crash-safe copy). Records from before this flag count as clean."""
        return bool(self._h5.attrs.get("closed_cleanly", 1))

    # ---------------------------------------------------------------- writing
    def append(self, row: StepRow, signal_axis: Axis | None = None, replay: bool = False) -> None:
        """Write one measurement and flush it to disk (``replay``: copied from the journal, whose
        events are copied separately, so none is raised again here)."""
        with self._write_lock:
            self._append(row, signal_axis, replay)

    def _append(self, row: StepRow, signal_axis: Axis | None, replay: bool = False) -> None:
        s = self._h5["steps"]
        m = s["step"].shape[0]
        values = asdict(row)
        spectrum = np.asarray(values.pop("spectrum"), dtype=np.float64).reshape(-1)
        objectives = np.asarray(values.pop("objectives"), dtype=np.float64).reshape(-1)
        values["phase"] = fixed_utf8(str(values["phase"]), _PHASE_BYTES)
        values["reason"] = fixed_utf8(str(values["reason"]), _REASON_BYTES)
        spec_ds, obj_ds = s["spectrum"], s["objectives"]
        if spec_ds.shape[1] == 0 and spectrum.size:  # the first spectrum sets the row length
            spec_ds.resize(spectrum.size, axis=1)
            if signal_axis is not None:
                self._write_signal_axis(signal_axis)
        if spectrum.size != spec_ds.shape[1]:
            # Keep the row aligned: store NaNs and say why, never drop the measurement silently.
            if not replay:
                self.event("spectrum_shape_mismatch", step=row.step, got=int(spectrum.size),
                           expected=int(spec_ds.shape[1]))
            spectrum = np.full(spec_ds.shape[1], np.nan)
        if obj_ds.shape[1] == 0 and objectives.size:  # earlier rows (reward failed) stay NaN
            obj_ds.resize(objectives.size, axis=1)
        # the spectrum first, the row counter (`step`) last: a reader that takes len(step) rows
        # never sees a row whose spectrum is missing
        if objectives.size != obj_ds.shape[1]:  # every row gets one (NaN where the reward failed)
            objectives = np.full(obj_ds.shape[1], np.nan)
        for ds, value in ((spec_ds, spectrum), (obj_ds, objectives)):
            ds.resize(m + 1, axis=0)
            if ds.shape[1]:
                ds[m] = value
        for name in reversed(list(STEP_FIELDS)):
            ds = s[name]
            ds.resize(m + 1, axis=0)
            ds[m] = values[name]
        self._h5.flush()

    def _write_signal_axis(self, axis: Axis) -> None:
        s = self._h5["steps"]
        if self.layout == 1:
            s.attrs["signal_axis"] = json.dumps(axis.to_dict())
            return
        ds = s["signal_axis"]
        ds.resize(axis.size, axis=0)
        ds[...] = axis.values
        # SWMR cannot add attributes to a dataset that existed before it started: set the ones
        # created with the layout
        uniform = axis.size > 0 and axis.is_uniform()
        for name, text in (("units", axis.units), ("long_name", axis.name)):
            ds.attrs.modify(name, np.array(fixed_utf8(text, _AXIS_LABEL_BYTES), dtype=f"S{_AXIS_LABEL_BYTES}"))
        ds.attrs.modify("offset", float(axis.values[0]) if uniform else np.nan)
        ds.attrs.modify("scale", float(axis.scale) if uniform and axis.size > 1 else np.nan)
        s.attrs["signal_axis"] = np.bytes_(json.dumps(axis.to_dict()).encode())

    def event(self, kind: str, **fields: Any) -> None:
        """Append one event (fault, health warning, intervention) as a JSON line, flushed."""
        text = dumps_strict({"kind": kind, **fields}, default=str)  # NaN -> null: strict JSON
        with self._write_lock:  # journal first (the source of truth), in the same order as here
            if self.journal is not None:
                self.journal.event(text)
            self.append_event_text(text)

    def append_event_text(self, text: str) -> None:
        """Write one event's JSON text as it is (a rebuild copies the journal's events this way)."""
        raw = text.encode("utf-8")
        pieces = [raw[k:k + EVENT_BYTES] for k in range(0, len(raw), EVENT_BYTES)] or [b""]
        with self._write_lock:
            ds, more = self._h5["events"], self._h5["events_continued"]
            n = ds.shape[0]
            ds.resize(n + len(pieces), axis=0)
            ds[n:] = np.array(pieces, dtype=ds.dtype)
            more.resize(n + len(pieces), axis=0)  # after the text: a reader stops at len(more)
            more[n:] = [1] * (len(pieces) - 1) + [0]
            self._h5.flush()

    def event_texts(self) -> list[str]:
        """Every event's JSON text, in order."""
        return read_event_texts(self._h5)

    def write_maps(self, **maps: np.ndarray) -> None:
        """Replace the latest per-candidate maps (e.g. ``mean=``, ``std=``, ``gate=``), flushed.

        Each map is ``(rows, cols)`` over the candidate grid; a map of an existing name and shape is
        overwritten in place (the only write SWMR readers can follow without a new object)."""
        with self._write_lock:
            g = self._h5.require_group("maps")
            slots = self._h5["map_slots"] if "map_slots" in self._h5 else {}
            for name, arr in maps.items():
                arr = np.asarray(arr)
                if name not in g and name in slots and slots[name].shape == arr.shape:
                    g[name] = slots[name]  # made before SWMR started: readers never meet it half-made
                    link_nexus_map(self._h5, name, g[name])
                if name in g and g[name].shape == arr.shape and (
                        g[name].dtype == arr.dtype or g[name].dtype.kind == arr.dtype.kind == "f"):
                    g[name][...] = arr  # in place (a float32 map into a float64 slot is cast)
                    continue
                if name in g:
                    del g[name]
                ds = g.create_dataset(name, data=arr)
                ds.attrs["units"] = np.bytes_(self._map_units(name).encode())
                link_nexus_map(self._h5, name, ds)
            self._h5.flush()

    def _map_units(self, name: str) -> str:
        reward_units = str(self._h5.attrs.get("reward_units", ""))
        return reward_units if name in ("mean", "std", "truth") else ""

    def close(self) -> None:
        if self._h5.id.valid:
            with self._write_lock:
                if self._writer:
                    steps = self._h5["steps"]
                    if steps["objectives"].shape[1] == 0:
                        # a scalar reward's (m, 0) objectives: HyperSpy's NeXus reader fails on empty
                        # datasets (open("a") makes it again)
                        del steps["objectives"]
                    self._h5.attrs["closed_cleanly"] = 1
                if self._writer:
                    self._h5.flush()
                self._h5.close()

    def __enter__(self) -> Record:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- reading
    def __len__(self) -> int:
        """Rows whose every field is on disk (a reader of a live record may see some fields one
        row ahead: HDF5 flushes the datasets' sizes in no fixed order)."""
        return n_complete_rows(self._h5)

    def column(self, name: str, n_rows: int | None = None) -> np.ndarray:
        """The first ``n_rows`` (default ``len(self)``) rows of one ``/steps`` field (``"index"``,
        ``"reward"``, ``"spectrum"``, ...); text fields as ``str`` object arrays. A reader taking
        several fields of a live record passes one ``n_rows`` to all, so that they stay aligned."""
        m = len(self) if n_rows is None else n_rows
        if name not in self._h5["steps"]:
            if name in ("spectrum", "objectives"):  # no spectrum yet / a closed scalar-reward record
                return np.zeros((m, 0))
            raise RecordError(f"record has no step field {name!r}; fields: {sorted(self._h5['steps'])}")
        data = self._h5["steps"][name][:m]
        if data.dtype.kind in "OS":
            data = np.array([as_text(v) for v in data], dtype=object)
        return data

    def events(self) -> list[dict[str, Any]]:
        """Every event as a dict, in order."""
        return [json.loads(t) for t in self.event_texts()]

    def overview(self) -> Frame:
        """The structure image with its calibrated axes, as given to :meth:`create`."""
        return read_overview(self._h5)

    def signal_axis(self) -> Axis | None:
        """The spectra's axis (None before the first spectrum)."""
        return read_signal_axis(self._h5)

    @property
    def truth(self) -> np.ndarray | None:
        return self._h5["candidates/truth"][...] if "truth" in self._h5["candidates"] else None

    @property
    def h5(self) -> h5py.File:
        """The open file, for readers that need more than the helpers give."""
        return self._h5


def _migrate_layout1(path: Path) -> None:
    """Copy a layout-1 record into layout 2 at ``path``; the old file is kept beside it."""
    old = Record(h5py.File(path, "r", locking=False), path)
    h5 = old.h5
    c = h5["candidates"]
    cand_attrs = {k: c.attrs[k] for k in ("grid_shape", "window", "stride", "margin")}
    axis = old.signal_axis()
    tmp = path.with_name(f"{path.stem}.layout2-tmp{path.suffix}")
    tmp.unlink(missing_ok=True)
    new = Record._create(tmp, old.overview(), c["yx_px"][...], c["yx_m"][...], cand_attrs,
                         str(h5.attrs.get("config", "")), old.truth, "", "")
    m = len(old)
    cols = {name: old.column(name, m) for name in STEP_FIELDS}
    spectra, objectives = old.column("spectrum", m), old.column("objectives", m)
    for k in range(m):
        row = {name: cols[name][k] for name in STEP_FIELDS}
        row["yx_px"], row["yx_m"] = tuple(row["yx_px"]), tuple(row["yx_m"])
        new.append(StepRow(**row, spectrum=spectra[k] if spectra.size else np.zeros(0),
                           objectives=objectives[k] if objectives.size else np.zeros(0)), axis, replay=True)
    for text in old.event_texts():
        new.append_event_text(text)
    if "maps" in h5:
        new.write_maps(**{name: h5["maps"][name][...] for name in h5["maps"]})
    new.close()
    old.close()
    path.rename(path.with_name(f"{path.stem}.layout1-{time.time_ns()}{path.suffix}"))
    tmp.rename(path)
