"""The experiment record: one HDF5 file, appended and flushed after every measurement.

The file is written in HDF5 SWMR mode (single writer, multiple readers): a viewer opening it with
``h5py.File(path, "r", swmr=True)`` (or :func:`agent.record_reader.read_run`) reads it while the run
appends, and right after a kill. Every dataset is created, chunked and resizable, before SWMR starts;
strings are fixed-length (variable-length strings live in a heap that SWMR readers cannot follow).

Layout 2 of ``record.h5`` (``units`` on every dataset; ``""`` for labels and counters)::

    /                      @NX_class=NXroot @default=entry @version=2 @closed_cleanly @config (YAML)
                           @software_version @git_revision @start_time (ISO 8601 UTC) @creator
                           @reward_name @reward_units
    /overview/image        (ny, nx) float32 the structure image; @frame_id @axes (JSON) @metadata
    /overview/y, /x        (ny,), (nx,) float64 pixel centres; @units @offset @scale
    /candidates/yx_px      (n, 2) int64 overview pixel of each candidate
    /candidates/yx_m       (n, 2) float64 position (overview calibration units, @units)
    /candidates/truth      (n,) float64 noise-free reward (emulator / denoised replay only)
    /steps/<field>         (m, ...) one row per measurement, see ``STEP_FIELDS`` / ``STEP_UNITS``
    /steps/spectrum        (m, n_signal) float64 the measured spectra (n_signal set by the first one)
    /steps/signal_axis     (n_signal,) float64 the spectra's axis; @units @long_name @offset @scale
                           (offset/scale NaN when the axis is not uniform); /steps@signal_axis (JSON)
    /steps/objectives      (m, k) float64 every objective of a vector reward (k = 0 for a scalar one)
    /events                (k,) fixed-length UTF-8 JSON texts (faults, health, interventions); a text
    /events_continued      longer than one row continues on the next row where this (k,) uint8 is 1
    /maps/<name>           (rows, cols) latest per-candidate maps (mean, std, gate, ...)
    /entry                 NXentry @default=spectra: NeXus views of the same datasets (hard links)
    /entry/spectra         NXdata @signal=spectrum @axes=[measurement, signal_axis]
    /entry/overview        NXdata @signal=image @axes=[y, x]
    /entry/maps            NXdata @signal=mean @axes=[y, x] (after the first ``write_maps``)

Layout 1 records (before SWMR: variable-length strings, no units) are still read; one opened to
append (a resume) is copied into layout 2 first, the old file kept beside it.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

import h5py
import numpy as np

from drivers.errors import AutoscopeError
from drivers.frames import Axis, Frame

from .candidates import CandidateSet
from .strictjson import dumps_strict

__all__ = ["Record", "StepRow", "RecordError", "RECORD_VERSION", "STEP_FIELDS", "STEP_UNITS",
           "axis_from_dict", "software_version", "git_revision"]

RECORD_VERSION = 2
READABLE_VERSIONS = (1, 2)
EVENT_BYTES = 1024  # one /events row; longer texts continue on the next rows
_PHASE_BYTES, _REASON_BYTES, _AXIS_LABEL_BYTES = 32, 256, 64
#: maps made with the layout (float64 over the candidate grid); others are made when first written
MAP_SLOTS = ("mean", "std", "truth", "gate")


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


STEP_FIELDS: dict[str, tuple[Any, tuple[int, ...]]] = {
    "step": (np.int64, ()),
    "index": (np.int64, ()),
    "phase": (h5py.string_dtype("utf-8", _PHASE_BYTES), ()),
    "yx_px": (np.int64, (2,)),
    "yx_m": (np.float64, (2,)),
    "reward": (np.float64, ()),
    "pred_mean": (np.float64, ()),
    "pred_std": (np.float64, ()),
    "t_acquire_s": (np.float64, ()),
    "t_fit_s": (np.float64, ()),
    "t_predict_s": (np.float64, ()),
    "t_select_s": (np.float64, ()),
    "clock_s": (np.float64, ()),
    "dose_e": (np.float64, ()),
    "healthy": (np.bool_, ()),
    "reason": (h5py.string_dtype("utf-8", _REASON_BYTES), ()),
    "travel_m": (np.float64, ()),
    "cost_s": (np.float64, ()),
}

#: ``units`` of each /steps field; "{pos}" is the overview's calibration unit, "{reward}" the reward's
STEP_UNITS: dict[str, str] = {
    "step": "", "index": "", "phase": "", "yx_px": "px", "yx_m": "{pos}", "reward": "{reward}",
    "pred_mean": "{reward}", "pred_std": "{reward}", "t_acquire_s": "s", "t_fit_s": "s",
    "t_predict_s": "s", "t_select_s": "s", "clock_s": "s", "dose_e": "e", "healthy": "", "reason": "",
    "travel_m": "m", "cost_s": "s",
}


def axis_from_dict(d: dict[str, Any]) -> Axis:
    """The axis written by ``Axis.to_dict()`` (a 4D-STEM ``PatternAxis`` keeps its pattern shape)."""
    if "pattern_shape" in d:
        from drivers.fourd.patterns import PatternAxis

        return PatternAxis(d["name"], d["units"], np.asarray(d["values"], dtype=np.float64),
                           pattern_shape=tuple(d["pattern_shape"]), k_mrad_per_px=d["k_mrad_per_px"])
    return Axis(d["name"], d["units"], np.asarray(d["values"], dtype=np.float64))


def _axes_json(axes: Iterable[Axis]) -> str:
    return json.dumps([a.to_dict() for a in axes])


def software_version() -> str:
    """The installed autoscope version ("" when not installed as a package)."""
    try:
        return metadata.version("autoscope")
    except metadata.PackageNotFoundError:
        return ""


def git_revision() -> str:
    """The source tree's git commit (with ``-dirty`` when it has uncommitted changes); "" outside git."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return rev + ("-dirty" if dirty else "")


