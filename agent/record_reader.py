"""Read a run's ``record.h5`` into plain arrays: :func:`read_run` -> :class:`RunData`.

Works on a record being written (HDF5 SWMR), on one left by a kill, on a finished one, and on
layout-1 records (before SWMR). A snapshot: rows appended after the call are not in it; call again.
Every reader outside the loop (report, plots, dashboard, export, notebooks) should read through it
rather than through HDF5 paths, so that the layout can change in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

from drivers.frames import Axis, Frame

from .record import STEP_FIELDS, Record, RecordError
from .record_layout import as_text

__all__ = ["RunData", "parse_config", "read_record", "read_run", "record_path"]


@dataclass(frozen=True)
class RunData:
    """One run's record as arrays (``m`` rows, ``n`` candidates, grid ``rows x cols``).

    Attributes:
        path: the record file. layout: 1 (before SWMR) or 2. closed_cleanly: False while the run
            writes it or after a kill.
        rows: every ``/steps`` field, ``(m, ...)``; ``phase`` and ``reason`` as ``str`` object arrays.
        spectra: ``(m, n_signal)`` float64 (NaN rows where a spectrum had the wrong length).
        objectives: ``(m, k)`` float64, ``k = 0`` for a scalar reward.
        signal_axis: the spectra's axis (None before the first spectrum); ``axis_offset``,
            ``axis_scale`` (NaN when not uniform) and ``axis_units`` describe it.
        events: every event, in order. maps: ``(rows, cols)`` per-candidate maps by name.
        overview: the structure image with its calibrated axes (metres on instruments).
        candidates_yx_m, candidates_yx_px: ``(n, 2)``. grid_shape: ``(rows, cols)``.
        truth: ``(n,)`` noise-free reward where the driver has one, else None.
        reward_name, reward_units: what the reward is (``""`` when the run did not say).
        reward_windows: ``@reward_windows`` JSON ``[[lo, hi], ...]`` (axis units); None for a record
            written before it existed (``agent.reward_info.recorded_reward_info`` reads them all).
        config_yaml / config: the resolved configuration. software_version, git_revision,
            start_time (ISO 8601, UTC): what made the run and when (``""`` for layout 1).
    """

    path: Path
    layout: int
    closed_cleanly: bool
    rows: dict[str, np.ndarray]
    spectra: np.ndarray
    objectives: np.ndarray
    signal_axis: Axis | None
    events: list[dict[str, Any]]
    maps: dict[str, np.ndarray]
    overview: Frame
    candidates_yx_m: np.ndarray
    candidates_yx_px: np.ndarray
    grid_shape: tuple[int, int]
    truth: np.ndarray | None
    reward_name: str = ""
    reward_units: str = ""
    reward_windows: str | None = None
    config_yaml: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    software_version: str = ""
    git_revision: str = ""
    start_time: str = ""

    @property
    def n_rows(self) -> int:
        return int(self.rows["step"].shape[0])

    @property
    def positions_m(self) -> np.ndarray:
        """``(m, 2)`` measured (y, x) in the overview's calibration units."""
        return self.rows["yx_m"]

    @property
    def axis_offset(self) -> float:
        a = self.signal_axis
        return float(a.values[0]) if a is not None and a.size and a.is_uniform() else float("nan")

    @property
    def axis_scale(self) -> float:
        a = self.signal_axis
        return float(a.scale) if a is not None and a.size > 1 and a.is_uniform() else float("nan")

    @property
    def axis_units(self) -> str:
        return self.signal_axis.units if self.signal_axis is not None else ""


def record_path(run: str | Path) -> Path:
    """``run`` itself when it is a file, else ``run/record.h5``."""
    p = Path(run)
    return p if p.is_file() else p / "record.h5"


def read_run(run: str | Path) -> RunData:
    """Read a run folder's (or a record file's) record; ``RecordError`` when it is missing or not one."""
    with Record.open(record_path(run), "r") as rec:
        return read_record(rec)


def read_record(rec: Record) -> RunData:
    """A snapshot of an open record (the loop's own at the end of a run, or one opened to read).

    The one parser of a whole record: :func:`read_run`, :class:`agent.result.RunResult`, the report,
    the export, ``metrics.csv`` and the notebook API all read through it. Every ``/steps`` field is
    cut to the same ``len(rec)`` rows (a live writer's datasets may be a row apart)."""
    h5 = rec.h5
    m = len(rec)
    rows = {name: rec.column(name, m) for name in STEP_FIELDS}
    c = h5["candidates"]
    config_yaml = as_text(h5.attrs.get("config", ""))
    maps = {name: np.asarray(ds[...]) for name, ds in h5["maps"].items()
            if isinstance(ds, h5py.Dataset)} if "maps" in h5 else {}
    return RunData(
        path=rec.path, layout=rec.layout, closed_cleanly=rec.closed_cleanly, rows=rows,
        spectra=np.asarray(rec.column("spectrum", m), dtype=np.float64),
        objectives=np.asarray(rec.column("objectives", m), dtype=np.float64),
        signal_axis=rec.signal_axis(), events=rec.events(), maps=maps, overview=rec.overview(),
        candidates_yx_m=np.asarray(c["yx_m"][...], dtype=np.float64),
        candidates_yx_px=np.asarray(c["yx_px"][...], dtype=np.int64),
        grid_shape=(int(c.attrs["grid_shape"][0]), int(c.attrs["grid_shape"][1])),
        truth=rec.truth, reward_name=as_text(h5.attrs.get("reward_name", "")),
        reward_units=as_text(h5.attrs.get("reward_units", "")),
        reward_windows=as_text(h5.attrs["reward_windows"]) if "reward_windows" in h5.attrs else None,
        config_yaml=config_yaml,
        config=parse_config(config_yaml, rec.path), software_version=as_text(h5.attrs.get("software_version", "")),
        git_revision=as_text(h5.attrs.get("git_revision", "")), start_time=as_text(h5.attrs.get("start_time", "")),
    )


def parse_config(text: str, where: str | Path) -> dict[str, Any]:
    """The resolved configuration from its YAML text (``{}`` for none); ``RecordError`` naming
    ``where`` when it is not YAML."""
    try:
        config = yaml.safe_load(text) if text else {}
    except yaml.YAMLError as err:
        raise RecordError(f"{where}: the config is not YAML ({err})") from err
    return config if isinstance(config, dict) else {}
