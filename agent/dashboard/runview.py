"""What the dashboard knows about one run folder, read from its files only (never from the loop).

:class:`RunView` follows ``journal.jsonl`` incrementally (only the bytes appended since the last
poll are parsed), and reads ``config.yaml``, ``overview.npz``, ``summary.json``, ``run.lock`` and
``record.h5`` (read-only, without file locking, as the writer opens it) only when they change.
The journal may hold bare ``NaN`` (older runs) or ``null`` (strict JSON): both read as NaN.

Units: positions in overview pixels ``(y, x)`` and, where the overview is calibrated in metres,
nanometres for display; times in seconds; dose in electrons.
"""

from __future__ import annotations

import base64
import json
import math
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..control import is_run_dir

__all__ = ["RunView", "Snapshot", "Row", "find_runs", "is_run_dir"]

#: events that are routine bookkeeping, not shown in the events list (a decision per step: drawn on the overview)
ROUTINE_EVENTS = ("surrogate_fit", "decision")


def find_runs(root: str | Path, max_depth: int = 4) -> list[Path]:
    """``root`` itself when it is a run, else every run folder below it (a multirun), sorted."""
    root = Path(root)
    if is_run_dir(root):
        return [root]
    found: list[Path] = []

    def walk(folder: Path, depth: int) -> None:
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            return
        for child in children:
            if is_run_dir(child):
                found.append(child)
            elif depth < max_depth:
                walk(child, depth + 1)

    walk(root, 1)
    return sorted(found, key=lambda p: _natural_key(str(p.relative_to(root))))


