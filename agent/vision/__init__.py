"""Image models of the agent and their training: which candidates deserve an expensive measurement.

* :class:`QualityGate`: small CNN on the survey patches with an F(1/3)-optimal threshold;
* :class:`FewShotScorer`: few labelled patches -> a score per patch; :class:`FewShotCandidateScorer`:
  the same for the loop's candidates, examples named by position (a gate's scores or a prior);
* :class:`ParticleSegmenter` (small U-Net): the particle mask of an overview;
* :func:`particle_features` + :class:`ParticleClassifier`: per-particle features and a random
  forest over particle kinds;
* :func:`train_gate_on_emulator`, :func:`train_segmenter_on_emulator`,
  :func:`train_particle_classifier_on_emulator`: training on emulator surveys
  (:mod:`agent.vision.training_data` cuts them into candidates; the labels come from
  :mod:`drivers.emulator.labels`).

The policy adapters that consume these models (a gate restricting a policy, a prior weighting it)
live in :mod:`policies`; the config groups are ``gate=`` (which candidates may be measured) and
``prior=`` (weights on the acquisition).
"""

from .augment import Augmenter, dihedral, dihedral_stack
from .encoders import RandomFeatureEncoder
from .errors import (
    VisionConfigError,
    VisionError,
    VisionInputError,
    VisionNotFittedError,
    VisionStateError,
)
from .fewshot import PROTOTYPE_MODES, FewShotScorer
from .fewshot_candidates import FewShotCandidateScorer
from .metrics import accuracy, auroc, best_fbeta_threshold, fbeta_scores, iou
from .particles import (
    FEATURE_NAMES,
    ParticleClassifier,
    ParticleRegion,
    component_kinds,
    find_particles,
    particle_features,
)
from .patch_cnn import PatchCNN
from .quality_gate import QualityGate
from .segmentation import NORMALISATIONS, ParticleSegmenter
from .training import (
    train_gate_on_emulator,
    train_particle_classifier_on_emulator,
    train_segmenter_on_emulator,
)
from .training_data import (
    REWARD_TOP,
    EmulatorView,
    emulator_patch_dataset,
    emulator_view,
    particle_dataset_from_emulator,
)
from .unet import UNet

__all__ = [
    "FEATURE_NAMES",
    "NORMALISATIONS",
    "PROTOTYPE_MODES",
    "REWARD_TOP",
    "Augmenter",
    "EmulatorView",
    "FewShotCandidateScorer",
    "FewShotScorer",
    "ParticleClassifier",
    "ParticleRegion",
    "ParticleSegmenter",
    "PatchCNN",
    "QualityGate",
    "RandomFeatureEncoder",
    "UNet",
    "VisionConfigError",
    "VisionError",
    "VisionInputError",
    "VisionNotFittedError",
    "VisionStateError",
    "accuracy",
    "auroc",
    "best_fbeta_threshold",
    "component_kinds",
    "dihedral",
    "dihedral_stack",
    "emulator_patch_dataset",
    "emulator_view",
    "fbeta_scores",
    "find_particles",
    "iou",
    "particle_dataset_from_emulator",
    "particle_features",
    "train_gate_on_emulator",
    "train_particle_classifier_on_emulator",
    "train_segmenter_on_emulator",
]
