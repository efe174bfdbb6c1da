"""The progress bar shown while an image model trains (minutes on a loaded machine)."""

from __future__ import annotations

from typing import Any

__all__ = ["training_progress"]


def training_progress(total: int, desc: str, unit: str) -> Any:
    """A tqdm progress bar on stderr over ``total`` ``unit``s (optimiser steps); hidden when stderr
    is not a terminal."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=None, leave=False, dynamic_ncols=True)
