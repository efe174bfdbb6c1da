"""Several objectives at once: expected hypervolume improvement and a scalarised option.

The loop fits one surrogate per objective and hands these policies a
:class:`~policies.posterior.MultiPosterior`; ``state.y_measured`` is ``(m, k)``.
"""

from __future__ import annotations

import numpy as np

from .analytic import AnalyticPolicy
from .errors import PolicyConfigError, PolicyInputError
from .log_ei import LogEI
from .pareto import default_reference, hypervolume_improvement_2d
from .posterior import AnyPosterior, MultiPosterior, Posterior
from .protocol import PolicyBase, Selection, SelectionState
from .wrapper import PolicyWrapper

__all__ = ["EHVI", "Scalarised"]


def _multi(posterior: AnyPosterior) -> MultiPosterior:
    if not isinstance(posterior, MultiPosterior):
        raise PolicyInputError(f"{type(posterior).__name__}: a multi-objective policy needs one posterior "
                               "per objective (the reward must return a vector, e.g. rewards.compose.Vector)")
    return posterior


def _oriented(state: SelectionState, posterior: MultiPosterior) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = 1.0 if state.maximize else -1.0
    Y = np.asarray(state.y_measured, dtype=np.float64)
    if Y.ndim != 2 or Y.shape[1] != posterior.k:
        raise PolicyInputError(f"state.y_measured has shape {Y.shape}; expected (m, {posterior.k})")
    return s * posterior.mean, posterior.std, s * Y


class EHVI(AnalyticPolicy):
    """Expected hypervolume improvement over the discrete candidate set (two objectives).

    Monte Carlo over independent Gaussian marginals with ``n_samples`` common random numbers; the
    improvement of each sample is exact (:func:`~policies.pareto.hypervolume_improvement_2d`).
    The reference point is ``ref_point`` or, by default, just below the observed minima.

    Args:
        n_samples: Monte Carlo draws per candidate (memory ~ n_samples x candidates x front).
        ref_point: (2,) reference point in reward units (in the maximised direction), or None.
        min_separation_px: as for every analytic policy (batches).
    """

    def __init__(self, n_samples: int = 128, ref_point: list[float] | None = None,
                 min_separation_px: float = 0.0) -> None:
        super().__init__(min_separation_px)
        if int(n_samples) < 1:
            raise PolicyConfigError(f"EHVI: n_samples={n_samples} must be >= 1")
        self.n_samples = int(n_samples)
        self.ref_point = None if ref_point is None else np.asarray(ref_point, dtype=np.float64)

    def _explore_reason(self, posterior: AnyPosterior, state: SelectionState) -> str | None:
        return "explore: nothing measured" if np.asarray(state.y_measured).size == 0 else None

    def _values(self, posterior: AnyPosterior, state: SelectionState) -> np.ndarray:
        multi = _multi(posterior)
        mean, std, Y = _oriented(state, multi)
        if multi.k != 2:
            raise PolicyConfigError(f"EHVI handles 2 objectives, this run has {multi.k}; "
                                    "use policy=scalarised for more")
        ref = self.ref_point if self.ref_point is not None else default_reference(Y)
        # common random numbers, seeded from the experiment's generator (reproducible)
        z = state.rng.standard_normal((self.n_samples, 1, 2))
        out = np.zeros(multi.n)
        for start in range(0, multi.n, 4096):
            m, s = mean[start:start + 4096], std[start:start + 4096]
            samples = m[None] + s[None] * z  # (S, b, 2)
            out[start:start + 4096] = hypervolume_improvement_2d(samples, Y, ref).mean(axis=0)
        return out


class Scalarised(PolicyWrapper):
    """Weighted sum of standardised objectives, then any single-objective policy (e.g. LogEI).

    Each objective is standardised by the mean and std of its measured values; the scalarised
    posterior of independent Gaussians is Gaussian (mean ``sum w_j mu_j``, variance
    ``sum w_j^2 sigma_j^2``), so the inner policy sees an exact posterior. A wrapper: the flags
    (``log_acquisition``...) are the inner policy's.

    Args:
        policy: the single-objective policy to apply (``LogEI()`` by default).
        weights: (k,) non-negative weights (default equal).
    """

    def __init__(self, policy: PolicyBase | None = None, weights: list[float] | None = None) -> None:
        super().__init__(policy if policy is not None else LogEI())
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        if self.weights is not None and (np.any(self.weights < 0) or self.weights.sum() <= 0):
            raise PolicyConfigError(f"Scalarised: weights={weights} must be >= 0 and not all zero")

    def scalarise(self, posterior: AnyPosterior,
                  state: SelectionState) -> tuple[Posterior, SelectionState]:
        """The scalar posterior and a state whose ``y_measured`` is scalarised the same way."""
        if not isinstance(posterior, MultiPosterior):
            raise PolicyInputError("Scalarised needs one posterior per objective (a vector reward)")
        Y = np.asarray(state.y_measured, dtype=np.float64)
        k = posterior.k
        w = np.full(k, 1.0 / k) if self.weights is None else self.weights / self.weights.sum()
        if w.size != k:
            raise PolicyConfigError(f"Scalarised: {w.size} weights for {k} objectives")
        mu = Y.mean(axis=0) if Y.size else np.zeros(k)
        sd = Y.std(axis=0) if Y.shape[0] > 1 else np.ones(k)
        sd = np.where(sd > 0, sd, 1.0)
        mean = ((posterior.mean - mu) / sd) @ w
        std = np.sqrt(((posterior.std / sd) ** 2) @ (w**2))
        scalar = Posterior(mean, std, degenerate=posterior.degenerate)
        y = ((Y - mu) / sd) @ w if Y.size else np.zeros(0)
        from dataclasses import replace

        return scalar, replace(state, y_measured=y)

    def select(self, posterior: AnyPosterior | None, state: SelectionState, q: int = 1) -> Selection:
        """The inner policy's choice on the scalarised posterior (its own exploration fallback
        without a posterior)."""
        if posterior is None:
            return self.policy.select(None, state, q)
        scalar, sstate = self.scalarise(posterior, state)
        return self.policy.select(scalar, sstate, q)

    def acquisition(self, posterior: AnyPosterior | None, state: SelectionState) -> np.ndarray | None:
        if posterior is None:
            return None
        scalar, sstate = self.scalarise(posterior, state)
        return self.policy.acquisition(scalar, sstate)
