"""Surrogate models: structure (image patches or probe coordinates) -> predicted target.

:class:`DKLSurrogate` (gpytorch, botorch-wrapped; the default), :class:`CoordinateGP` (no image),
:class:`GpaxViDKL` (the gpax reference model, warm-started; needs the ``gpax`` extra, imported
only when fitted).
"""

from .coordinate_gp import CoordinateFitInfo, CoordinateGP
from .dkl import DKLSurrogate, FitInfo
from .errors import (
    SurrogateConfigError,
    SurrogateError,
    SurrogateInputError,
    SurrogateNotFittedError,
    SurrogateStateError,
)
from .exact import ExactPredictor
from .extractors import CNNExtractor, MLPExtractor, PatchEmbedding, build_extractor
from .feature_gp import FeatureGP
from .gpax_vidkl import GpaxFitError, GpaxFitInfo, GpaxUnavailable, GpaxViDKL
from .health import assess_health, latent_spread
from .loo import LooCache, LooScores, loo_scores, loo_summary
from .protocol import HealthReport, Surrogate, SurrogateBase
from .shell import ExactGPShell, GPShell
from .standardize import TargetScaler
from .structure_gp import StructureFitInfo, StructureGP
from .threads import torch_threads

__all__ = [
    "CNNExtractor",
    "CoordinateFitInfo",
    "CoordinateGP",
    "DKLSurrogate",
    "ExactGPShell",
    "ExactPredictor",
    "FeatureGP",
    "LooCache",
    "LooScores",
    "FitInfo",
    "GPShell",
    "GpaxFitError",
    "GpaxFitInfo",
    "GpaxUnavailable",
    "GpaxViDKL",
    "HealthReport",
    "MLPExtractor",
    "PatchEmbedding",
    "StructureFitInfo",
    "StructureGP",
    "Surrogate",
    "SurrogateBase",
    "SurrogateConfigError",
    "SurrogateError",
    "SurrogateInputError",
    "SurrogateNotFittedError",
    "SurrogateStateError",
    "TargetScaler",
    "assess_health",
    "build_extractor",
    "latent_spread",
    "loo_scores",
    "loo_summary",
    "torch_threads",
]
