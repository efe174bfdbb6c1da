"""The ``Surrogate`` protocol (scikit-learn style ``fit`` / ``posterior``) and its health report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from policies.posterior import Posterior

__all__ = ["Surrogate", "HealthReport"]


@dataclass(frozen=True)
class HealthReport:
    """Is the fitted surrogate informative?

    Args:
        ok: False when the policy should explore rather than trust the model.
        collapsed: the learned latent space shrank to (nearly) a point relative to the kernel
            lengthscale: every candidate looks alike to the GP.
        flat: the predicted mean over the candidates barely varies relative to the spread of the
            measured targets (a constant prediction).
        latent_spread: median latent distance between candidates in lengthscale units.
        mean_spread: std of the predicted mean over candidates / std of the training targets.
        message: one line for the log.
    """

    ok: bool
    collapsed: bool = False
    flat: bool = False
    latent_spread: float = float("nan")
    mean_spread: float = float("nan")
    message: str = ""


@runtime_checkable
class Surrogate(Protocol):
    #: which candidate representation ``fit``/``posterior`` take: image ``"patches"`` (n, h, w)
    #: float32, or probe ``"coords"`` (n, 2) float64 scaled to [0, 1].
    input_kind: Literal["patches", "coords"]

    def fit(self, X: np.ndarray, y: np.ndarray) -> "Surrogate":
        """Fit (or warm-start refit) on ``X`` (n, ...) and targets ``y`` (n,) in reward units."""
        ...

    def posterior(self, X: np.ndarray) -> Posterior:
        """Predictive mean/std at ``X`` (m, ...); embeds the inputs once, no m x m covariance."""
        ...

    def health(self, X: np.ndarray | None = None) -> HealthReport:
        """Health of the last fit, judged over ``X`` (the candidates) when given."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: weights (tensors), standardisation, fit counters."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...
