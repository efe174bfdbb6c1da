"""policies.class_gate: ParticleClassGate with a stand-in classifier (the trained forest is tested in
tests/agent/vision/test_particle_classes.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from agent.candidates import make_candidates
from drivers.frames import Axis, Frame
from policies import (
    GatedPolicy,
    ParticleClassGate,
    ParticleClassModel,
    PolicyConfigError,
    PolicyInputError,
    RandomPolicy,
    Segmenter,
    restrict_candidates,
)


def _overview():
    """32 x 32 px: a 'rod' at rows/cols 4..9 and a 'disk' right beside it at rows 4..9, cols 12..17."""
    ax = Axis.uniform("y", "m", 0.0, 1e-9, 32), Axis.uniform("x", "m", 0.0, 1e-9, 32)
    frame = Frame(np.zeros((32, 32)), ax, "ov-1")
    rod = np.zeros((32, 32), bool)
    rod[4:10, 4:10] = True
    disk = np.zeros((32, 32), bool)
    disk[4:10, 12:18] = True
    return make_candidates(frame, 4, 4, 0), frame, rod, disk


class Fixed(Segmenter):
    def __init__(self, mask):
        self.mask = mask

    def predict(self, image):
        return self.mask


class LeftIsRod(ParticleClassModel):
    """Labels the connected particles; the leftmost is a rod, every other a disk."""

    @property
    def classes(self):
        return ["disk", "rod"]

    def classify_particles(self, image, particles):
        labels, n = ndimage.label(particles)
        cols = [np.nonzero(labels == k)[1].min() for k in range(1, n + 1)]
        left = 1 + int(np.argmin(cols))
        return labels, {k: ("rod" if k == left else "disk") for k in range(1, n + 1)}


def test_only_the_chosen_class_and_never_on_another_particle():
    cands, frame, rod, disk = _overview()
    gate = ParticleClassGate(Fixed(rod | disk), LeftIsRod(), ["rod"], mode="inside")
    keep = gate.gate_mask(cands, frame)
    assert np.array_equal(keep, restrict_candidates(cands, rod, "inside")) and keep.sum() == 4
    assert sorted(gate.last_kinds.tolist()) == ["disk", "rod"] and np.array_equal(gate.last_class_mask, rod)
    ring = ParticleClassGate(Fixed(rod | disk), LeftIsRod(), ["rod"], mode="ring", distance_px=4.0)
    policy = GatedPolicy(RandomPolicy(), ring)
    policy.prepare(cands, frame)
    around_rod = restrict_candidates(cands, rod, "ring", 4.0)
    on_disk = restrict_candidates(cands, disk, "inside")
    assert (around_rod & on_disk).any()  # the disk lies within the rod's ring ...
    assert np.array_equal(policy.mask, around_rod & ~on_disk)  # ... and is left out
    assert policy.describe() == {"gate": "ParticleClassGate", "n_candidates": cands.n,
                                 "n_passed": int(policy.mask.sum()), "segmenter": {"type": "Fixed"},
                                 "classifier": {"type": "LeftIsRod"}}


def test_errors():
    cands, _, rod, disk = _overview()
    seg = Fixed(rod | disk)
    with pytest.raises(PolicyConfigError, match="pentagon"):
        ParticleClassGate(seg, LeftIsRod(), ["pentagon"])
    with pytest.raises(PolicyConfigError, match="at least one"):
        ParticleClassGate(seg, LeftIsRod(), [])
    with pytest.raises(PolicyConfigError, match="segmenter"):
        ParticleClassGate(object(), LeftIsRod(), ["rod"])
    with pytest.raises(PolicyConfigError, match="classifier"):
        ParticleClassGate(seg, object(), ["rod"])
    with pytest.raises(PolicyConfigError, match="mode"):
        ParticleClassGate(seg, LeftIsRod(), ["rod"], mode="edge")
    with pytest.raises(PolicyInputError, match="overview"):
        ParticleClassGate(seg, LeftIsRod(), ["rod"]).gate_mask(cands, None)