def _fixed(text: str, n_bytes: int) -> bytes:
    """UTF-8 bytes of ``text`` cut to ``n_bytes`` at a character boundary."""
    return text.encode("utf-8")[:n_bytes].decode("utf-8", errors="ignore").encode("utf-8")


def _axis_attrs(ds: h5py.Dataset, axis: Axis) -> None:
    uniform = axis.size > 0 and axis.is_uniform()
    # fixed-length strings: kept in the object header (a heap written under SWMR may be unreadable)
    ds.attrs["units"] = np.bytes_(axis.units.encode())
    ds.attrs["long_name"] = np.bytes_(axis.name.encode())
    ds.attrs["offset"] = float(axis.values[0]) if uniform else float("nan")
    ds.attrs["scale"] = float(axis.scale) if uniform and axis.size > 1 else float("nan")


def _resizable(g: h5py.Group, name: str, shape: tuple[int, ...], dtype: Any, chunks: tuple[int, ...],
               units: str, grow_all: bool = False, **kw: Any) -> h5py.Dataset:
    """An empty dataset of rows of ``shape`` (``grow_all``: the row length is set later, too)."""
    maxshape = (None,) * (1 + len(shape)) if grow_all else (None,) + shape
    ds = g.create_dataset(name, shape=(0,) + shape, maxshape=maxshape, dtype=dtype, chunks=chunks, **kw)
    ds.attrs["units"] = units
    return ds


