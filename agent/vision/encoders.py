"""A fixed, training-free patch encoder: random convolution features averaged over the 8 symmetries
of the square (so the embedding is invariant to flips and quarter turns).

One or two random convolution layers (zero-mean, unit-norm first-layer filters, so they respond to
edges and texture rather than to brightness) with ReLU; each layer's response is averaged over the
whole patch and over its centre (where the candidate sits), plus the patch's mean, standard
deviation and centre mean. No weights are learned: the same ``seed`` gives the same encoder on every
machine.

Measured (rod-tip few-shot AUROC, 6 specimens x 3 draws of 5 + 5 labels): one layer of 16 filters
0.914 (min 0.85) in about 1 s for 3,249 patches on a loaded 2-core machine; two layers of 16 filters
0.919 (min 0.86) in about 4.7 s; one layer of 64 filters 0.910. The default is one layer of 16.
"""

from __future__ import annotations

import numpy as np
import torch

from ._checks import check_int
from .augment import dihedral_stack

__all__ = ["RandomFeatureEncoder"]

_CHUNK = 256  # patches per forward pass (8 dihedral copies each): bounds the memory to ~70 MB


class RandomFeatureEncoder:
    """Fixed random-feature embedding of square patches.

    Args:
        n_filters: filters per layer (>= 1); the embedding has ``2 * depth * n_filters + 3``
            features.
        kernel_px: side of the first-layer filters (odd, >= 3).
        depth: 1 or 2 random convolution layers (the second one has 3 x 3 filters).
        seed: seed of the random filters.
    """

    def __init__(self, n_filters: int = 16, kernel_px: int = 5, depth: int = 1,
                 seed: int = 0) -> None:
        self.n_filters = check_int("RandomFeatureEncoder", "n_filters", n_filters, 1, 1024)
        self.depth = check_int("RandomFeatureEncoder", "depth", depth, 1, 2)
        self.kernel_px = check_int("RandomFeatureEncoder", "kernel_px", kernel_px, 3, 31)
        if self.kernel_px % 2 == 0:
            from .errors import VisionConfigError

            raise VisionConfigError(f"RandomFeatureEncoder: kernel_px={kernel_px} must be odd "
                                    f"(e.g. {self.kernel_px + 1})")
        self.seed = int(seed)
        g = torch.Generator().manual_seed(self.seed)
        k, f = self.kernel_px, self.n_filters
        w1 = torch.randn(f, 1, k, k, generator=g)
        w1 = w1 - w1.mean(dim=(2, 3), keepdim=True)
        self._w1 = w1 / w1.norm(dim=(2, 3), keepdim=True)
        self._w2 = torch.randn(f, f, 3, 3, generator=g) / float(np.sqrt(9 * f))

    @property
    def dim(self) -> int:
        """Length of the embedding."""
        return 2 * self.depth * self.n_filters + 3

    def __repr__(self) -> str:
        return (f"RandomFeatureEncoder(n_filters={self.n_filters}, kernel_px={self.kernel_px}, "
                f"depth={self.depth}, seed={self.seed})")

    @torch.no_grad()
    def __call__(self, patches: torch.Tensor) -> torch.Tensor:
        """Embed ``patches: (n, h, h)`` float32 -> ``(n, dim)`` float32 (dihedral-invariant)."""
        out = [self._embed(patches[i:i + _CHUNK]) for i in range(0, patches.shape[0], _CHUNK)]
        return torch.cat(out) if out else torch.zeros(0, self.dim)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        n, h, w = x.shape
        views = dihedral_stack(x.float()).reshape(8 * n, 1, h, w)
        r = max(1, round(3 * h / 16))  # centre half-width: 3 px of a 16 px patch
        c0, c1 = h // 2 - r, h // 2 + r
        layers = [torch.relu(torch.nn.functional.conv2d(views, self._w1,
                                                        padding=self.kernel_px // 2))]
        if self.depth == 2:
            layers.append(torch.relu(torch.nn.functional.conv2d(layers[0], self._w2, padding=1)))
        v = views[:, 0]
        parts = [t.mean((2, 3)) for t in layers] + [t[:, :, c0:c1, c0:c1].mean((2, 3))
                                                    for t in layers]
        centre = v[:, c0 + r // 2:c1 - r // 2, c0 + r // 2:c1 - r // 2].mean((1, 2))
        feats = torch.cat(parts + [v.mean((1, 2))[:, None], v.std((1, 2))[:, None],
                                   centre[:, None]], dim=1)
        return feats.reshape(8, n, -1).mean(0)
