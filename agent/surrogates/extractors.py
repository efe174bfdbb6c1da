"""Feature extractors for deep kernel learning: image patches -> low-dimensional latent points.

* :class:`MLPExtractor`: flatten -> Linear/ReLU hidden layers -> linear latent layer.
* :class:`CNNExtractor`: 3x3 conv/ReLU/2x2 max-pool blocks -> flatten -> Linear/ReLU head -> latent.
* :class:`PatchEmbedding`: a botorch ``InputTransform`` that runs an extractor on flattened patches,
  so a botorch ``SingleTaskGP`` over patches embeds each input row exactly once per call.

Both extractors expose their final ``nn.Linear`` as ``.out`` and are initialised from an explicit
``torch.Generator`` (He-uniform for ReLU layers, Glorot-uniform for the latent layer, zero biases),
so the same seed gives the same network without touching torch's global random state.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from botorch.models.transforms.input import InputTransform
from torch import nn

from .errors import SurrogateConfigError
from .settings import int_list

__all__ = ["EXTRACTORS", "MLPExtractor", "CNNExtractor", "PatchEmbedding", "build_extractor"]

#: extractor names accepted by :func:`build_extractor`.
EXTRACTORS = ("mlp", "cnn")


def _init_layers(module: nn.Module, generator: torch.Generator) -> None:
    """He-uniform init for every conv/linear layer except ``module.out`` (Glorot); zero biases."""
    out = getattr(module, "out", None)
    for layer in module.modules():
        if not isinstance(layer, (nn.Linear, nn.Conv2d)):
            continue
        with torch.no_grad():
            if layer is out:
                nn.init.xavier_uniform_(layer.weight, generator=generator)
            else:
                nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu", generator=generator)
            if layer.bias is not None:
                layer.bias.zero_()


class MLPExtractor(nn.Module):
    """Fully connected extractor.

    Args:
        patch_shape: (h, w) of the input patches.
        latent_dim: output dimension k >= 1.
        hidden: widths of the hidden layers (ReLU after each), e.g. (256, 128, 64); may be empty.
        generator: seeds the initial weights.

    ``forward(patches (n, h, w)) -> (n, latent_dim)``, in the dtype of the parameters.
    """

    def __init__(
        self,
        patch_shape: tuple[int, int],
        latent_dim: int,
        hidden: Sequence[int] = (256, 128, 64),
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.patch_shape = (int(patch_shape[0]), int(patch_shape[1]))
        widths = int_list("hidden", hidden, allow_empty=True)
        layers: list[nn.Module] = []
        d_in = self.patch_shape[0] * self.patch_shape[1]
        for width in widths:
            layers += [nn.Linear(d_in, width), nn.ReLU()]
            d_in = width
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(d_in, int(latent_dim))
        _init_layers(self, generator if generator is not None else torch.Generator().manual_seed(0))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        x = patches.reshape(patches.shape[0], -1)
        return self.out(self.body(x))


class CNNExtractor(nn.Module):
    """Small convolutional extractor.

    Args:
        patch_shape: (h, w) of the input patches.
        latent_dim: output dimension k >= 1.
        channels: output channels of the conv blocks (3x3 conv, padding 1, ReLU, then 2x2 max-pool
            while both sides are still >= 2 px), e.g. (8, 16); 1 to 4 blocks.
        hidden: widths of the fully connected head after flattening (ReLU after each).
        generator: seeds the initial weights.

    ``forward(patches (n, h, w)) -> (n, latent_dim)``.
    """

    def __init__(
        self,
        patch_shape: tuple[int, int],
        latent_dim: int,
        channels: Sequence[int] = (8, 16),
        hidden: Sequence[int] = (64,),
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.patch_shape = (int(patch_shape[0]), int(patch_shape[1]))
        chans = int_list("cnn_channels", channels, allow_empty=False)
        if len(chans) > 4:
            raise SurrogateConfigError(f"cnn_channels={list(chans)} allows at most 4 conv blocks")
        widths = int_list("hidden", hidden, allow_empty=True)
        blocks: list[nn.Module] = []
        c_in, h, w = 1, self.patch_shape[0], self.patch_shape[1]
        for c_out in chans:
            blocks += [nn.Conv2d(c_in, c_out, kernel_size=3, padding=1), nn.ReLU()]
            if h >= 2 and w >= 2:
                blocks.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            c_in = c_out
        self.features = nn.Sequential(*blocks)
        head: list[nn.Module] = []
        d_in = c_in * h * w
        for width in widths:
            head += [nn.Linear(d_in, width), nn.ReLU()]
            d_in = width
        self.head = nn.Sequential(*head)
        self.out = nn.Linear(d_in, int(latent_dim))
        _init_layers(self, generator if generator is not None else torch.Generator().manual_seed(0))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        x = self.features(patches.unsqueeze(1))
        return self.out(self.head(x.flatten(start_dim=1)))


def build_extractor(
    kind: str,
    patch_shape: tuple[int, int],
    latent_dim: int,
    hidden: Sequence[int],
    cnn_channels: Sequence[int],
    seed: int,
) -> nn.Module:
    """An extractor by name (``"mlp"`` or ``"cnn"``), initialised from ``seed``."""
    generator = torch.Generator().manual_seed(int(seed))
    if kind == "mlp":
        return MLPExtractor(patch_shape, latent_dim, hidden, generator)
    if kind == "cnn":
        return CNNExtractor(patch_shape, latent_dim, cnn_channels, hidden, generator)
    raise SurrogateConfigError(f"extractor={kind!r} is not known; use one of {EXTRACTORS}")


class PatchEmbedding(InputTransform):
    """botorch input transform ``(..., h*w)`` flattened patches -> ``(..., k)`` latent points.

    Applied in train and eval mode, so a botorch model holding it takes flattened patches everywhere
    (``model.posterior(X)`` with X shaped ``(b, q, h*w)``) and its kernel sees only latent points:
    the network runs once per input row per call, never per pair.

    Args:
        extractor: the feature network (its parameters are learned with the GP's).
        patch_shape: (h, w) the flattened rows are reshaped to.
    """

    def __init__(self, extractor: nn.Module, patch_shape: tuple[int, int]) -> None:
        super().__init__()
        self.extractor = extractor
        self.patch_shape = (int(patch_shape[0]), int(patch_shape[1]))
        self.transform_on_train = True
        self.transform_on_eval = True
        self.transform_on_fantasize = True

    def transform(self, X: torch.Tensor) -> torch.Tensor:
        h, w = self.patch_shape
        if X.shape[-1] != h * w:
            raise ValueError(
                f"PatchEmbedding: inputs have {X.shape[-1]} features but patches of {h}x{w} "
                f"flatten to {h * w}; pass patches.reshape(..., {h * w})"
            )
        batch = X.shape[:-1]
        param = next(self.extractor.parameters())
        z = self.extractor(X.reshape(-1, h, w).to(param.dtype))
        return z.reshape(*batch, z.shape[-1]).to(X.dtype)
