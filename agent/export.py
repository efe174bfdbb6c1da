"""``autoscope-export RUN_DIR --to hspy|nxs|zspy``: a run's record as HyperSpy signals on disk.

Writes, under ``RUN_DIR/export/`` (or ``--out``), one file per signal, each opened by
``hyperspy.api.load``:

* ``spectra.<ext>``: ``Signal1D`` of shape ``(m | n_signal)``: navigation = measurement index (in
  the order measured), signal axis = the driver's axis (offset, scale, units; a non-uniform axis
  keeps its values). ``metadata.Autoscope`` holds each row's position (``positions_yx_m``, in the
  overview's units; ``positions_yx_px``), candidate ``index``, ``step``, ``reward`` (with
  ``reward_name``/``reward_units``), and the run's software version, git revision and start time.
* ``overview.<ext>``: ``Signal2D``, the structure image with y/x axes in nm (when calibrated in m).
* ``map_<name>.<ext>``: ``Signal2D`` per map (mean, std, truth, gate, ...) over the candidate grid,
  axes in nm at the candidates' centres.

``nxs`` is NeXus (HDF5; ``hs.load(path)`` also returns the metadata arrays as extra signals,
``hs.load(path, use_default=True)`` the signal alone); ``zspy`` is HyperSpy's zarr format (needs
the ``export`` extra: zarr 2).
Reads the record through :func:`agent.record_reader.read_run`, so a running or killed run exports too.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from drivers.frames import Axis

from .record import RecordError
from .record_reader import RunData, read_run

__all__ = ["FORMATS", "ExportError", "to_signals", "to_hyperspy", "export_run", "main"]

#: ``--to`` value -> file extension HyperSpy chooses its writer by
FORMATS = {"hspy": "hspy", "nxs": "nxs", "zspy": "zspy", "zarr": "zspy"}


class ExportError(RecordError):
    """The run cannot be exported (no HyperSpy, no zarr, an unknown format); the message says how."""


def _axis_dict(axis: Axis, to_nm: bool = False) -> dict[str, Any]:
    """A HyperSpy axis description: uniform (offset, scale) when it is, else its values."""
    factor, units = (1e9, "nm") if to_nm and axis.units == "m" else (1.0, axis.units)
    values = axis.values * factor
    if axis.size > 1 and axis.is_uniform():
        return {"name": axis.name, "units": units, "size": axis.size, "offset": float(values[0]),
                "scale": float(axis.scale * factor)}
    if axis.size == 1:
        return {"name": axis.name, "units": units, "size": 1, "offset": float(values[0]), "scale": 1.0}
    return {"name": axis.name, "units": units, "axis": values}


def _hyperspy() -> Any:
    try:
        import hyperspy.api as hs
    except ImportError as err:
        raise ExportError("autoscope-export needs HyperSpy: pip install 'autoscope[replay]'") from err
    return hs


def to_signals(data: RunData) -> dict[str, Any]:
    """``{"spectra": Signal1D, "overview": Signal2D, "map_<name>": Signal2D, ...}`` of one run."""
    hs = _hyperspy()
    out: dict[str, Any] = {}
    m = data.n_rows
    if data.signal_axis is not None and m:
        nav = {"name": "measurement", "units": "", "size": m, "offset": 0.0, "scale": 1.0,
               "navigate": True}
        sig = dict(_axis_dict(data.signal_axis), navigate=False)
        s = hs.signals.Signal1D(data.spectra.reshape(m, -1), axes=[nav, sig])
        s.metadata.General.title = "spectra"
        s.metadata.Signal.quantity = "Intensity (counts)"
        for key, value in {
            "positions_yx_m": data.rows["yx_m"], "positions_yx_px": data.rows["yx_px"],
            "position_units": data.overview.axes[0].units, "index": data.rows["index"],
            "step": data.rows["step"], "reward": data.rows["reward"], "reward_name": data.reward_name,
            "reward_units": data.reward_units, "software_version": data.software_version,
            "git_revision": data.git_revision, "start_time": data.start_time,
        }.items():
            s.metadata.set_item(f"Autoscope.{key}", value)
        out["spectra"] = s
    ov = hs.signals.Signal2D(np.asarray(data.overview.data),
                             axes=[_axis_dict(a, to_nm=True) for a in data.overview.axes])
    ov.metadata.General.title = "overview"
    out["overview"] = ov
    rows, cols = data.grid_shape
    yx = data.candidates_yx_m.reshape(rows, cols, 2)
    units = data.overview.axes[0].units
    grid = (Axis("y", units, yx[:, 0, 0]), Axis("x", units, yx[0, :, 1]))
    for name, arr in data.maps.items():
        if arr.shape != (rows, cols):
            continue
        s = hs.signals.Signal2D(np.asarray(arr, dtype=np.float64),
                                axes=[_axis_dict(a, to_nm=True) for a in grid])
        s.metadata.General.title = f"map {name}"
        if name in ("mean", "std", "truth"):
            s.metadata.Signal.quantity = f"{data.reward_name or 'reward'} ({data.reward_units})"
        out[f"map_{name}"] = s
    return out


def to_hyperspy(run: str | Path) -> Any:
    """The spectra of ``run`` (a run folder or its record.h5) as a HyperSpy ``Signal1D``, see
    :func:`to_signals`; ``ExportError`` before the first spectrum."""
    signals = to_signals(read_run(run))
    if "spectra" not in signals:
        raise ExportError(f"{run} holds no spectrum yet: nothing to give as a signal")
    return signals["spectra"]


def export_run(run: str | Path, to: str = "hspy", out: str | Path | None = None) -> list[Path]:
    """Write every signal of ``run`` (a run folder or its record.h5) in format ``to``; the paths."""
    if to not in FORMATS:
        raise ExportError(f"--to {to!r} is not a format; choose one of {', '.join(FORMATS)}")
    if FORMATS[to] == "zspy":
        try:
            import zarr  # noqa: F401
        except ImportError as err:
            raise ExportError("--to zspy needs zarr 2: pip install 'autoscope[export]'") from err
    data = read_run(run)
    folder = Path(out) if out is not None else data.path.parent / "export"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, signal in to_signals(data).items():
        path = folder / f"{name}.{FORMATS[to]}"
        # NeXus: mark the signal as the file's default, so hs.load(path, use_default=True) gives it alone
        signal.save(path, overwrite=True, **({"use_default": True} if to == "nxs" else {}))
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="autoscope-export", description=__doc__.split("\n")[0])
    ap.add_argument("run_dir", type=Path, help="the run folder (holds record.h5), or a record file")
    ap.add_argument("--to", default="hspy", choices=sorted(FORMATS), help="file format (default hspy)")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default RUN_DIR/export)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        paths = export_run(args.run_dir, args.to, args.out)
    except RecordError as err:
        print(f"autoscope-export: {err}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    print(f"[autoscope-export] {len(paths)} signal(s) in {time.perf_counter() - t0:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
