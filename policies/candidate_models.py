"""What the gate and prior wrappers need from the candidates and from the image models.

The image models (quality CNN, few-shot scorer, U-Net, particle classifier) live in ``agent.vision``;
the policies reach them only through these declared protocols, never by probing for members. A
model class subclasses the protocol explicitly (``class QualityGate(CandidateGate)``) to inherit
the defaults of the optional members.

* :class:`CandidateView`: the candidate set as the wrappers see it (``agent.candidates.CandidateSet``);
* :class:`OverviewImage`: the overview frame (``drivers.frames.Frame``), or a plain array;
* :class:`CandidateModel`: what gates and priors share (``prepare``, ``describe``);
* :class:`CandidateGate`: says which candidates may be measured (a mask, optionally scores);
* :class:`CandidatePrior`: weighs the candidates in [0, 1];
* :class:`LabelledModel`: learns from the user's labels of candidates sent during a run;
* :class:`Segmenter`: an overview image -> a particle mask;
* :class:`ParticleClassModel`: an overview image and its particle mask -> the class of each particle.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["CandidateView", "OverviewImage", "CandidateModel", "CandidateGate", "CandidatePrior",
           "LabelledModel", "Segmenter", "ParticleClassModel", "overview_image"]


@runtime_checkable
class CandidateView(Protocol):
    """The candidate grid (``agent.candidates.CandidateSet`` satisfies it)."""

    @property
    def n(self) -> int:
        """Number of candidates."""
        ...

    @property
    def frame_id(self) -> str:
        """The overview frame the candidates come from."""
        ...

    @property
    def yx_px(self) -> np.ndarray:
        """(n, 2) int64 overview pixel (row, col) of each candidate."""
        ...

    @property
    def image_shape(self) -> tuple[int, int]:
        """(ny, nx) of the overview."""
        ...


@runtime_checkable
class OverviewImage(Protocol):
    """An overview frame (``drivers.frames.Frame``): its ``data`` is the (ny, nx) image."""

    @property
    def data(self) -> np.ndarray:
        ...


def overview_image(owner: str, overview: OverviewImage | np.ndarray | None) -> np.ndarray:
    """The (ny, nx) image of ``overview`` (a frame or an array); ``owner`` names the caller in the
    error raised when it is None (``prepare(candidates, overview)`` called without the frame)."""
    from .errors import PolicyInputError

    if overview is None:
        raise PolicyInputError(f"{owner} needs the overview: call prepare(candidates, overview) with "
                               "the overview frame")
    return np.asarray(overview) if isinstance(overview, np.ndarray) else np.asarray(overview.data)


class CandidateModel(Protocol):
    """What gates and priors share. Subclass it (or a protocol below) to get the defaults."""

    def prepare(self, candidates: CandidateView, overview: OverviewImage | None = None) -> object:
        """Look at a new candidate set once (compute embeddings, segment the overview). Default:
        nothing."""
        return None

    def describe(self) -> dict[str, Any]:
        """JSON-ready description for the run's record: at least ``{"gate": class name}``, plus
        the model's own validation figures and training time when it has them."""
        return {"gate": type(self).__name__}


@runtime_checkable
class CandidateGate(CandidateModel, Protocol):
    """Says which candidates may receive an expensive measurement.

    Attributes:
        has_scores: True when :meth:`gate_scores` returns values (then a threshold override of
            :class:`~policies.gated.GatedPolicy` applies).
        threshold: the gate's own score threshold, or None; for a scored gate
            ``gate_mask == (gate_scores >= threshold)``.
    """

    has_scores: bool = False
    threshold: float | None = None

    def gate_mask(self, candidates: CandidateView, overview: OverviewImage | None = None) -> np.ndarray:
        """(n,) bool over the candidates: True = may be measured."""
        ...

    def gate_scores(self, candidates: CandidateView) -> np.ndarray | None:
        """(n,) float64 scores in [0, 1] (higher = more likely to pass), or None (default)."""
        return None


@runtime_checkable
class CandidatePrior(CandidateModel, Protocol):
    """Weighs the candidates: what looks like the user's examples, what lies near a particle."""

    def weights(self, candidates: CandidateView, overview: OverviewImage | None = None) -> np.ndarray:
        """(n,) float64 weights in [0, 1] over the candidates (computed once per overview)."""
        ...


class LabelledModel(CandidateModel):
    """A gate's or prior's image model that learns from labels the user sends during a run
    (``autoscope-ctl RUN_DIR label Y X positive``), e.g. ``agent.vision.FewShotCandidateScorer``.

    Not a structural protocol: a model takes labels only when its class derives from this one, so
    ``isinstance(model, LabelledModel)`` is the loop's declared question (nothing is probed).
    """

    def update(self, candidates: CandidateView, index: int, label: bool) -> object:
        """Learn that candidate ``index`` of ``candidates`` does (``label`` True) or does not show
        the feature. The caller prepares the policy again afterwards (new mask or weights)."""
        raise NotImplementedError


@runtime_checkable
class Segmenter(Protocol):
    """Segments an overview (``agent.vision.ParticleSegmenter``). Subclass it for the default
    ``describe``."""

    def predict(self, image: np.ndarray) -> np.ndarray:
        """(ny, nx) bool particle mask of the (ny, nx) image."""
        ...

    def describe(self) -> dict[str, Any]:
        """JSON-ready ``{"type": class name}`` plus training time and figures when it has them."""
        return {"type": type(self).__name__}


@runtime_checkable
class ParticleClassModel(Protocol):
    """Classifies the particles of a segmented overview (``agent.vision.ParticleClassifier``)."""

    @property
    def classes(self) -> list[str]:
        """The class names it knows (raises when untrained)."""
        ...

    def classify_particles(self, image: np.ndarray, particles: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
        """Label the connected particles of the (ny, nx) bool mask ``particles`` of ``image``.

        Returns:
            ``(labels, kinds)``: (ny, nx) int label image (0 = background) and the class name of
            each particle label it classified (small components may be left out).
        """
        ...

    def describe(self) -> dict[str, Any]:
        """JSON-ready ``{"type": class name}`` plus what it knows (classes), for the record."""
        return {"type": type(self).__name__}