def _natural_key(text: str) -> list[Any]:
    import re

    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _num(value: Any) -> float:
    """A journal number: ``null``/missing/NaN -> NaN."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return out


@dataclass(frozen=True)
class Row:
    """One journaled measurement (without its spectrum); ``reward`` NaN where it failed."""

    step: int
    index: int
    phase: str
    yx_px: tuple[int, int]
    reward: float
    pred_mean: float
    pred_std: float
    clock_s: float
    dose_e: float
    healthy: bool
    reason: str


@dataclass
class Snapshot:
    """Everything the page draws, as of one poll (arrays are the view's own: do not modify)."""

    name: str
    version: tuple[Any, ...]
    rows: list[Row]
    events: list[dict[str, Any]]
    spectrum: np.ndarray | None
    signal: tuple[str, str, np.ndarray] | None  # (name, units, values) of the spectra's axis
    pattern_shape: tuple[int, int] | None  # (ky, kx) where each "spectrum" is a diffraction pattern
    overview: np.ndarray | None
    overview_axes: tuple[np.ndarray, np.ndarray, str] | None  # y, x values, units
    cand_yx_px: np.ndarray | None
    grid_shape: tuple[int, int] | None
    truth: np.ndarray | None
    maps: dict[str, np.ndarray]
    config: dict[str, Any]  # config.yaml, plus "_record": the record's @reward_name/@reward_units
    summary: dict[str, Any] | None
    state: str  # "running", "finished", "stopped", "interrupted", "waiting"
    row_times: list[float] = field(default_factory=list)  # when the dashboard first saw each row


class RunView:
    """Incremental reader of one run folder (thread-safe enough for Dash's threaded server: each
    poll takes the view's lock)."""

    def __init__(self, run_dir: str | Path, name: str | None = None) -> None:
        import threading

        self.run_dir = Path(run_dir)
        self.name = name or self.run_dir.name
        self._lock = threading.Lock()
        self._offset = 0
        self._rows: list[Row] = []
        self._row_times: list[float] = []
        self._events: list[dict[str, Any]] = []
        self._spectrum: np.ndarray | None = None
        self._signal: tuple[str, str, np.ndarray] | None = None
        self._pattern_shape: tuple[int, int] | None = None
        self._stamps: dict[str, tuple[float, int]] = {}
        self._config: dict[str, Any] = {}
        self._summary: dict[str, Any] | None = None
        self._overview: np.ndarray | None = None
        self._overview_axes: tuple[np.ndarray, np.ndarray, str] | None = None
        self._cand: np.ndarray | None = None
        self._grid: tuple[int, int] | None = None
        self._truth: np.ndarray | None = None
        self._maps: dict[str, np.ndarray] = {}
        self._record_attrs: dict[str, str] = {}
        self._record_read_at = 0.0
        self._generation = 0

    # ------------------------------------------------------------------ files
    def _changed(self, name: str) -> bool:
        path = self.run_dir / name
        try:
            st = path.stat()
            stamp = (st.st_mtime, st.st_size)
        except OSError:
            stamp = (0.0, -1)
        if self._stamps.get(name) == stamp:
            return False
        self._stamps[name] = stamp
        return True

    def _read_journal(self) -> bool:
        path = self.run_dir / "journal.jsonl"
        try:
            size = path.stat().st_size
        except OSError:
            return False
        if size < self._offset:  # rewritten (a new run in the same folder): start again
            self._offset, self._rows, self._events, self._row_times = 0, [], [], []
        if size == self._offset:
            return False
        with open(path, "rb") as fh:
            fh.seek(self._offset)
            data = fh.read(size - self._offset)
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            return False
        self._offset += cut
        now = time.time()
        for raw in data[:cut].split(b"\n"):
            if raw.strip():
                self._parse_line(raw, now)
        return True

    def _parse_line(self, raw: bytes, now: float) -> None:
        try:
            d = json.loads(raw)
        except ValueError:
            return  # a damaged line: autoscope-ctl status names it; the page keeps going
        if not isinstance(d, dict):
            return
        kind = d.get("type", "row")
        if kind == "event":
            try:
                ev = json.loads(d["event"])
            except (KeyError, TypeError, ValueError):
                return
            if isinstance(ev, dict):
                self._events.append(ev)
        elif kind == "signal_axis":
            ax = d.get("axis") or {}
            self._signal = (str(ax.get("name", "")), str(ax.get("units", "")),
                            np.asarray([_num(v) for v in ax.get("values", [])], dtype=np.float64))
            shape = ax.get("pattern_shape")  # a 4D-STEM camera: each "spectrum" is a (ky, kx) pattern
            self._pattern_shape = (int(shape[0]), int(shape[1])) if isinstance(shape, list) and len(shape) == 2 \
                else None
        elif kind == "row":
            try:
                yx = d.get("yx_px") or [-1, -1]
                self._rows.append(Row(int(d["step"]), int(d["index"]), str(d.get("phase", "")),
                                      (int(yx[0]), int(yx[1])), _num(d.get("reward")),
                                      _num(d.get("pred_mean")), _num(d.get("pred_std")),
                                      _num(d.get("clock_s")), _num(d.get("dose_e")),
                                      bool(d.get("healthy", True)), str(d.get("reason", ""))))
                self._row_times.append(now)
                raw_spec = d.get("spectrum_b64")
                if raw_spec:
                    self._spectrum = np.frombuffer(base64.b64decode(raw_spec), dtype="<f8").copy()
            except (KeyError, TypeError, ValueError, IndexError):
                return

    def _read_config(self) -> None:
        import yaml

        try:
            cfg = yaml.safe_load((self.run_dir / "config.yaml").read_text())
        except (OSError, yaml.YAMLError):
            return
        if isinstance(cfg, dict):
            self._config = cfg

    def _read_summary(self) -> None:
        try:
            self._summary = json.loads((self.run_dir / "summary.json").read_text())
        except (OSError, ValueError):
            self._summary = None

    def _read_overview(self) -> None:
        try:
            with np.load(self.run_dir / "overview.npz", allow_pickle=False) as z:
                self._overview = np.asarray(z["data"], dtype=np.float32)
                units = [str(u) for u in z["units"]]
                self._overview_axes = (np.asarray(z["y"], np.float64), np.asarray(z["x"], np.float64),
                                       units[1] if units else "")
        except (OSError, ValueError, KeyError, EOFError):
            return

    def _read_record(self) -> None:
        """Candidates, truth and maps from ``record.h5`` (opened read-only, SWMR where the writer
        uses it); a record mid-write that cannot be read now is read at the next change."""
        import h5py

        path = self.run_dir / "record.h5"
        try:
            try:
                h5 = h5py.File(path, "r", locking=False, swmr=True)
            except (OSError, ValueError):
                h5 = h5py.File(path, "r", locking=False)
        except (OSError, ValueError):
            return
        try:
            with h5:
                if "candidates" in h5 and self._cand is None:
                    g = h5["candidates"]
                    grid = g.attrs.get("grid_shape")
                    if "yx_px" in g and grid is not None:
                        self._cand = np.asarray(g["yx_px"][...], dtype=np.int64)
                        self._grid = (int(grid[0]), int(grid[1]))
                    if "truth" in g:
                        self._truth = np.asarray(g["truth"][...], dtype=np.float64)
                if "maps" in h5:
                    self._maps = {k: np.asarray(h5["maps"][k][...], dtype=np.float64)
                                  for k in h5["maps"] if isinstance(h5["maps"][k], h5py.Dataset)}
                if self._overview is None and "overview/image" in h5:
                    self._overview = np.asarray(h5["overview/image"][...], dtype=np.float32)
                for key in ("reward_name", "reward_units"):
                    if key in h5.attrs:
                        value = h5.attrs[key]
                        self._record_attrs[key] = value.decode() if isinstance(value, bytes) else str(value)
        except (OSError, KeyError, ValueError, RuntimeError):
            return

    def _state(self) -> str:
        if self._summary is not None:
            return "finished"
        ends = [ev.get("kind") for ev in self._events if ev.get("kind") in ("stopped", "resumed")]
        if ends and ends[-1] == "stopped":  # a resumed run runs again
            return "stopped"
        lock = self.run_dir / "run.lock"
        try:
            holder = json.loads(lock.read_text())
            pid, host = int(holder.get("pid", 0)), str(holder.get("host", ""))
        except (OSError, ValueError, TypeError, AttributeError):
            pid, host = 0, ""
        if pid > 0 and host and host != socket.gethostname():
            return f"running on {host}"  # a run folder on a share: its process cannot be checked from here
        if pid > 0 and _pid_alive(pid):
            return "running"
        return "waiting" if not self._rows else "interrupted"

    # ------------------------------------------------------------------ API
    def poll(self) -> Snapshot:
        """Read what changed since the last poll and return the current snapshot."""
        with self._lock:
            changed = self._read_journal()
            if self._changed("config.yaml"):
                self._read_config()
                changed = True
            if self._changed("summary.json"):
                self._read_summary()
                changed = True
            if self._changed("overview.npz"):
                self._read_overview()
                changed = True
            now = time.time()
            # record.h5 changes after every row: its truth and maps are re-read at most every 2 s
            if now - self._record_read_at >= 2.0 or self._summary is not None:
                if self._changed("record.h5"):
                    self._read_record()
                    self._record_read_at = now
                    changed = True
            state = self._state()
            if changed:
                self._generation += 1
            return Snapshot(
                name=self.name, version=(self._generation, state, len(self._rows), len(self._events)),
                rows=list(self._rows), events=list(self._events), spectrum=self._spectrum,
                signal=self._signal, pattern_shape=self._pattern_shape, overview=self._overview,
                overview_axes=self._overview_axes,
                cand_yx_px=self._cand, grid_shape=self._grid, truth=self._truth, maps=dict(self._maps),
                config={**self._config, "_record": dict(self._record_attrs)}, summary=self._summary,
                state=state, row_times=list(self._row_times))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def finite(values: list[float]) -> list[float | None]:
    """NaN -> None (what plotly draws as a gap and a browser's JSON parser accepts)."""
    return [v if math.isfinite(v) else None for v in values]
