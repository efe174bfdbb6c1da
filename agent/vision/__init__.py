"""Vision components of the agent: which candidates deserve an expensive measurement.

* :class:`QualityGate`: small CNN on the survey patches with an F(1/3)-optimal threshold;
* :class:`FewShotScorer` / :class:`FewShotReward`: few labelled patches -> a score per candidate
  (a gate, or a per-candidate prior map);
* :class:`ParticleSegmenter` (small U-Net), :func:`restrict_candidates`,
  :class:`SegmentationGate`: segmentation-guided candidates;
* :func:`particle_features` + :class:`ParticleClassifier`: per-particle features and a random
  forest over particle kinds; :class:`ParticleClassGate` measures only at the chosen kinds;
* :class:`GatedPolicy`: any policy restricted to what a gate lets through;
* :class:`WeightedPolicy` (+ :class:`SegmentationWeights`): any acquisition weighted by a
  structure prior (few-shot score, closeness to a segmented particle);
* :func:`emulator_labels`, :func:`emulator_masks`, :func:`emulator_view`: ground truth from the
  emulator's exact geometry, for training and scoring.
"""

from .augment import Augmenter, dihedral, dihedral_stack
from .class_gate import ParticleClassGate, train_particle_classifier_on_emulator
from .emulator_data import (
    REWARD_TOP,
    EmulatorView,
    emulator_patch_dataset,
    emulator_view,
    top_labels,
)
from .emulator_truth import (
    KIND_CODES,
    KIND_NAMES,
    LABEL_RULES,
    EmulatorMasks,
    emulator_labels,
    emulator_masks,
    frame_positions_m,
    label_positions,
)
from .encoders import RandomFeatureEncoder
from .errors import (
    VisionConfigError,
    VisionError,
    VisionInputError,
    VisionNotFittedError,
    VisionStateError,
)
from .fewshot import PROTOTYPE_MODES, FewShotReward, FewShotScorer
from .gate import QualityGate, train_gate_on_emulator
from .gated_policy import ON_EMPTY, CandidateGate, GatedPolicy
from .metrics import accuracy, auroc, best_fbeta_threshold, fbeta_scores, iou
from .particles import (
    FEATURE_NAMES,
    ParticleClassifier,
    ParticleRegion,
    component_kinds,
    find_particles,
    particle_dataset_from_emulator,
    particle_features,
)
from .patch_cnn import PatchCNN
from .restrict import (
    RESTRICT_MODES,
    SegmentationGate,
    candidate_distances_px,
    candidate_weights,
    restrict_candidates,
)
from .segmentation import NORMALISATIONS, ParticleSegmenter, train_segmenter_on_emulator
from .unet import UNet
from .weighted_policy import SegmentationWeights, WeightedPolicy

__all__ = [
    "FEATURE_NAMES",
    "KIND_CODES",
    "KIND_NAMES",
    "LABEL_RULES",
    "NORMALISATIONS",
    "ON_EMPTY",
    "PROTOTYPE_MODES",
    "RESTRICT_MODES",
    "REWARD_TOP",
    "Augmenter",
    "CandidateGate",
    "EmulatorMasks",
    "EmulatorView",
    "FewShotReward",
    "FewShotScorer",
    "GatedPolicy",
    "ParticleClassGate",
    "ParticleClassifier",
    "ParticleRegion",
    "ParticleSegmenter",
    "PatchCNN",
    "QualityGate",
    "RandomFeatureEncoder",
    "SegmentationGate",
    "SegmentationWeights",
    "UNet",
    "VisionConfigError",
    "VisionError",
    "VisionInputError",
    "VisionNotFittedError",
    "VisionStateError",
    "WeightedPolicy",
    "accuracy",
    "auroc",
    "best_fbeta_threshold",
    "candidate_distances_px",
    "candidate_weights",
    "component_kinds",
    "dihedral",
    "dihedral_stack",
    "emulator_labels",
    "emulator_masks",
    "emulator_patch_dataset",
    "emulator_view",
    "fbeta_scores",
    "find_particles",
    "frame_positions_m",
    "iou",
    "label_positions",
    "particle_dataset_from_emulator",
    "particle_features",
    "restrict_candidates",
    "top_labels",
    "train_gate_on_emulator",
    "train_particle_classifier_on_emulator",
    "train_segmenter_on_emulator",
]
