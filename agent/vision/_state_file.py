"""Trained vision models on disk: ``state_dict`` files written with ``torch.save`` and read with
``torch.load(weights_only=True)`` (tensors and plain values only, nothing executable)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .errors import VisionConfigError


def save_state(state: Any, path: str | Path) -> None:
    """Write ``state`` to ``path``, creating its parent folders."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, p)


def read_state(path: str | Path, missing: str) -> Any:
    """Read a state written by :func:`save_state`; a missing file raises ``VisionConfigError``
    with the message ``missing`` (which should say how to make the file)."""
    p = Path(path)
    if not p.is_file():
        raise VisionConfigError(missing)
    return torch.load(p, weights_only=True)