def _write_layout(h5: h5py.File, overview: Frame, yx_px: np.ndarray, yx_m: np.ndarray,
                  cand_attrs: dict[str, Any], config_yaml: str, truth: np.ndarray | None,
                  reward_name: str, reward_units: str, start_time: str) -> None:
    """Every group, dataset and attribute of layout 2, empty where rows will go (before SWMR)."""
    pos_units = overview.axes[0].units
    h5.attrs.update(NX_class="NXroot", default="entry", creator="autoscope", version=RECORD_VERSION,
                    closed_cleanly=0, config=config_yaml, software_version=software_version(),
                    git_revision=git_revision(), start_time=start_time, reward_name=reward_name,
                    reward_units=reward_units, HDF5_Version=h5py.version.hdf5_version,
                    h5py_version=h5py.version.version)
    g = h5.create_group("overview")
    img = g.create_dataset("image", data=np.asarray(overview.data, dtype=np.float32))
    img.attrs["units"] = "counts"
    g.attrs["frame_id"] = overview.frame_id
    g.attrs["axes"] = _axes_json(overview.axes)
    g.attrs["metadata"] = json.dumps(dict(overview.metadata), default=str)
    for name, axis in zip(("y", "x"), overview.axes):
        _axis_attrs(g.create_dataset(name, data=axis.values), axis)
    c = h5.create_group("candidates")
    c.create_dataset("yx_px", data=yx_px).attrs["units"] = "px"
    c.create_dataset("yx_m", data=yx_m).attrs["units"] = pos_units
    c.attrs.update(cand_attrs)
    c.attrs["units"] = pos_units
    if truth is not None:
        c.create_dataset("truth", data=np.asarray(truth, dtype=np.float64)).attrs["units"] = reward_units
    s = h5.create_group("steps")
    for name, (dtype, shape) in STEP_FIELDS.items():
        units = STEP_UNITS[name].format(pos=pos_units, reward=reward_units)
        ds = _resizable(s, name, shape, dtype, (64,) + shape, units)
        if name == "reward" and reward_name:
            ds.attrs["long_name"] = reward_name
    _resizable(s, "spectrum", (0,), np.float64, (16, 256), "counts", grow_all=True, fillvalue=np.nan)
    _resizable(s, "objectives", (0,), np.float64, (64, 4), reward_units, grow_all=True, fillvalue=np.nan)
    ax = _resizable(s, "signal_axis", (), np.float64, (1024,), "")
    for name, value in (("units", np.bytes_(b"")), ("long_name", np.bytes_(b""))):
        ax.attrs.create(name, value, dtype=f"S{_AXIS_LABEL_BYTES}")  # set in place by the first spectrum
    ax.attrs.update(offset=np.nan, scale=np.nan)
    _resizable(h5, "events", (), h5py.string_dtype("utf-8", EVENT_BYTES), (16,), "")
    _resizable(h5, "events_continued", (), np.uint8, (64,), "")
    h5.create_group("maps")
    slots = h5.create_group("map_slots")  # linked into /maps by the first write of each
    for name in MAP_SLOTS:
        units = reward_units if name in ("mean", "std", "truth") else ""
        # written now, so that its storage exists before SWMR (allocating it later changes the
        # dataset's header under a reader)
        slots.create_dataset(name, data=np.full(tuple(cand_attrs["grid_shape"]), np.nan),
                             ).attrs["units"] = units
    e = h5.create_group("entry")
    e.attrs.update(NX_class="NXentry", default="spectra", start_time=start_time)
    e.create_dataset("start_time", data=start_time).attrs["units"] = ""  # ISO 8601
    e.create_dataset("program_name", data="autoscope").attrs.update(version=software_version(), units="")
    d = e.create_group("spectra")
    d.attrs.update(NX_class="NXdata", signal="spectrum", axes=["measurement", "signal_axis"],
                   measurement_indices=0, signal_axis_indices=1)
    d["spectrum"], d["signal_axis"], d["measurement"] = s["spectrum"], s["signal_axis"], s["step"]
    d["yx_m"], d["reward"] = s["yx_m"], s["reward"]
    o = e.create_group("overview")
    o.attrs.update(NX_class="NXdata", signal="image", axes=["y", "x"], y_indices=0, x_indices=1)
    o["image"], o["y"], o["x"] = img, g["y"], g["x"]


