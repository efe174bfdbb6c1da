"""The ``Surrogate`` protocol (scikit-learn style ``fit`` / ``posterior``) and its health report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

from policies.posterior import Posterior

from .errors import SurrogateStateError

if TYPE_CHECKING:
    from agent.candidates import CandidateSet

__all__ = ["Surrogate", "SurrogateBase", "HealthReport"]


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
        memorising: the model fits its training points almost perfectly but predicts left-out
            ones poorly (leave-one-out check); it is not trusted.
        loo_r2: leave-one-out R^2 of the model on the measured points (standardised units).
        loo_coverage: share of left-out targets inside their 95 % predictive interval.
    """

    ok: bool
    collapsed: bool = False
    flat: bool = False
    latent_spread: float = float("nan")
    mean_spread: float = float("nan")
    message: str = ""
    memorising: bool = False
    loo_r2: float = float("nan")
    loo_coverage: float = float("nan")


@runtime_checkable
class Surrogate(Protocol):
    """What the loop needs of a model.

    Required: ``fit`` and ``posterior``. Optional, with defaults on :class:`SurrogateBase` (inherit
    it, then override what the model knows better): ``input_kind`` and ``inputs`` (image patches),
    ``fit_summary`` (``{}``), ``health`` (trusted: ``ok=True``), ``state_dict`` /
    ``load_state_dict`` (nothing saved: a resumed run refits the model on the journaled data). The
    loop calls every member directly, never probing for it.
    """

    #: which candidate representation ``fit``/``posterior`` take: image ``"patches"`` (n, h, w)
    #: float32, probe ``"coords"`` (n, 2) float64 scaled to [0, 1], or ``"features"`` (n, d)
    #: float64 the surrogate computes itself from the candidate set (:meth:`inputs`).
    input_kind: Literal["patches", "coords", "features"]

    def inputs(self, candidates: CandidateSet) -> np.ndarray:
        """This model's representation of every candidate: the rows ``fit``/``posterior`` take."""
        ...

    def fit_summary(self) -> dict[str, Any]:
        """What the last fit found, for the record (model chosen, leave-one-out R^2 and coverage,
        training R^2); ``{}`` when there is nothing to say."""
        ...

    def fit(self, X: np.ndarray, y: np.ndarray) -> Surrogate:
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


class SurrogateBase:
    """Defaults of the optional parts of :class:`Surrogate` (inherit, then override).

    A subclass provides ``fit`` and ``posterior``; the defaults here say "nothing to report, nothing
    to save"."""

    input_kind: Literal["patches", "coords", "features"] = "patches"

    def inputs(self, candidates: CandidateSet) -> np.ndarray:
        """``candidates.patches`` for ``input_kind = "patches"``, ``candidates.coords01`` for
        ``"coords"``; a ``"features"`` surrogate must override this."""
        if self.input_kind == "patches":
            return candidates.patches
        if self.input_kind == "coords":
            return candidates.coords01
        raise NotImplementedError(
            f"{type(self).__name__}.inputs: input_kind={self.input_kind!r} needs its own inputs()"
        )

    def fit_summary(self) -> dict[str, Any]:
        """Nothing beyond the health report by default."""
        return {}

    def health(self, X: np.ndarray | None = None) -> HealthReport:
        """No health check of its own: the model is trusted (``ok=True``, empty message)."""
        return HealthReport(ok=True)

    def state_dict(self) -> dict[str, Any]:
        """Nothing to save (``{}``): a resumed run refits the model on the journaled data."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Accept the empty state of :meth:`state_dict`; refuse one saved by a model that keeps
        state (it would be silently lost)."""
        if state:
            raise SurrogateStateError(
                f"{type(self).__name__}.load_state_dict: this model keeps no state, got keys "
                f"{sorted(state)[:6]}; build the surrogate the checkpoint was saved with"
            )
