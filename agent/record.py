"""The experiment record: one HDF5 file, appended and flushed after every measurement.

Layout of ``record.h5``::

    /overview/image            (ny, nx) float32 structure image; attrs: frame_id, axes (JSON)
    /candidates/yx_px          (n, 2) int64      overview pixel of each candidate
    /candidates/yx_m           (n, 2) float64    position (overview calibration units, attr units)
    /candidates/truth          (n,)   float64    noise-free reward (emulator / denoised replay only)
    /steps/<field>             (m, ...)          one row per measurement, see ``STEP_FIELDS``
    /steps/spectrum            (m, n_signal)     the measured spectrum; /steps attrs hold its axis
    /steps/objectives          (m, k)            every objective of a vector reward (k > 1 only)
    /events                    (k,) JSON strings faults, health warnings, interventions
    /maps/mean, /maps/std      (rows, cols)      latest predicted maps (rewritten, not appended)

Every ``append`` writes one row to every ``/steps`` dataset and calls ``flush`` so that a crash
loses nothing that was measured. Attributes ``/`` ``config`` (resolved config, YAML) and
``version`` describe the run.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import h5py
import numpy as np

from drivers.errors import AutoscopeError
from drivers.frames import Axis, Frame

from .candidates import CandidateSet

__all__ = ["Record", "StepRow", "RecordError", "RECORD_VERSION", "axis_from_dict"]

RECORD_VERSION = 1
_STR = h5py.string_dtype(encoding="utf-8")


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
    "phase": (_STR, ()),
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
    "reason": (_STR, ()),
    "travel_m": (np.float64, ()),
    "cost_s": (np.float64, ()),
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
    ) -> "Record":
        """Start a new record; refuses to overwrite an existing file."""
        path = Path(path)
        if path.exists():
            raise RecordError(f"{path} exists: a run directory is never overwritten; choose a new one")
        # No HDF5 file lock, and the v1.8 file format: a viewer may read the live record while the
        # run appends to it, and a record left by a kill opens again (the newest format marks the
        # file "open for write" until a clean close, and refuses every later open).
        h5 = h5py.File(path, "w", libver=("earliest", "v108"), locking=False)
        h5.attrs["version"] = RECORD_VERSION
        h5.attrs["closed_cleanly"] = 0  # 1 only after close(): a killed writer leaves 0
        h5.attrs["config"] = config_yaml
        g = h5.create_group("overview")
        g.create_dataset("image", data=np.asarray(overview.data, dtype=np.float32))
        g.attrs["frame_id"] = overview.frame_id
        g.attrs["axes"] = _axes_json(overview.axes)
        g.attrs["metadata"] = json.dumps(dict(overview.metadata), default=str)
        c = h5.create_group("candidates")
        c.create_dataset("yx_px", data=candidates.yx_px)
        c.create_dataset("yx_m", data=candidates.yx_m)
        c.attrs["grid_shape"] = candidates.grid_shape
        c.attrs["window"] = candidates.window
        c.attrs["stride"] = candidates.stride
        c.attrs["margin"] = candidates.margin
        c.attrs["units"] = overview.axes[0].units
        if truth is not None:
            c.create_dataset("truth", data=np.asarray(truth, dtype=np.float64))
        s = h5.create_group("steps")
        for name, (dtype, shape) in STEP_FIELDS.items():
            s.create_dataset(name, shape=(0,) + shape, maxshape=(None,) + shape, dtype=dtype,
                             chunks=(64,) + shape)
        h5.create_dataset("events", shape=(0,), maxshape=(None,), dtype=_STR, chunks=(64,))
        h5.flush()
        return cls(h5, path)

    @classmethod
    def open(cls, path: str | Path, mode: str = "r") -> "Record":
        """Open an existing record (``mode="r"`` to read, ``"a"`` to continue appending)."""
        path = Path(path)
        if not path.exists():
            raise RecordError(f"no record at {path}")
        try:
            h5 = h5py.File(path, mode, locking=False)
        except OSError as err:
            raise RecordError(f"{path} is not a readable HDF5 record (truncated or corrupt): {err}") from err
        if "steps" not in h5 or h5.attrs.get("version") != RECORD_VERSION:
            h5.close()
            raise RecordError(f"{path} is not an autoscope record of version {RECORD_VERSION}")
        if mode != "r":
            h5.attrs["closed_cleanly"] = 0
            h5.flush()
        return cls(h5, path)

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
        spectrum = np.asarray(values.pop("spectrum"), dtype=np.float64)
        objectives = np.asarray(values.pop("objectives"), dtype=np.float64).reshape(-1)
        for name in STEP_FIELDS:
            ds = s[name]
            ds.resize(m + 1, axis=0)
            ds[m] = values[name]
        if "spectrum" not in s:
            s.create_dataset("spectrum", shape=(0, spectrum.size), maxshape=(None, spectrum.size),
                             dtype=np.float64, chunks=(16, spectrum.size))
            if signal_axis is not None:
                s.attrs["signal_axis"] = json.dumps(signal_axis.to_dict())
        spec_ds = s["spectrum"]
        if spectrum.size != spec_ds.shape[1]:
            # Keep the row aligned: store NaNs and say why, never drop the measurement silently.
            if not replay:
                self.event("spectrum_shape_mismatch", step=row.step, got=int(spectrum.size),
                           expected=int(spec_ds.shape[1]))
            spectrum = np.full(spec_ds.shape[1], np.nan)
        spec_ds.resize(m + 1, axis=0)
        spec_ds[m] = spectrum
        if objectives.size and "objectives" not in s:
            s.create_dataset("objectives", shape=(m, objectives.size), maxshape=(None, objectives.size),
                             dtype=np.float64, chunks=(64, objectives.size), fillvalue=np.nan)
        if "objectives" in s:  # every row gets one (NaN where the reward failed): rows stay aligned
            obj = s["objectives"]
            obj.resize(m + 1, axis=0)
            obj[m] = objectives if objectives.size == obj.shape[1] else np.nan
        self._h5.flush()

    def event(self, kind: str, **fields: Any) -> None:
        """Append one event (fault, health warning, intervention) as a JSON line, flushed."""
        text = json.dumps({"kind": kind, **fields}, default=str)
        with self._write_lock:  # journal first (the source of truth), in the same order as here
            if self.journal is not None:
                self.journal.event(text)
            self.append_event_text(text)

    def append_event_text(self, text: str) -> None:
        """Write one event's JSON text as it is (a rebuild copies the journal's events this way)."""
        with self._write_lock:
            ds = self._h5["events"]
            n = ds.shape[0]
            ds.resize(n + 1, axis=0)
            ds[n] = text
            self._h5.flush()

    def event_texts(self) -> list[str]:
        """Every event's JSON text, in order."""
        return [v.decode() if isinstance(v, bytes) else str(v) for v in self._h5["events"][...]]

    def write_maps(self, **maps: np.ndarray) -> None:
        """Replace the latest predicted maps (e.g. ``mean=``, ``std=``), flushed."""
        with self._write_lock:
            g = self._h5.require_group("maps")
            for name, arr in maps.items():
                if name in g:
                    del g[name]
                g.create_dataset(name, data=np.asarray(arr))
            self._h5.flush()

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
        return int(self._h5["steps/step"].shape[0])

    def column(self, name: str) -> np.ndarray:
        """All rows of one ``/steps`` field (``"index"``, ``"reward"``, ``"spectrum"``, ...)."""
        if name not in self._h5["steps"]:
            if name in ("spectrum", "objectives"):
                return np.zeros((0, 0))
            raise RecordError(f"record has no step field {name!r}; fields: {sorted(self._h5['steps'])}")
        data = self._h5["steps"][name][...]
        if data.dtype.kind == "O":
            data = np.array([v.decode() if isinstance(v, bytes) else v for v in data], dtype=object)
        return data

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(v.decode() if isinstance(v, bytes) else v) for v in self._h5["events"][...]]

    @property
    def truth(self) -> np.ndarray | None:
        return self._h5["candidates/truth"][...] if "truth" in self._h5["candidates"] else None

    @property
    def h5(self) -> h5py.File:
        """The open file, for readers that need more than the helpers give."""
        return self._h5
