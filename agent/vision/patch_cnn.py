"""A small convolutional network on square image patches (the quality gate's classifier)."""

from __future__ import annotations

import torch
from torch import nn

from ._checks import check_int

__all__ = ["PatchCNN"]


class PatchCNN(nn.Module):
    """Four 3 x 3 convolutions (two at full resolution, two after 2 x 2 pooling) with batch norm and
    ReLU, global average pooling and a linear head.

    Args:
        channels: width of the first two convolutions (the last two have twice as many).
        out_features: outputs of the head (1 for a binary logit).

    Input ``(n, h, w)`` float32 patches (h, w >= 4), output ``(n, out_features)`` float32
    (``(n,)`` when ``out_features == 1``).
    """

    def __init__(self, channels: int = 16, out_features: int = 1) -> None:
        super().__init__()
        c = check_int("PatchCNN", "channels", channels, 1, 512)
        self.out_features = check_int("PatchCNN", "out_features", out_features, 1, 4096)

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

        self.features = nn.Sequential(
            *block(1, c), *block(c, c), nn.MaxPool2d(2),
            *block(c, 2 * c), nn.MaxPool2d(2),
            *block(2 * c, 2 * c), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(2 * c, self.out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self.features(x[:, None]))
        return out[:, 0] if self.out_features == 1 else out
