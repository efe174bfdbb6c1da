"""Acquisition policies: choose where to measure next.

Every policy derives :class:`PolicyBase` (the whole contract, optional members with defaults) and
its ``select`` returns a :class:`Selection` (indices, reason, phase, per-candidate costs).

Model-based: :class:`LogEI`, :class:`UCB`, :class:`MaxUncertainty`, :class:`Thompson` (they explore
with :class:`SpaceFilling` when the posterior is missing or degenerate). Baselines that never look
at a model (``needs_model = False``): :class:`RandomPolicy`, :class:`Raster`, :class:`SpaceFilling`.
Several objectives: :class:`EHVI`, :class:`Scalarised`.

Wrappers (:class:`PolicyWrapper`: change one thing, forward the rest): :class:`CostAware` ranks by
acquisition per second of instrument time (travel, dose); :class:`GatedPolicy` restricts any policy
to the candidates a :class:`CandidateGate` passes; :class:`WeightedPolicy` weighs its acquisition by
a :class:`CandidatePrior`. Gates and priors built on a segmentation: :class:`SegmentationGate`,
:class:`ParticleClassGate`, :class:`SegmentationWeights`; the image models themselves live in
``agent.vision`` and are reached through the protocols of :mod:`policies.candidate_models`.
"""

from .analytic import AnalyticPolicy
from .candidate_models import (
    CandidateGate,
    CandidateModel,
    CandidatePrior,
    CandidateView,
    LabelledModel,
    OverviewImage,
    ParticleClassModel,
    Segmenter,
)
from .class_gate import ParticleClassGate
from .cost import CostAware, candidate_costs, per_unit_cost
from .errors import PolicyConfigError, PolicyError, PolicyInputError
from .gated import ON_EMPTY, GatedPolicy
from .log_ei import LogEI, log_expected_improvement, log_h
from .max_uncertainty import MaxUncertainty
from .model_policy import ModelPolicy, single_objective
from .multi_objective import EHVI, Scalarised
from .pareto import default_reference, hypervolume_2d, hypervolume_improvement_2d, pareto_mask
from .posterior import AnyPosterior, JointSampler, MultiPosterior, Posterior
from .protocol import (
    ACQUISITION_PHASE,
    BASELINE_PHASE,
    EXPLORE_PHASE,
    PHASES,
    NoCandidatesLeft,
    Policy,
    PolicyBase,
    Selection,
    SelectionState,
)
from .random_policy import RandomPolicy
from .raster import Raster, raster_order
from .restricted import (
    RESTRICT_MODES,
    SegmentationGate,
    candidate_distances_px,
    candidate_weights,
    restrict_candidates,
)
from .space_filling import SpaceFilling
from .thompson import Thompson
from .ucb import UCB, upper_confidence_bound
from .weighted import SegmentationWeights, WeightedPolicy
from .wrapper import PolicyWrapper

__all__ = [
    "ACQUISITION_PHASE",
    "BASELINE_PHASE",
    "EXPLORE_PHASE",
    "ON_EMPTY",
    "PHASES",
    "RESTRICT_MODES",
    "AnalyticPolicy",
    "CandidateGate",
    "CandidateModel",
    "CandidatePrior",
    "LabelledModel",
    "CandidateView",
    "CostAware",
    "EHVI",
    "GatedPolicy",
    "JointSampler",
    "LogEI",
    "MaxUncertainty",
    "ModelPolicy",
    "single_objective",
    "MultiPosterior",
    "AnyPosterior",
    "NoCandidatesLeft",
    "OverviewImage",
    "ParticleClassGate",
    "ParticleClassModel",
    "Policy",
    "PolicyBase",
    "PolicyConfigError",
    "PolicyError",
    "PolicyInputError",
    "PolicyWrapper",
    "Posterior",
    "RandomPolicy",
    "Raster",
    "Scalarised",
    "SegmentationGate",
    "SegmentationWeights",
    "Segmenter",
    "Selection",
    "SelectionState",
    "SpaceFilling",
    "Thompson",
    "UCB",
    "WeightedPolicy",
    "candidate_costs",
    "candidate_distances_px",
    "candidate_weights",
    "default_reference",
    "hypervolume_2d",
    "hypervolume_improvement_2d",
    "log_expected_improvement",
    "log_h",
    "pareto_mask",
    "per_unit_cost",
    "raster_order",
    "restrict_candidates",
    "upper_confidence_bound",
]
