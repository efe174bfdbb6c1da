"""Acquisition policies: choose where to measure next.

Model-based: :class:`LogEI`, :class:`UCB`, :class:`MaxUncertainty`, :class:`Thompson` (they explore
with :class:`SpaceFilling` when the posterior is missing or degenerate). Baselines that never look
at a model (``needs_model = False``): :class:`RandomPolicy`, :class:`Raster`, :class:`SpaceFilling`.
"""

from .analytic import AnalyticPolicy
from .errors import PolicyConfigError, PolicyError, PolicyInputError
from .log_ei import LogEI, log_expected_improvement, log_h
from .max_uncertainty import MaxUncertainty
from .model_policy import ModelPolicy
from .posterior import JointSampler, Posterior
from .protocol import NoCandidatesLeft, Policy, SelectionState
from .random_policy import RandomPolicy
from .raster import Raster, raster_order
from .space_filling import SpaceFilling
from .thompson import Thompson
from .ucb import UCB, upper_confidence_bound

__all__ = [
    "AnalyticPolicy",
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
