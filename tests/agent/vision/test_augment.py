"""agent.vision.augment: the dihedral group and the random label-preserving augmentation."""

from __future__ import annotations

import pytest
import torch

from agent.vision import Augmenter, VisionConfigError, VisionInputError, dihedral, dihedral_stack

torch.set_num_threads(1)


def test_dihedral_elements_are_the_eight_distinct_symmetries():
    x = torch.arange(9.0).reshape(3, 3)
    views = dihedral_stack(x)
    assert views.shape == (8, 3, 3)
    assert len({tuple(v.flatten().tolist()) for v in views}) == 8
    assert torch.equal(dihedral(x, 0), x)
    assert torch.equal(dihedral(x, 1), torch.rot90(x, 1))
    assert torch.equal(dihedral(x, 4), x.T)
    with pytest.raises(VisionInputError):
        dihedral(x, 8)
    with pytest.raises(VisionInputError, match="square"):
        dihedral_stack(torch.zeros(2, 3))


def test_augmenter_is_reproducible_and_preserves_shape():
    x = torch.randn(16, 8, 8, generator=torch.Generator().manual_seed(0))
    aug = Augmenter()
    a = aug(x, torch.Generator().manual_seed(5))
    b = aug(x, torch.Generator().manual_seed(5))
    c = aug(x, torch.Generator().manual_seed(6))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(x, torch.randn(16, 8, 8, generator=torch.Generator().manual_seed(0)))


def test_geometric_part_only_permutes_pixels_and_shift_moves_a_dot():
    x = torch.randn(32, 6, 6, generator=torch.Generator().manual_seed(1))
    geo = Augmenter(dihedral=True, shift_px=0, noise_std=0.0, contrast=0.0, brightness=0.0)
    y = geo(x, torch.Generator().manual_seed(2))
    assert torch.allclose(torch.sort(y.reshape(32, -1), 1).values,
                          torch.sort(x.reshape(32, -1), 1).values)
    dot = torch.zeros(200, 9, 9)
    dot[:, 4, 4] = 1.0
    shift = Augmenter(dihedral=False, shift_px=2, noise_std=0.0, contrast=0.0, brightness=0.0)
    moved = shift(dot, torch.Generator().manual_seed(3))
    pos = torch.nonzero(moved)
    assert moved.sum() == 200  # exactly one bright pixel each: replicate padding adds nothing
    assert pos[:, 1].min() == 2 and pos[:, 1].max() == 6  # shifts span -2..+2
    assert pos[:, 2].min() == 2 and pos[:, 2].max() == 6


def test_intensity_jitter_strengths():
    x = torch.zeros(4000, 4, 4)
    noisy = Augmenter(dihedral=False, shift_px=0, noise_std=0.5, contrast=0.0, brightness=0.0)
    assert noisy(x, torch.Generator().manual_seed(0)).std().item() == pytest.approx(0.5, rel=0.02)
    bright = Augmenter(dihedral=False, shift_px=0, noise_std=0.0, contrast=0.0, brightness=0.3)
    out = bright(x, torch.Generator().manual_seed(0))
    assert out.abs().max() <= 0.3 and out.std() > 0.1
    with pytest.raises(VisionConfigError, match="contrast"):
        Augmenter(contrast=1.0)
    with pytest.raises(VisionInputError):
        Augmenter()(torch.zeros(3, 3), torch.Generator())
