"""``AuditLog``: one JSON line per command sent to the instrument.

Each record: ``time`` (ISO 8601, UTC), ``time_s`` (seconds since the epoch), ``verb``, ``args`` (the
arguments, JSON-safe), ``outcome`` (``"ok"``, ``"refused"``, ``"timeout"``, ``"error"``),
``duration_s``, and, where there is one, ``error_type`` and ``message`` or a short ``result`` summary
(frame id, shape, dose). Lines are flushed as they are written, so a crash loses nothing already
done. The last ``keep`` records also stay in memory (``records``).
"""

from __future__ import annotations

import json
import math
import threading
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["AuditLog", "json_safe"]


def json_safe(value: Any) -> Any:
    """Arguments and results -> JSON-safe values (arrays summarised, non-finite floats as strings)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, np.ndarray):
        if value.size <= 8:
            return json_safe(value.tolist())
        return {"array_shape": list(value.shape), "dtype": str(value.dtype)}
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    return repr(value)


class AuditLog:
    """Thread-safe JSON-lines writer.

    Args:
        path: file to append to (parent folders are created); ``None`` keeps records in memory only.
        keep: how many recent records stay in ``records``.
    """

    def __init__(self, path: str | Path | None = None, keep: int = 1000) -> None:
        self.path = None if path is None else Path(path)
        self.records: deque[dict[str, Any]] = deque(maxlen=int(keep))
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")

    def write(
        self,
        verb: str,
        args: Mapping[str, Any],
        outcome: str,
        started_s: float,
        duration_s: float,
        error: BaseException | None = None,
        result: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "time": datetime.fromtimestamp(started_s, tz=UTC).isoformat(),
            "time_s": started_s,
            "verb": verb,
            "args": json_safe(dict(args)),
            "outcome": outcome,
            "duration_s": round(duration_s, 6),
        }
        if error is not None:
            record["error_type"] = type(error).__name__
            record["message"] = str(error)
        if result:
            record["result"] = json_safe(dict(result))
        line = json.dumps(record, allow_nan=False)
        with self._lock:
            self.records.append(record)
            if self._file is not None and not self._file.closed:
                self._file.write(line + "\n")
                self._file.flush()
        return record

    def close(self) -> None:
        with self._lock:
            if self._file is not None and not self._file.closed:
                self._file.close()