class Record:
    """Append-only HDF5 record of one run. Use :meth:`create` for a new run, :meth:`open` to read."""

    def __init__(self, h5: h5py.File, path: Path) -> None:
        self._h5 = h5
        self.path = path
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
    ) -> "Record":
        """Start a new record (SWMR from the start); refuses to overwrite an existing file.

        ``reward_name``/``reward_units`` label the reward, prediction and truth datasets.
        """
        path = Path(path)
        if path.exists():
            raise RecordError(f"{path} exists: a run directory is never overwritten; choose a new one")
        cand_attrs = dict(grid_shape=candidates.grid_shape, window=candidates.window,
                          stride=candidates.stride, margin=candidates.margin)
        return cls._create(path, overview, np.asarray(candidates.yx_px), np.asarray(candidates.yx_m),
                           cand_attrs, config_yaml, truth, reward_name, reward_units)

    @classmethod
    def _create(cls, path: Path, overview: Frame, yx_px: np.ndarray, yx_m: np.ndarray,
                cand_attrs: dict[str, Any], config_yaml: str, truth: np.ndarray | None,
                reward_name: str, reward_units: str, start_time: str | None = None) -> "Record":
        # No HDF5 file lock (a second process may read), the newest format (needed by SWMR).
        # Written under a temporary name and renamed once in SWMR mode: a reader never meets a
        # half-made file, nor one open for writing without SWMR.
        tmp = path.with_name(f".{path.name}.creating")
        h5 = h5py.File(tmp, "w", libver="latest", locking=False)
        try:
            start = start_time or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            _write_layout(h5, overview, yx_px, yx_m, cand_attrs, config_yaml, truth, reward_name,
                          reward_units, start)
            h5.flush()
            h5.swmr_mode = True
            os.replace(tmp, path)
        except BaseException:
            h5.close()
            tmp.unlink(missing_ok=True)
            raise
        return cls(h5, path)

    @classmethod
    def open(cls, path: str | Path, mode: str = "r") -> "Record":
        """Open an existing record (``mode="r"`` to read, ``"a"`` to continue appending).

        Reading uses SWMR, so a record being written, or left by a kill, opens too (see
        :attr:`closed_cleanly`). Appending needs a record closed cleanly; a layout-1 record is
        first copied into layout 2 (the old file is kept as ``record.layout1-<ns>.h5``).
        """
        path = Path(path)
        if not path.exists():
            raise RecordError(f"no record at {path}")
        if mode != "r" and _layout(path) == 1:
            _migrate_layout1(path)
        try:
            if mode == "r":
                h5 = _open_read(path)
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
            h5.attrs["closed_cleanly"] = 0
            h5.flush()
            h5.swmr_mode = True
        return cls(h5, path)

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
        values["phase"] = _fixed(str(values["phase"]), _PHASE_BYTES)
        values["reason"] = _fixed(str(values["reason"]), _REASON_BYTES)
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
            ds.attrs.modify(name, np.array(_fixed(text, _AXIS_LABEL_BYTES), dtype=f"S{_AXIS_LABEL_BYTES}"))
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
                    self._link_map(name, g[name])
                if name in g and g[name].shape == arr.shape and g[name].dtype == arr.dtype:
                    g[name][...] = arr
                    continue
                if name in g:
                    del g[name]
                ds = g.create_dataset(name, data=arr)
                ds.attrs["units"] = np.bytes_(self._map_units(name).encode())
                self._link_map(name, ds)
            self._h5.flush()

    def _map_units(self, name: str) -> str:
        reward_units = str(self._h5.attrs.get("reward_units", ""))
        return reward_units if name in ("mean", "std", "truth") else ""

    def _link_map(self, name: str, ds: h5py.Dataset) -> None:
        """The map in the NeXus view /entry/maps (NXdata over the candidate grid, axes in metres)."""
        if "entry" not in self._h5:
            return
        e = self._h5["entry"]
        if "maps" not in e:
            g = e.create_group("maps")
            rows, cols = (int(v) for v in self._h5["candidates"].attrs["grid_shape"])
            yx = self._h5["candidates/yx_m"][...].reshape(rows, cols, 2)
            units = np.bytes_(str(self._h5["candidates"].attrs.get("units", "")).encode())
            g.create_dataset("y", data=yx[:, 0, 0]).attrs["units"] = units
            g.create_dataset("x", data=yx[0, :, 1]).attrs["units"] = units
            g.attrs.update(NX_class=np.bytes_(b"NXdata"), signal=np.bytes_(name.encode()),
                           axes=np.array([b"y", b"x"]), y_indices=0, x_indices=1)
        g = e["maps"]
        if name in g:
            del g[name]
        g[name] = ds
        if name == "mean":
            g.attrs["signal"] = np.bytes_(b"mean")

    def close(self) -> None:
        if self._h5.id.valid:
            with self._write_lock:
                if self._h5.mode != "r":
                    self._h5.attrs["closed_cleanly"] = 1
                self._h5.flush()
                self._h5.close()

    def __enter__(self) -> "Record":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- reading
    def __len__(self) -> int:
        """Rows whose every field is on disk (a reader of a live record may see some fields one
        row ahead: HDF5 flushes the datasets' sizes in no fixed order)."""
        return n_complete_rows(self._h5)

    def column(self, name: str) -> np.ndarray:
        """All rows of one ``/steps`` field (``"index"``, ``"reward"``, ``"spectrum"``, ...)."""
        if name not in self._h5["steps"]:
            if name in ("spectrum", "objectives"):
                return np.zeros((0, 0))
            raise RecordError(f"record has no step field {name!r}; fields: {sorted(self._h5['steps'])}")
        data = self._h5["steps"][name][: len(self)]
        if data.dtype.kind in "OS":
            data = np.array([v.decode() if isinstance(v, bytes) else v for v in data], dtype=object)
        return data

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(t) for t in self.event_texts()]

    @property
    def truth(self) -> np.ndarray | None:
        return self._h5["candidates/truth"][...] if "truth" in self._h5["candidates"] else None

    @property
    def h5(self) -> h5py.File:
        """The open file, for readers that need more than the helpers give."""
        return self._h5


