"""Label-preserving augmentation of image patches (torch): dihedral flips and 90-degree rotations,
small integer shifts, additive Gaussian noise, contrast and brightness jitter.

Patches are the candidates' normalised overview patches (z-scored overview, so intensities are in
units of the overview's standard deviation); noise, brightness and contrast act in those units.
Every random draw comes from the ``torch.Generator`` passed in, so training is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._checks import check_float, check_int
from .errors import VisionInputError

__all__ = ["Augmenter", "dihedral", "dihedral_stack", "N_DIHEDRAL"]

N_DIHEDRAL = 8
"""Size of the dihedral group of the square (4 rotations x optional transpose)."""


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """Apply dihedral element ``k`` in [0, 8) to the last two dimensions of ``x``.

    ``k % 4`` quarter turns, then a transpose when ``k >= 4`` (rotation followed by a mirror).
    """
    if not 0 <= int(k) < N_DIHEDRAL:
        raise VisionInputError(f"dihedral k={k} must lie in [0, 8)")
    y = torch.rot90(x, int(k) % 4, dims=(-2, -1))
    return y.transpose(-2, -1) if k >= 4 else y


def dihedral_stack(x: torch.Tensor) -> torch.Tensor:
    """All 8 dihedral copies of square images ``x: (..., h, h)`` -> ``(8, ..., h, h)``."""
    if x.shape[-1] != x.shape[-2]:
        raise VisionInputError(f"dihedral_stack needs square images, got {tuple(x.shape[-2:])}")
    return torch.stack([dihedral(x, k) for k in range(N_DIHEDRAL)])


@dataclass
class Augmenter:
    """Random label-preserving transforms of a batch of patches.

    Args:
        dihedral: random flips and quarter turns (the 8 symmetries of the square).
        shift_px: largest integer shift along each axis (pixels, >= 0); edges are replicated.
        noise_std: standard deviation of additive Gaussian noise (patch intensity units, >= 0).
        contrast: multiplicative jitter, factor drawn from ``[1 - contrast, 1 + contrast]`` (< 1).
        brightness: additive jitter drawn from ``[-brightness, brightness]`` (>= 0).
    """

    dihedral: bool = True
    shift_px: int = 1
    noise_std: float = 0.15
    contrast: float = 0.2
    brightness: float = 0.2

    def __post_init__(self) -> None:
        self.shift_px = check_int("Augmenter", "shift_px", self.shift_px, 0, 16)
        self.noise_std = check_float("Augmenter", "noise_std", self.noise_std, lo=0.0)
        self.contrast = check_float("Augmenter", "contrast", self.contrast, lo=0.0, hi=1.0,
                                    hi_open=True)
        self.brightness = check_float("Augmenter", "brightness", self.brightness, lo=0.0)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment ``x: (n, h, w)`` or ``(n, c, h, w)`` float patches (square when ``dihedral``);
        returns a new tensor of the same shape, each patch transformed independently."""
        if x.ndim not in (3, 4) or x.shape[0] == 0:
            raise VisionInputError(f"Augmenter expects (n, h, w) or (n, c, h, w) patches, got "
                                   f"{tuple(x.shape)}")
        n = x.shape[0]
        out = x.clone()
        if self.dihedral:
            ks = torch.randint(0, N_DIHEDRAL, (n,), generator=generator)
            for k in range(1, N_DIHEDRAL):
                sel = ks == k
                if sel.any():
                    out[sel] = dihedral(out[sel], k)
        if self.shift_px:
            out = self._shift(out, generator)
        shape = (n,) + (1,) * (x.ndim - 1)
        if self.contrast:
            factor = 1.0 + self.contrast * (2.0 * torch.rand(shape, generator=generator) - 1.0)
            mean = out.mean(dim=tuple(range(1, x.ndim)), keepdim=True)
            out = mean + factor * (out - mean)
        if self.brightness:
            out = out + self.brightness * (2.0 * torch.rand(shape, generator=generator) - 1.0)
        if self.noise_std:
            out = out + self.noise_std * torch.randn(out.shape, generator=generator)
        return out

    def _shift(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        s = self.shift_px
        n, h, w = x.shape[0], x.shape[-2], x.shape[-1]
        flat = x.reshape(n, -1, h, w)
        padded = torch.nn.functional.pad(flat, (s, s, s, s), mode="replicate")
        dy = torch.randint(0, 2 * s + 1, (n,), generator=generator)
        dx = torch.randint(0, 2 * s + 1, (n,), generator=generator)
        rows = (dy[:, None] + torch.arange(h)[None, :])  # (n, h)
        cols = (dx[:, None] + torch.arange(w)[None, :])  # (n, w)
        idx_n = torch.arange(n)[:, None, None, None]
        idx_c = torch.arange(flat.shape[1])[None, :, None, None]
        out = padded[idx_n, idx_c, rows[:, None, :, None], cols[:, None, None, :]]
        return out.reshape(x.shape)
