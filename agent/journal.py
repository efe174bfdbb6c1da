"""Append-only journal of a run (JSON lines): the record's crash-proof twin and its source of truth.

HDF5 files can be left unreadable by a kill in the middle of a write. Before a measurement goes into
``record.h5`` it is appended here as one line (spectrum as raw float64 bytes in base64 with its
length), flushed and fsynced. Events (faults, health warnings, interventions, guardian trips) and
the spectra's signal axis are journaled too, so that a record rebuilt from the journal equals the
lost one (the Bluesky "document stream" idea).

Line kinds (every line ends with ``"sha256": <hex>``, the SHA-256 of the line's text without that
field, so a line altered on disk is detected even when it still parses)::

    {"step": ..., "index": ..., "spectrum_b64": ..., "spectrum_n": n, ..., "sha256": ...}   a row
    {"type": "event", "event": "<the event's JSON text>", "sha256": ...}                      an event
    {"type": "signal_axis", "axis": {"name", "units", "values"}, "sha256": ...}               the axis

A kill can at worst leave a partial last line (no newline): :func:`scan_journal` reports it and
:meth:`Journal.truncate_partial` cuts it off (keeping the bytes aside) before anything is appended.
Journals written before hashes existed (rows without ``sha256``) are still read.

Every line is strict JSON (RFC 8259): a non-finite float (a failed reward, a prediction not made) is
written as ``null`` and read back as NaN, so a browser's ``JSON.parse`` accepts every line. Journals
written before (bare ``NaN``) are still read.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from drivers.frames import Axis

from .record import RecordError, StepRow, axis_from_dict
from .strictjson import dumps_strict

__all__ = ["Journal", "JournalContents", "JournalError", "read_journal", "scan_journal"]

_HASH_KEY = ', "sha256": "'
_HASH_TAIL = len(_HASH_KEY) + 64 + 2  # ', "sha256": "' + 64 hex + '"}'


class JournalError(RecordError):
    """The journal is damaged beyond a partial last line; the message names the line and the fix."""


def _seal(body: str) -> str:
    """``{...}`` -> ``{..., "sha256": "<hash of body>"}``."""
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return body[:-1] + _HASH_KEY + digest + '"}'


def _unseal(line: str) -> tuple[str, bool]:
    """The body of a sealed line and whether it was sealed; ``ValueError`` when the hash is wrong."""
    tail = line[-_HASH_TAIL:]
    if len(line) <= _HASH_TAIL or not tail.startswith(_HASH_KEY) or not tail.endswith('"}'):
        return line, False
    body = line[:-_HASH_TAIL] + "}"
    digest = tail[len(_HASH_KEY):-2]
    if hashlib.sha256(body.encode("utf-8")).hexdigest() != digest:
        raise ValueError("the line's content does not match its sha256 (altered on disk)")
    return body, True


def _nan_if_none(value: Any) -> float:
    return float("nan") if value is None else float(value)


#: StepRow fields that are floats (null in the journal is NaN)
_FLOAT_FIELDS = tuple(f.name for f in fields(StepRow) if f.type in ("float", float))


def _encode(row: StepRow) -> str:
    d = asdict(row)
    spec = np.ascontiguousarray(d.pop("spectrum"), dtype="<f8")
    d["spectrum_b64"] = base64.b64encode(spec.tobytes()).decode("ascii")
    d["spectrum_n"] = int(spec.size)
    d["objectives"] = [float(v) for v in np.asarray(d["objectives"], dtype=np.float64).reshape(-1)]
    d["yx_px"] = [int(v) for v in d["yx_px"]]
    d["yx_m"] = [float(v) for v in d["yx_m"]]
    return _seal(dumps_strict(d))


def _decode_row(d: dict[str, Any]) -> StepRow:
    raw = base64.b64decode(d.pop("spectrum_b64"), validate=True)
    n = d.pop("spectrum_n")
    spec = np.frombuffer(raw, dtype="<f8")
    if spec.size != n:
        raise ValueError(f"spectrum has {spec.size} values, header says {n}")
    d["yx_px"] = tuple(int(v) for v in d["yx_px"])
    d["yx_m"] = tuple(_nan_if_none(v) for v in d["yx_m"])
    d["objectives"] = np.asarray([_nan_if_none(v) for v in d.get("objectives", [])], dtype=np.float64)
    for name in _FLOAT_FIELDS:
        if name in d:
            d[name] = _nan_if_none(d[name])
    return StepRow(**d, spectrum=spec.copy())


@dataclass
class JournalContents:
    """Everything a journal holds, in order.

    Attributes:
        rows: the measurements, one :class:`StepRow` per row line.
        events: the events' JSON texts exactly as the record stores them.
        signal_axis: the spectra's signal axis (None before the first spectrum, or an old journal).
        good_bytes: length of the intact part (ends with a newline).
        partial: bytes after the last newline (a kill mid-write); empty when the journal is whole.
        hashed: every row line carried a hash (False for journals from before hashes).
    """

    rows: list[StepRow] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    signal_axis: Axis | None = None
    good_bytes: int = 0
    partial: bytes = b""
    hashed: bool = True


def scan_journal(path: str | Path) -> JournalContents:
    """Read every complete line; a damaged complete line raises :class:`JournalError` naming it."""
    path = Path(path)
    out = JournalContents()
    if not path.exists():
        return out
    data = path.read_bytes()
    cut = data.rfind(b"\n") + 1
    out.good_bytes, out.partial = cut, data[cut:]
    for k, raw in enumerate(data[:cut].split(b"\n")[:-1]):
        if not raw.strip():
            continue
        try:
            body, sealed = _unseal(raw.decode("utf-8"))
            d = json.loads(body)
            if not isinstance(d, dict):
                raise ValueError("not a JSON object")
            kind = d.pop("type", "row")
            if kind == "event":
                out.events.append(str(d["event"]))
            elif kind == "signal_axis":
                out.signal_axis = axis_from_dict(d["axis"])
            elif kind == "row":
                out.rows.append(_decode_row(d))
                out.hashed &= sealed
            else:
                raise ValueError(f"unknown line type {kind!r}")
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
            raise JournalError(
                f"{path}: line {k + 1} is damaged ({err}); the journal is the run's source of truth and "
                f"cannot be repaired: restore {path.name} from a backup, or start a new run directory"
            ) from err
    return out


def read_journal(path: str | Path) -> list[StepRow]:
    """All complete rows; a partial final line (a kill mid-write) is ignored, anything worse raises."""
    return scan_journal(path).rows


class Journal:
    """Writer: one line per measurement, event or signal axis; fsynced; safe across threads."""

    def __init__(self, path: str | Path, fsync: bool = True) -> None:
        self.path = Path(path)
        self._fsync = fsync
        self._lock = threading.Lock()
        self._axis_written = False
        self._fh = open(self.path, "a", encoding="utf-8")

    def _write(self, line: str) -> None:
        with self._lock:
            self._fh.write(line + "\n")
            self._fh.flush()
            if self._fsync:
                os.fsync(self._fh.fileno())

    def append(self, row: StepRow, signal_axis: Axis | None = None) -> None:
        """One measurement; the first call that gives ``signal_axis`` journals the axis before it."""
        if signal_axis is not None and not self._axis_written:
            self.signal_axis(signal_axis)
        self._write(_encode(row))

    def signal_axis(self, axis: Axis) -> None:
        """Journal the spectra's signal axis (values in the axis' units)."""
        d = {"type": "signal_axis", "axis": axis.to_dict()}
        self._write(_seal(dumps_strict(d)))
        self._axis_written = True

    def event(self, text: str) -> None:
        """Journal one event's JSON text (as the record stores it)."""
        self._write(_seal(json.dumps({"type": "event", "event": text})))

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    @staticmethod
    def truncate_partial(path: str | Path, contents: JournalContents) -> Path | None:
        """Cut the partial last line off ``path`` (before anything is appended); the cut bytes are
        kept beside it as ``journal.partial-<time>``, whose path is returned (None: nothing to cut)."""
        path = Path(path)
        if not contents.partial:
            return None
        aside = path.with_name(f"{path.stem}.partial-{time.time_ns()}")
        aside.write_bytes(contents.partial)
        with open(path, "r+b") as fh:
            fh.truncate(contents.good_bytes)
            fh.flush()
            os.fsync(fh.fileno())
        return aside
