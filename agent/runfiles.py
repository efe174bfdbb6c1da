"""Files of a run directory besides the record: the overview needed to resume, the signal axis."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from drivers.frames import Axis, Frame

from .record import Record, RecordError

__all__ = ["save_overview", "load_overview", "axis_from_record"]


def axis_from_record(record: Record) -> Axis | None:
    """The signal axis stored with the first spectrum of a record (None before any spectrum)."""
    return record.signal_axis()


def save_overview(path: Path, frame: Frame) -> None:
    """Keep the run's overview (data, calibrated axes, frame id, metadata) as ``overview.npz``."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:  # atomic: a kill leaves the old file or the new one, never half
        np.savez(fh, data=frame.data, y=frame.axes[0].values, x=frame.axes[1].values,
                 units=np.array([frame.axes[0].units, frame.axes[1].units]),
                 frame_id=np.array(frame.frame_id),
                 metadata=np.array(json.dumps(dict(frame.metadata), default=str)))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_overview(path: Path) -> Frame:
    """The overview saved by :func:`save_overview` (``RecordError`` when missing)."""
    if not path.exists():
        raise RecordError(f"{path} is missing: the run's overview is needed to resume")
    try:
        with np.load(path, allow_pickle=False) as z:
            uy, ux = (str(u) for u in z["units"])
            return Frame(z["data"], (Axis("y", uy, z["y"]), Axis("x", ux, z["x"])), str(z["frame_id"]),
                         json.loads(str(z["metadata"])))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise RecordError(
            f"{path} is damaged ({type(err).__name__}); the candidates are built from it, so a resume needs "
            f"it: restore it from a backup (record.h5 keeps the image as /overview/image, in float32), or "
            f"start a new run directory") from None
