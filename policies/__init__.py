"""Acquisition policies: choose where to measure next."""

from .posterior import JointSampler, Posterior
from .protocol import NoCandidatesLeft, Policy, SelectionState

__all__ = ["JointSampler", "NoCandidatesLeft", "Policy", "Posterior", "SelectionState"]
