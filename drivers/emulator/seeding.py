"""Noise generators of the emulators, seeded by a stable hash of what was asked for.

The same request (seed, position, exposure, ...) gives the same stream in every process and on
every platform, so acquisitions are reproducible and different requests get independent noise.
"""

from __future__ import annotations

import hashlib
import struct

import numpy as np

__all__ = ["seeded_rng"]


def seeded_rng(*parts: int | float | str) -> np.random.Generator:
    """Generator seeded by a stable hash of ``parts`` (ints, floats by their bits, strings)."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        if isinstance(part, str):
            h.update(b"s" + part.encode())
        elif isinstance(part, float):
            h.update(b"f" + struct.pack("<d", part))
        else:
            h.update(b"i" + struct.pack("<q", int(part)))
    return np.random.default_rng(int.from_bytes(h.digest(), "little"))
