"""Append-only journal of measurements (JSON lines): the record's crash-proof twin.

HDF5 files can be left unreadable by a kill in the middle of a write. Before a measurement goes into
``record.h5`` it is appended here as one line (spectrum as raw float64 bytes in base64 with its
length), flushed and fsynced. A kill can at worst truncate the last line, which :func:`read_journal`
drops. On resume the record is checked against the journal and rebuilt from it when needed, so a
measurement once journaled is never lost (the Bluesky "document stream" idea).
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from .record import StepRow

__all__ = ["Journal", "read_journal", "JournalError"]


class JournalError(RuntimeError):
    """The journal is unreadable beyond a truncated last line."""


def _encode(row: StepRow) -> str:
    d = asdict(row)
    spec = np.ascontiguousarray(d.pop("spectrum"), dtype="<f8")
    d["spectrum_b64"] = base64.b64encode(spec.tobytes()).decode("ascii")
    d["spectrum_n"] = int(spec.size)
    d["objectives"] = [float(v) for v in np.asarray(d["objectives"], dtype=np.float64).reshape(-1)]
    d["yx_px"] = [int(v) for v in d["yx_px"]]
    d["yx_m"] = [float(v) for v in d["yx_m"]]
    return json.dumps(d, allow_nan=True)


def _decode(line: str) -> StepRow:
    d: dict[str, Any] = json.loads(line)
    raw = base64.b64decode(d.pop("spectrum_b64"))
    n = d.pop("spectrum_n")
    spec = np.frombuffer(raw, dtype="<f8")
    if spec.size != n:
        raise JournalError(f"journal row {d.get('step')}: spectrum has {spec.size} values, header says {n}")
    d["yx_px"] = tuple(d["yx_px"])
    d["yx_m"] = tuple(d["yx_m"])
    d["objectives"] = np.asarray(d.get("objectives", []), dtype=np.float64)
    return StepRow(**d, spectrum=spec.copy())


class Journal:
    """Writer: one line per measurement, fsynced."""

    def __init__(self, path: str | Path, fsync: bool = True) -> None:
        self.path = Path(path)
        self._fsync = fsync
        self._fh = open(self.path, "a", encoding="utf-8")

    def append(self, row: StepRow) -> None:
        self._fh.write(_encode(row) + "\n")
        self._fh.flush()
        if self._fsync:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def read_journal(path: str | Path) -> list[StepRow]:
    """All complete rows; a truncated final line (a kill mid-write) is dropped, anything worse raises."""
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")
    rows: list[StepRow] = []
    for k, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(_decode(line))
        except (ValueError, KeyError, TypeError) as err:
            if any(rest.strip() for rest in lines[k + 1:]):
                raise JournalError(f"{path}: line {k + 1} is corrupt ({err}); the journal is damaged") from err
            break  # a truncated last line: the kill hit mid-write, nothing came after it
    return rows
