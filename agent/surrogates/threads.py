"""Run torch code with a given number of intra-op threads, restoring the previous count after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["torch_threads"]


@contextmanager
def torch_threads(n_threads: int) -> Iterator[None]:
    """``torch.set_num_threads(n_threads)`` inside the block; the previous value is restored after.

    On the shared 2-core project machines one thread was 7-15x faster than two for DKL-sized
    problems (DESIGN.md section 4), hence the surrogates' default of 1.
    """
    previous = torch.get_num_threads()
    if previous != n_threads:
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)
