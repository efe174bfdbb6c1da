"""policies.restricted: candidates restricted or weighted by a particle mask, and SegmentationGate."""

from __future__ import annotations

import numpy as np
import pytest

from agent.candidates import make_candidates
from drivers.frames import Axis, Frame
from policies import (
    GatedPolicy,
    PolicyConfigError,
    PolicyInputError,
    RandomPolicy,
    SegmentationGate,
    Segmenter,
    candidate_distances_px,
    candidate_weights,
    restrict_candidates,
)


def _square_grid():
    """A 32 x 32 overview with a particle block at rows/cols 12..20; candidates every 4 px."""
    ax = Axis.uniform("y", "m", 0.0, 1e-9, 32), Axis.uniform("x", "m", 0.0, 1e-9, 32)
    frame = Frame(np.zeros((32, 32)), ax, "ov-1")
    mask = np.zeros((32, 32), bool)
    mask[12:21, 12:21] = True
    return make_candidates(frame, 4, 4, 0), mask, frame


class BlockSegmenter(Segmenter):
    """'Segments' every overview into the particle block of :func:`_square_grid`."""

    def __init__(self, mask):
        self.mask = mask
        self.images = 0

    def predict(self, image):
        self.images += 1
        assert np.shape(image) == self.mask.shape
        return self.mask


def test_restrict_modes_known_answers():
    cands, mask, _ = _square_grid()
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
    with pytest.raises(PolicyConfigError, match="mode"):
        restrict_candidates(cands, mask, "edge")
    with pytest.raises(PolicyInputError, match="shape"):
        restrict_candidates(cands, mask[:10], "inside")
    with pytest.raises(PolicyConfigError, match="distance_px"):
        restrict_candidates(cands, mask, "near", -1.0)
    with pytest.raises(PolicyConfigError, match="scale_px"):
        candidate_weights(cands, mask, scale_px=0.0)
    with pytest.raises(PolicyInputError, match="candidate set"):
        restrict_candidates(object(), mask)


def test_segmentation_gate_keeps_its_region_once_per_overview_and_describes_its_segmenter():
    cands, mask, frame = _square_grid()
    seg = BlockSegmenter(mask)
    gate = SegmentationGate(seg, mode="ring", distance_px=4.0)
    policy = GatedPolicy(RandomPolicy(), gate)
    policy.prepare(cands, frame)
    assert seg.images == 1 and gate.last_mask is mask
    assert np.array_equal(policy.mask, restrict_candidates(cands, mask, "ring", 4.0))
    assert policy.n_passed == 12
    assert policy.describe() == {"gate": "SegmentationGate", "n_candidates": cands.n, "n_passed": 12,
                                 "segmenter": {"type": "BlockSegmenter"}}
    # a plain (ny, nx) array works as the overview as well
    assert np.array_equal(gate.gate_mask(cands, frame.data), policy.mask)
    with pytest.raises(PolicyInputError, match="overview"):
        gate.gate_mask(cands)
    with pytest.raises(PolicyConfigError, match="predict"):
        SegmentationGate(object())
    with pytest.raises(PolicyConfigError, match="mode"):
        SegmentationGate(seg, mode="edge")
