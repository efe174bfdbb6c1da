"""Acquisition policies: choose where to measure next.

Model-based: :class:`LogEI`, :class:`UCB`, :class:`MaxUncertainty`, :class:`Thompson` (they explore
with :class:`SpaceFilling` when the posterior is missing or degenerate). Baselines that never look
at a model (``needs_model = False``): :class:`RandomPolicy`, :class:`Raster`, :class:`SpaceFilling`.
Several objectives: :class:`EHVI`, :class:`Scalarised`. Costs: :class:`CostAware` wraps any policy
with acquisition values and ranks by improvement per second of instrument time (travel, dose).
"""

from .analytic import AnalyticPolicy
from .cost import CostAware, candidate_costs, per_unit_cost
from .errors import PolicyConfigError, PolicyError, PolicyInputError
from .log_ei import LogEI, log_expected_improvement, log_h
from .max_uncertainty import MaxUncertainty
from .model_policy import ModelPolicy
from .multi_objective import EHVI, Scalarised
from .pareto import default_reference, hypervolume_2d, hypervolume_improvement_2d, pareto_mask
from .posterior import JointSampler, MultiPosterior, Posterior
from .protocol import NoCandidatesLeft, Policy, SelectionState
from .random_policy import RandomPolicy
from .raster import Raster, raster_order
from .space_filling import SpaceFilling
from .thompson import Thompson
from .ucb import UCB, upper_confidence_bound

__all__ = [
    "AnalyticPolicy",
    "CostAware",
    "EHVI",
    "MultiPosterior",
    "Scalarised",
    "candidate_costs",
    "per_unit_cost",
    "default_reference",
    "hypervolume_2d",
    "hypervolume_improvement_2d",
    "pareto_mask",
    "JointSampler",
    "LogEI",
    "MaxUncertainty",
    "ModelPolicy",
    "NoCandidatesLeft",
    "Policy",
    "PolicyConfigError",
    "PolicyError",
    "PolicyInputError",
    "Posterior",
    "RandomPolicy",
    "Raster",
    "SelectionState",
    "SpaceFilling",
    "Thompson",
    "UCB",
    "log_expected_improvement",
    "log_h",
    "raster_order",
    "upper_confidence_bound",
]
