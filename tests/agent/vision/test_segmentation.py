"""Particle segmentation (small U-Net trained on emulator overviews) and segmentation-guided
candidates (through policies.SegmentationGate)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agent.vision import (
    ParticleSegmenter,
    UNet,
    VisionConfigError,
    VisionInputError,
    VisionNotFittedError,
    VisionStateError,
    emulator_view,
    iou,
    train_segmenter_on_emulator,
)
from policies import GatedPolicy, RandomPolicy, SegmentationGate, Segmenter
from policies.errors import PolicyInputError

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def segmenter():
    return train_segmenter_on_emulator(
        ParticleSegmenter(iterations=100, crop_px=48), train_seeds=(100, 101))


@pytest.fixture(scope="module")
def held_out():
    return emulator_view(300)


def test_unet_shapes():
    net = UNet(base_channels=4, levels=2)
    assert net.multiple == 2
    assert net(torch.zeros(2, 1, 16, 12)).shape == (2, 1, 16, 12)
    assert UNet(4, 3)(torch.zeros(1, 1, 8, 8)).shape == (1, 1, 8, 8)
    with pytest.raises(VisionConfigError, match="levels"):
        UNet(levels=4)


def test_iou_on_a_held_out_overview(segmenter, held_out):
    truth = held_out.masks.particles
    res = segmenter.evaluate(held_out.overview, truth)
    assert res["iou"] > 0.9 and res["precision"] > 0.9 and res["recall"] > 0.9
    prob = segmenter.predict_proba(held_out.overview.data)
    assert prob.shape == truth.shape and prob.dtype == np.float32
    assert prob.min() >= 0.0 and prob.max() <= 1.0
    # any image size (padded to the U-Net's multiple internally)
    crop = held_out.overview.data[:250, 3:254]
    assert iou(segmenter.predict(crop), truth[:250, 3:254]) > 0.9
    assert segmenter.predict(crop, threshold=1.0).sum() <= segmenter.predict(crop).sum()


def test_state_round_trip_and_errors(segmenter, held_out, tmp_path):
    path = tmp_path / "unet.pt"
    segmenter.save(path)
    again = ParticleSegmenter(weights_path=str(path))
    img = held_out.overview.data[:64, :64]
    assert np.allclose(again.predict_proba(img), segmenter.predict_proba(img))
    with pytest.raises(VisionStateError, match="levels"):
        ParticleSegmenter(levels=2).load(path)
    with pytest.raises(VisionNotFittedError, match="fit"):
        ParticleSegmenter().predict(img)
    with pytest.raises(VisionConfigError, match="multiple of 4"):
        ParticleSegmenter(crop_px=50)
    with pytest.raises(VisionInputError, match="one mask per image"):
        ParticleSegmenter().fit([img, img], [img > 0])
    with pytest.raises(VisionInputError, match="crop_px"):
        ParticleSegmenter(crop_px=128).fit([img], [img > 0])
    with pytest.raises(VisionInputError, match="shape"):
        ParticleSegmenter().fit([img], [np.zeros((3, 3), bool)])


def test_segmentation_gate_keeps_the_ring_around_particles(segmenter, held_out):
    gate = SegmentationGate(segmenter, mode="ring", distance_px=8.0)
    policy = GatedPolicy(RandomPolicy(), gate)
    policy.prepare(held_out.candidates, held_out.overview)
    mask = policy.mask
    assert mask is not None
    assert gate.last_mask is not None and gate.last_mask.shape == (256, 256)
    truth_edge = held_out.labels("edge", distance_m=8.0 * 2e-7 / 256 + 1e-9)
    assert mask.sum() > 100
    assert np.mean(truth_edge[mask]) > 0.9  # the kept candidates lie just off a particle
    sdf = held_out.emulator.sample.sdf_all(held_out.candidates.yx_m).min(axis=0)
    assert np.all(sdf[mask] > -1.5e-9)  # none lies more than a pixel or two inside a particle
    with pytest.raises(PolicyInputError, match="overview"):
        gate.gate_mask(held_out.candidates)
    assert isinstance(segmenter, Segmenter)
    described = segmenter.describe()  # what the gate's record event reports of it
    assert described["type"] == "ParticleSegmenter" and described["train_time_s"] > 0
    assert 0.0 <= described["train_metrics"]["iou"] <= 1.0
