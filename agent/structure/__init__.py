"""Structure of the overview, learned or described before the first spectrum.

:func:`structure_features` describes every candidate from the whole overview (segmentation,
distances, region size/shape/intensity, neighbours, multi-scale context);
:class:`StructurePropertyModel` is a structure -> property model trained offline on other
specimens (``autoscope-pretrain``) and stored as a file.
"""

from .errors import PretrainedModelError, StructureError
from .features import (
    CONTEXT_SCALES_NM,
    FEATURE_NAMES,
    StructureFeatures,
    otsu_threshold,
    segment,
    structure_features,
)
from .pretrained import INPUT_NAMES, StructurePropertyModel, TrainingSet

__all__ = [
    "CONTEXT_SCALES_NM",
    "FEATURE_NAMES",
    "INPUT_NAMES",
    "PretrainedModelError",
    "StructureError",
    "StructureFeatures",
    "StructurePropertyModel",
    "TrainingSet",
    "otsu_threshold",
    "segment",
    "structure_features",
]
