"""Surrogate models: structure (image patches or probe coordinates) -> predicted target."""

from .coordinate_gp import CoordinateFitInfo, CoordinateGP
from .dkl import DKLSurrogate, FitInfo
from .errors import (
    SurrogateConfigError,
    SurrogateInputError,
    SurrogateNotFittedError,
    SurrogateStateError,
)
from .exact import ExactPredictor
from .extractors import CNNExtractor, MLPExtractor, PatchEmbedding, build_extractor
from .health import assess_health, latent_spread
from .protocol import HealthReport, Surrogate
from .standardize import TargetScaler
from .threads import torch_threads

__all__ = [
    "CNNExtractor",
    "CoordinateFitInfo",
    "CoordinateGP",
    "DKLSurrogate",
    "ExactPredictor",
    "FitInfo",
    "HealthReport",
    "MLPExtractor",
    "PatchEmbedding",
    "Surrogate",
    "SurrogateConfigError",
    "SurrogateInputError",
    "SurrogateNotFittedError",
    "SurrogateStateError",
    "TargetScaler",
    "assess_health",
    "build_extractor",
    "latent_spread",
    "torch_threads",
]
