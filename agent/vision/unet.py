"""A small U-Net (2 or 3 resolution levels) for per-pixel particle segmentation."""

from __future__ import annotations

import torch
from torch import nn

from ._checks import check_int

__all__ = ["UNet"]


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
        nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
    )


class UNet(nn.Module):
    """U-Net with ``levels`` resolutions: ``base_channels`` at full resolution, doubling at each
    2 x 2 max-pool, transposed-convolution upsampling with skip connections.

    Args:
        base_channels: channels at full resolution (>= 1).
        levels: resolution levels (2 or 3; 3 = two poolings).
        out_channels: output maps (1: one logit per pixel).

    Input ``(n, 1, h, w)`` float32 with h, w multiples of ``2 ** (levels - 1)``; output
    ``(n, out_channels, h, w)`` logits.
    """

    def __init__(self, base_channels: int = 8, levels: int = 3, out_channels: int = 1) -> None:
        super().__init__()
        c = check_int("UNet", "base_channels", base_channels, 1, 256)
        self.levels = check_int("UNet", "levels", levels, 2, 3)
        self.out_channels = check_int("UNet", "out_channels", out_channels, 1, 64)
        widths = [c * 2 ** i for i in range(self.levels)]
        self.down = nn.ModuleList([_double_conv(1, widths[0])] + [
            _double_conv(widths[i - 1], widths[i]) for i in range(1, self.levels)])
        self.up = nn.ModuleList([nn.ConvTranspose2d(widths[i], widths[i - 1], 2, stride=2)
                                 for i in range(self.levels - 1, 0, -1)])
        self.merge = nn.ModuleList([_double_conv(2 * widths[i - 1], widths[i - 1])
                                    for i in range(self.levels - 1, 0, -1)])
        self.head = nn.Conv2d(widths[0], self.out_channels, 1)

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this."""
        return 2 ** (self.levels - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else nn.functional.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for up, merge in zip(self.up, self.merge):
            x = merge(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)
