"""Per-step checkpoints: loop state, random state and model weights, loadable with ``weights_only``.

``checkpoint.pt`` is written atomically (temporary file + ``os.replace``) after every measurement
has been journaled and recorded, so it is never half-written. It holds only tensors, numbers,
strings, lists and dicts, and is read back with ``torch.load(weights_only=True)``: loading a
checkpoint cannot run code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from drivers.errors import AutoscopeError

__all__ = ["save_checkpoint", "load_checkpoint", "CheckpointError", "CHECKPOINT_VERSION"]

CHECKPOINT_VERSION = 1


class CheckpointError(AutoscopeError, RuntimeError):
    """The checkpoint is missing, corrupt or from another version."""


def _plain(value: Any) -> Any:
    """Numpy scalars/arrays -> Python numbers/lists, recursively (``weights_only``-safe)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_checkpoint(path: str | Path, *, loop: dict[str, Any], rng: np.random.Generator,
                    surrogate_state: dict[str, Any] | None, extra: dict[str, Any] | None = None) -> None:
    """Write the checkpoint atomically."""
    import torch

    path = Path(path)
    payload = {
        "version": CHECKPOINT_VERSION,
        "loop": _plain(loop),
        "rng": json.dumps(_plain(rng.bit_generator.state)),
        "surrogate": surrogate_state,
        "extra": _plain(extra or {}),
    }
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        torch.save(payload, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint (``weights_only=True``); ``CheckpointError`` with the reason otherwise."""
    import torch

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # noqa: BLE001 - torch raises many kinds for a damaged file
        # torch's own text advises weights_only=False (running code from the file): never repeat it
        raise CheckpointError(f"{path} is corrupt or truncated ({type(err).__name__}); {_FIX.format(p=path)}"
                              ) from None
    if not isinstance(payload, dict) or payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} is not an autoscope checkpoint of version {CHECKPOINT_VERSION}; "
                              f"{_FIX.format(p=path)}")
    return payload


_FIX = "move it aside (`mv {p} {p}.bad`) and resume again: the run is then replayed from journal.jsonl"


def restore_rng(payload: dict[str, Any]) -> np.random.Generator:
    """The experiment's random generator exactly as it was when the checkpoint was written."""
    state = json.loads(payload["rng"])
    bitgen = getattr(np.random, state["bit_generator"])()
    bitgen.state = state
    return np.random.Generator(bitgen)
