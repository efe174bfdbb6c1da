"""What is where in ``record.h5`` (layout 2), and how to open one to read.

:func:`write_layout` makes every group, dataset and attribute of a new record before SWMR starts
(the writer is :class:`agent.record.Record`); :func:`open_read` opens a record of either layout
whether its writer is running, was killed, or closed it; :func:`n_complete_rows` and
:func:`read_event_texts` read what a live writer may have half-flushed.

Layout 2 of ``record.h5`` (``units`` on every dataset; ``""`` for labels and counters)::

    /                      @NX_class=NXroot @default=entry @version=2 @closed_cleanly @config (YAML)
                           @software_version @git_revision @start_time (ISO 8601 UTC) @creator
                           @reward_name @reward_units @reward_windows (JSON [[lo, hi], ...], axis units)
    /overview/image        (ny, nx) float32 the structure image; @frame_id @axes (JSON) @metadata
    /overview/y, /x        (ny,), (nx,) float64 pixel centres; @units @offset @scale
    /candidates/yx_px      (n, 2) int64 overview pixel of each candidate
    /candidates/yx_m       (n, 2) float64 position (overview calibration units, @units)
    /candidates/truth      (n,) float64 noise-free reward (emulator / denoised replay only)
    /steps/<field>         (m, ...) one row per measurement, see ``STEP_FIELDS`` / ``STEP_UNITS``
    /steps/spectrum        (m, n_signal) float64 the measured spectra (n_signal set by the first one)
    /steps/signal_axis     (n_signal,) float64 the spectra's axis; @units @long_name @offset @scale
                           (offset/scale NaN when the axis is not uniform); /steps@signal_axis (JSON)
    /steps/objectives      (m, k) float64 every objective of a vector reward (k = 0 for a scalar one,
                           removed at a clean close: HyperSpy's NeXus reader fails on empty datasets)
    /events                (k,) fixed-length UTF-8 JSON texts (faults, health, interventions); a text
    /events_continued      longer than one row continues on the next row where this (k,) uint8 is 1
    /maps/<name>           (rows, cols) latest per-candidate maps (mean, std, truth, gate, ...)
    /map_slots/<name>      the maps in ``MAP_SLOTS``, made (NaN) before SWMR; linked into /maps when written
    /entry                 NXentry @default=spectra: NeXus views of the same datasets (hard links)
    /entry/spectra         NXdata @signal=spectrum @axes=[measurement, signal_axis]
    /entry/overview        NXdata @signal=image @axes=[y, x]
    /entry/maps            NXdata @signal=mean @axes=[y, x] (after the first ``write_maps``)
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from drivers.frames import Axis, Frame

__all__ = ["RECORD_VERSION", "READABLE_VERSIONS", "EVENT_BYTES", "MAP_SLOTS", "STEP_FIELDS", "STEP_UNITS",
           "software_version", "git_revision", "fixed_utf8", "write_layout", "make_objectives", "n_complete_rows",
           "read_event_texts", "open_read", "layout_of", "link_nexus_map", "axis_from_dict", "read_overview",
           "read_signal_axis", "as_text"]


RECORD_VERSION = 2
READABLE_VERSIONS = (1, 2)
EVENT_BYTES = 1024  # one /events row; longer texts continue on the next rows
_PHASE_BYTES, _REASON_BYTES, _AXIS_LABEL_BYTES = 32, 256, 64
#: maps made with the layout (float64 over the candidate grid); others are made when first written
MAP_SLOTS = ("mean", "std", "truth", "gate")


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


def fixed_utf8(text: str, n_bytes: int) -> bytes:
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


def make_objectives(steps: h5py.Group, n_rows: int, reward_units: str) -> h5py.Dataset:
    """``/steps/objectives``, ``(n_rows, 0)``: its width is set by the first vector reward."""
    ds = _resizable(steps, "objectives", (0,), np.float64, (64, 4), reward_units, grow_all=True,
                    fillvalue=np.nan)
    ds.resize(n_rows, axis=0)
    return ds


def write_layout(h5: h5py.File, overview: Frame, yx_px: np.ndarray, yx_m: np.ndarray,
                  cand_attrs: dict[str, Any], config_yaml: str, truth: np.ndarray | None,
                  reward_name: str, reward_units: str, start_time: str, reward_windows: str | None = None) -> None:
    """Every group, dataset and attribute of layout 2, empty where rows will go (before SWMR)."""
    pos_units = overview.axes[0].units
    h5.attrs.update(NX_class="NXroot", default="entry", creator="autoscope", version=RECORD_VERSION,
                    closed_cleanly=0, config=config_yaml, software_version=software_version(),
                    git_revision=git_revision(), start_time=start_time, reward_name=reward_name,
                    reward_units=reward_units, HDF5_Version=h5py.version.hdf5_version,
                    h5py_version=h5py.version.version)
    if reward_windows is not None:  # JSON [[lo, hi], ...]; absent only in a record migrated from layout 1
        h5.attrs["reward_windows"] = reward_windows
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
    make_objectives(s, 0, reward_units)
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


def as_text(value: Any) -> str:
    """An attribute or string-dataset value as ``str`` (h5py gives ``bytes`` for fixed-length and
    variable-length strings alike)."""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def axis_from_dict(d: dict[str, Any]) -> Axis:
    """The axis written by ``Axis.to_dict()`` (a 4D-STEM ``PatternAxis`` keeps its pattern shape)."""
    if "pattern_shape" in d:
        from drivers.fourd.patterns import PatternAxis

        return PatternAxis(d["name"], d["units"], np.asarray(d["values"], dtype=np.float64),
                           pattern_shape=tuple(d["pattern_shape"]), k_mrad_per_px=d["k_mrad_per_px"])
    return Axis(d["name"], d["units"], np.asarray(d["values"], dtype=np.float64))


def read_overview(h5: h5py.File) -> Frame:
    """``/overview`` of an open record (either layout) as the :class:`Frame` it was made from."""
    ov = h5["overview"]
    axes = tuple(axis_from_dict(d) for d in json.loads(as_text(ov.attrs["axes"])))
    return Frame(np.asarray(ov["image"][...]), axes, as_text(ov.attrs.get("frame_id", "")),
                 json.loads(as_text(ov.attrs.get("metadata", "{}"))))


def read_signal_axis(h5: h5py.File) -> Axis | None:
    """The spectra's axis (``/steps@signal_axis``, either layout); None before the first spectrum."""
    raw = h5["steps"].attrs.get("signal_axis")
    return axis_from_dict(json.loads(as_text(raw))) if raw is not None else None


def link_nexus_map(h5: h5py.File, name: str, ds: h5py.Dataset) -> None:
    """The map in the NeXus view /entry/maps (NXdata over the candidate grid, axes in metres)."""
    if "entry" not in h5:
        return
    e = h5["entry"]
    if "maps" not in e:
        g = e.create_group("maps")
        rows, cols = (int(v) for v in h5["candidates"].attrs["grid_shape"])
        yx = h5["candidates/yx_m"][...].reshape(rows, cols, 2)
        units = np.bytes_(str(h5["candidates"].attrs.get("units", "")).encode())
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


def n_complete_rows(h5: h5py.File) -> int:
    """The number of rows present in every ``/steps`` row dataset of an open record."""
    s = h5["steps"]
    found = (s.get(name) for name in (*STEP_FIELDS, "spectrum", "objectives"))
    return min(int(ds.shape[0]) for ds in found if isinstance(ds, h5py.Dataset))


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


def open_read(path: Path) -> h5py.File:
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


def layout_of(path: Path) -> int:
    try:
        with open_read(path) as h5:
            return int(h5.attrs.get("version", 0))
    except OSError:
        return 0  # unreadable: the caller's own open reports it
