"""A new reward mid-run: every target recomputed from the recorded spectra (nothing re-measured)."""

from __future__ import annotations

from typing import Any

import numpy as np

from drivers.frames import Axis
from rewards import evaluate

from ..record import Record
from .measurer import Reward

__all__ = ["rescore"]


def rescore(reward: Reward, record: Record, axis: Axis | None, failed: list[int]
            ) -> tuple[list[int], list[Any], list[int]]:
    """``(measured, y, failed)`` for the loop state under ``reward``: every recorded spectrum scored
    again (:func:`rewards.evaluate`; usable -> measured with its value(s), else failed); candidates
    that failed without a spectrum stay failed."""
    idx = record.column("index").astype(np.int64)
    recorded = set(idx.tolist())
    still_failed = [i for i in failed if i not in recorded]
    if not idx.size:
        return [], [], still_failed
    assert axis is not None, "a record with spectra has a signal axis"
    values = evaluate(reward, np.asarray(record.column("spectrum"), dtype=np.float64), axis)
    measured: list[int] = []
    y: list[Any] = []
    for i, v in zip(idx.tolist(), values):
        v = np.atleast_1d(v)
        if np.all(np.isfinite(v)):
            measured.append(int(i))
            y.append(float(v[0]) if v.size == 1 else [float(x) for x in v])
        else:
            still_failed.append(int(i))
    return measured, y, still_failed