def n_complete_rows(h5: h5py.File) -> int:
    """The number of rows present in every ``/steps`` row dataset of an open record."""
    s = h5["steps"]
    names = [*STEP_FIELDS, *(n for n in ("spectrum", "objectives") if n in s)]
    return min(int(s[name].shape[0]) for name in names if name in s)


def read_event_texts(h5: h5py.File) -> list[str]:
    """Every event's JSON text from an open record of either layout (pieces joined)."""
    ds = h5["events"]
    if "events_continued" not in h5:  # layout 1: one variable-length string per event
        return [v.decode() if isinstance(v, bytes) else str(v) for v in ds[...]]
    more = h5["events_continued"]
    n = min(ds.shape[0], more.shape[0])
    raw, flags = ds[:n], more[:n]
    out: list[str] = []
    buf = b""
    for piece, cont in zip(raw, flags):
        buf += bytes(piece)
        if not cont:
            out.append(buf.decode("utf-8"))
            buf = b""
    return out


def _open_read(path: Path) -> h5py.File:
    """Open to read: plainly when the file was closed, with SWMR while a writer holds it (or after
    that writer was killed: HDF5 then keeps the file marked "open for write")."""
    flags, _ = _superblock(path)
    if not flags & _SWMR_WRITE:
        return h5py.File(path, "r", locking=False)
    # SWMR readers skip HDF5's end-of-file check (the file grows) and would retry forever on a
    # truncated file, so check it here: the superblock's end of file must lie in the file. A live
    # writer may have moved that end a moment before writing there: wait for it up to 2 s.
    deadline = time.monotonic() + 2.0
    while (eof := _superblock(path)[1]) > (size := path.stat().st_size):
        if time.monotonic() > deadline:
            raise OSError(f"truncated file: the superblock ends the file at byte {eof}, the file "
                          f"has {size} bytes")
        time.sleep(0.02)
    return h5py.File(path, "r", swmr=True, locking=False)


_SWMR_WRITE = 0x04  # superblock file-consistency flag: a SWMR writer has (or had, if killed) it open


def _superblock(path: Path) -> tuple[int, int]:
    """(consistency flags, stored end of file) of a version 2/3 superblock; (0, 0) for others."""
    with open(path, "rb") as fh:
        head = fh.read(48)
    if head[:8] != b"\x89HDF\r\n\x1a\n" or len(head) < 48 or head[8] < 2:
        return 0, 0
    size_of_offsets = head[9]
    start = 12 + 2 * size_of_offsets  # after base address and superblock-extension address
    return head[11], int.from_bytes(head[start:start + size_of_offsets], "little")


def _layout(path: Path) -> int:
    try:
        with _open_read(path) as h5:
            return int(h5.attrs.get("version", 0))
    except OSError:
        return 0  # unreadable: the caller's own open reports it


def _migrate_layout1(path: Path) -> None:
    """Copy a layout-1 record into layout 2 at ``path``; the old file is kept beside it."""
    old = Record(h5py.File(path, "r", locking=False), path)
    h5 = old.h5
    ov = h5["overview"]
    overview = Frame(ov["image"][...], tuple(axis_from_dict(d) for d in json.loads(ov.attrs["axes"])),
                     str(ov.attrs.get("frame_id", "")), json.loads(ov.attrs.get("metadata", "{}")))
    c = h5["candidates"]
    cand_attrs = {k: c.attrs[k] for k in ("grid_shape", "window", "stride", "margin")}
    raw_axis = h5["steps"].attrs.get("signal_axis")
    axis = axis_from_dict(json.loads(raw_axis)) if raw_axis is not None else None
    tmp = path.with_name(f"{path.stem}.layout2-tmp{path.suffix}")
    tmp.unlink(missing_ok=True)
    new = Record._create(tmp, overview, c["yx_px"][...], c["yx_m"][...], cand_attrs,
                         str(h5.attrs.get("config", "")), old.truth, "", "")
    cols = {name: old.column(name) for name in STEP_FIELDS}
    spectra, objectives = old.column("spectrum"), old.column("objectives")
    for k in range(len(old)):
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
