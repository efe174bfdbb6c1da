"""Strict JSON (RFC 8259) for the run's files: non-finite floats become ``null``.

Python's ``json`` writes NaN and infinities as bare ``NaN``/``Infinity``, which a browser's
``JSON.parse`` (the dashboard) and most other languages refuse. The journal and the record's events
go through :func:`dumps_strict`; readers turn ``null`` back into NaN where a float is expected.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["strict_json", "dumps_strict"]


def strict_json(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, +-inf) replaced by None; dicts, lists and tuples
    are walked (tuples become lists, as JSON has no tuple)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


def dumps_strict(value: Any, **kw: Any) -> str:
    """``json.dumps`` of :func:`strict_json` (``allow_nan=False``: a NaN left anywhere raises)."""
    return json.dumps(strict_json(value), allow_nan=False, **kw)
