"""The particle classifier trained on emulator particles, used by policies.ParticleClassGate: only the
particles of the chosen classes (and their surroundings) pass."""

from __future__ import annotations

import numpy as np
import pytest

from agent.vision import ParticleClassifier, emulator_view, train_particle_classifier_on_emulator
from policies import (
    GatedPolicy,
    ParticleClassGate,
    ParticleClassModel,
    RandomPolicy,
    Segmenter,
    candidate_distances_px,
)
from policies.errors import PolicyConfigError, PolicyInputError


class ExactSegmenter(Segmenter):
    """The emulator's exact particle mask of the one overview the test uses."""

    def __init__(self, mask):
        self.mask = mask

    def predict(self, image):
        return self.mask


@pytest.fixture(scope="module")
def trained():
    return train_particle_classifier_on_emulator(ParticleClassifier(n_estimators=100),
                                                 train_seeds=(100, 101, 102))


@pytest.fixture(scope="module")
def view():
    return emulator_view(300)


def _true_class_mask(view, kinds):
    masks = view.masks
    wanted = [k + 1 for k, name in enumerate(masks.particle_kinds) if name in kinds]
    return np.isin(masks.instance, wanted)


@pytest.mark.parametrize("classes", [["rod"], ["triangle"], ["disk", "rod"]])
def test_inside_mode_keeps_the_chosen_kinds_on_an_unseen_specimen(trained, view, classes):
    gate = ParticleClassGate(ExactSegmenter(view.masks.particles), trained, classes, mode="inside")
    keep = gate.gate_mask(view.candidates, view.overview)
    truth = candidate_distances_px(view.candidates, _true_class_mask(view, classes)) == 0.0
    assert truth.sum() > 0
    agree = np.mean(keep == truth)
    precision = (keep & truth).sum() / max(1, keep.sum())
    assert agree > 0.95 and precision > 0.9, (agree, precision)
    assert gate.last_kinds is not None and set(gate.last_kinds) <= {"disk", "rod", "triangle"}


def test_ring_mode_stays_off_every_particle(trained, view):
    gate = ParticleClassGate(ExactSegmenter(view.masks.particles), trained, ["rod", "triangle"],
                             mode="ring", distance_px=6.0)
    keep = gate.gate_mask(view.candidates, view.overview)
    on_particle = candidate_distances_px(view.candidates, view.masks.particles) == 0.0
    d_class = candidate_distances_px(view.candidates, gate.last_class_mask)
    assert keep.any() and not (keep & on_particle).any()
    assert np.all(d_class[keep] <= 6.0) and np.all(d_class[keep] > 0.0)
    policy = GatedPolicy(RandomPolicy(), gate)
    policy.prepare(view.candidates, view.overview)
    assert policy.mask is not None and np.array_equal(policy.mask, keep)


def test_classifier_declares_the_particle_class_protocol(trained, view):
    assert isinstance(trained, ParticleClassModel)
    labels, kinds = trained.classify_particles(view.overview.data, view.masks.particles)
    assert labels.shape == view.masks.particles.shape and set(kinds) == set(np.unique(labels)) - {0}
    assert set(kinds.values()) <= set(trained.classes)
    assert trained.describe() == {"type": "ParticleClassifier", "classes": trained.classes}


def test_errors(trained, view):
    seg = ExactSegmenter(view.masks.particles)
    with pytest.raises(PolicyConfigError, match="classes"):
        ParticleClassGate(seg, trained, ["pentagon"])
    with pytest.raises(PolicyConfigError, match="classes"):
        ParticleClassGate(seg, trained, [])
    with pytest.raises(PolicyConfigError, match="segmenter"):
        ParticleClassGate(object(), trained, ["rod"])
    with pytest.raises(PolicyConfigError, match="mode"):
        ParticleClassGate(seg, trained, ["rod"], mode="edge")
    with pytest.raises(PolicyInputError, match="overview"):
        ParticleClassGate(seg, trained, ["rod"]).gate_mask(view.candidates, None)
