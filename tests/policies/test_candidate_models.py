"""policies.candidate_models: the protocols through which the wrappers reach the image models."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.frames import Axis, Frame
from policies import (
    CandidateGate,
    CandidatePrior,
    CandidateView,
    OverviewImage,
    ParticleClassModel,
    PolicyInputError,
    Segmenter,
)
from policies.candidate_models import overview_image


class MaskOnly(CandidateGate):
    def gate_mask(self, candidates, overview=None):
        return np.ones(candidates.n, bool)


def test_explicit_subclasses_get_the_defaults_of_the_optional_members():
    gate = MaskOnly()
    assert isinstance(gate, CandidateGate) and not isinstance(gate, CandidatePrior)
    assert gate.has_scores is False and gate.threshold is None
    assert gate.gate_scores(object()) is None and gate.prepare(object(), None) is None
    assert gate.describe() == {"gate": "MaskOnly"}

    class Seg(Segmenter):
        def predict(self, image):
            return np.zeros(np.shape(image), bool)

    assert isinstance(Seg(), Segmenter) and Seg().describe() == {"type": "Seg"}


def test_undeclared_objects_are_not_taken_for_models():
    class Duck:  # has gate_mask but not the rest of the contract
        def gate_mask(self, candidates, overview=None):
            return None

    assert not isinstance(Duck(), CandidateGate)
    assert not isinstance(object(), Segmenter) and not isinstance(object(), ParticleClassModel)
    assert not isinstance(object(), CandidateView)


def test_overview_image_takes_a_frame_or_an_array():
    ax = Axis.uniform("y", "m", 0.0, 1e-9, 4), Axis.uniform("x", "m", 0.0, 1e-9, 5)
    frame = Frame(np.arange(20.0).reshape(4, 5), ax, "ov")
    assert isinstance(frame, OverviewImage)
    np.testing.assert_array_equal(overview_image("T", frame), frame.data)
    np.testing.assert_array_equal(overview_image("T", frame.data), frame.data)
    with pytest.raises(PolicyInputError, match="T needs the overview"):
        overview_image("T", None)


def test_only_a_declared_labelled_model_takes_labels_through_the_policy():
    # The loop hands a label to the models a policy declares (models()) that derive LabelledModel;
    # an object with a look-alike update() is not taken for one (nominal, not probed).
    from agent.run.labels import label_learners
    from policies import GatedPolicy, LabelledModel, RandomPolicy

    class Learner(MaskOnly, LabelledModel):
        def __init__(self):
            self.labels = []

        def update(self, candidates, index, label):
            self.labels.append((index, label))
            return self

    class LookAlike(MaskOnly):
        def update(self, candidates, index, label):
            raise AssertionError("not a LabelledModel: must not be given labels")

    learner = Learner()
    assert label_learners(GatedPolicy(RandomPolicy(), learner).models()) == [learner]
    assert label_learners(GatedPolicy(RandomPolicy(), LookAlike()).models()) == []
    assert label_learners(RandomPolicy().models()) == []
    with pytest.raises(NotImplementedError):
        LabelledModel().update(object(), 0, True)
