"""Particle segmentation (small U-Net trained on emulator overviews) and segmentation-guided
candidates (restrict_candidates, candidate_weights, SegmentationGate)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agent.candidates import make_candidates
from agent.vision import (
    GatedPolicy,
    ParticleSegmenter,
    SegmentationGate,
    UNet,
    VisionConfigError,
    VisionInputError,
    VisionNotFittedError,
    VisionStateError,
    candidate_distances_px,
    candidate_weights,
    emulator_view,
    iou,
    restrict_candidates,
    train_segmenter_on_emulator,
)
from drivers.frames import Axis, Frame
from policies import RandomPolicy

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


def _square_grid():
    """A 32 x 32 overview with a particle block at rows/cols 12..20; candidates every 4 px."""
    ax = Axis.uniform("y", "m", 0.0, 1e-9, 32), Axis.uniform("x", "m", 0.0, 1e-9, 32)
    frame = Frame(np.zeros((32, 32)), ax, "ov-1")
    mask = np.zeros((32, 32), bool)
    mask[12:21, 12:21] = True
    return make_candidates(frame, 4, 4, 0), mask


def test_restrict_modes_known_answers():
    cands, mask = _square_grid()
    d = candidate_distances_px(cands, mask)
    px = cands.yx_px
    # candidates at 0, 4, ..., 28: rows/cols 12, 16, 20 inside; (8, 12) is 4 px above the block
    at = {tuple(p): v for p, v in zip(px.tolist(), d)}
    assert at[(12, 12)] == 0 and at[(20, 20)] == 0
    assert at[(8, 12)] == pytest.approx(4.0) and at[(8, 8)] == pytest.approx(np.hypot(4, 4))
    assert at[(0, 0)] == pytest.approx(np.hypot(12, 12))
    inside = restrict_candidates(cands, mask, "inside")
    assert inside.sum() == 9
    near = restrict_candidates(cands, mask, "near", distance_px=4.0)
    ring = restrict_candidates(cands, mask, "ring", distance_px=4.0)
    outside = restrict_candidates(cands, mask, "outside", distance_px=4.0)
    assert near.sum() == 9 + 12 and ring.sum() == 12  # 3 grid points beside each side
    assert np.array_equal(near, inside | ring) and np.array_equal(outside, ~near)
    assert restrict_candidates(cands, mask, "near", distance_px=np.hypot(4, 4)).sum() == 25
    w = candidate_weights(cands, mask, scale_px=4.0)
    assert np.allclose(w[inside], 1.0) and np.allclose(w[ring], np.exp(-1.0))
    empty = np.zeros_like(mask)
    assert not restrict_candidates(cands, empty, "near", 100.0).any()
    assert np.all(candidate_weights(cands, empty) == 0.0)
    with pytest.raises(VisionConfigError, match="mode"):
        restrict_candidates(cands, mask, "edge")
    with pytest.raises(VisionInputError, match="shape"):
        restrict_candidates(cands, mask[:10], "inside")
    with pytest.raises(VisionConfigError, match="distance_px"):
        restrict_candidates(cands, mask, "near", -1.0)


def test_segmentation_gate_keeps_the_ring_around_particles(segmenter, held_out):
    gate = SegmentationGate(segmenter, mode="ring", distance_px=8.0)
    policy = GatedPolicy(RandomPolicy(), gate)
    mask = policy.prepare(held_out.candidates, held_out.overview)
    assert gate.last_mask is not None and gate.last_mask.shape == (256, 256)
    truth_edge = held_out.labels("edge", distance_m=8.0 * 2e-7 / 256 + 1e-9)
    assert mask.sum() > 100
    assert np.mean(truth_edge[mask]) > 0.9  # the kept candidates lie just off a particle
    sdf = held_out.emulator.sample.sdf_all(held_out.candidates.yx_m).min(axis=0)
    assert np.all(sdf[mask] > -1.5e-9)  # none lies more than a pixel or two inside a particle
    with pytest.raises(VisionInputError, match="overview"):
        gate.gate_mask(held_out.candidates)
    with pytest.raises(VisionInputError, match="predict"):
        SegmentationGate(object())
