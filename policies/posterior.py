"""What a surrogate hands to a policy: the predictive distribution over the candidate set."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["Posterior", "JointSampler", "CrossCovariance", "MultiPosterior", "AnyPosterior"]

#: ``sampler(indices (m,) int, n_samples, rng) -> (n_samples, m)`` joint draws of the latent function
#: at the candidates ``indices`` (same units as ``Posterior.mean``).
JointSampler = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]

#: ``cross(indices (k,) int) -> (n, k)`` posterior covariance between every candidate and the
#: candidates ``indices`` (units of ``Posterior.mean`` squared).
CrossCovariance = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True, eq=False)
class Posterior:
    """Marginal predictive mean and standard deviation of the target at every candidate.

    Args:
        mean: (n,) float64, in the reward's units.
        std: (n,) float64 >= 0, same units (latent function, observation noise excluded).
        noise_std: the fitted observation noise, same units.
        sampler: optional joint sampler (Thompson sampling, batch acquisitions).
        degenerate: True when the surrogate's health check found it uninformative (collapsed latent
            space or flat prediction); policies that honour it explore instead of exploiting.
        cross_covariance: optional, lets :meth:`fantasize` condition on pending points.
    """

    mean: np.ndarray
    std: np.ndarray
    noise_std: float = 0.0
    sampler: JointSampler | None = None
    degenerate: bool = False
    cross_covariance: CrossCovariance | None = None

    def __post_init__(self) -> None:
        mean = np.asarray(self.mean, dtype=np.float64).reshape(-1)
        std = np.asarray(self.std, dtype=np.float64).reshape(-1)
        if mean.shape != std.shape:
            raise ValueError(f"Posterior: mean {mean.shape} and std {std.shape} differ")
        if not np.all(np.isfinite(mean)) or not np.all(np.isfinite(std)):
            raise ValueError("Posterior: mean and std must be finite")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", np.maximum(std, 0.0))

    @property
    def n(self) -> int:
        return int(self.mean.shape[0])

    def fantasize(self, pending: np.ndarray) -> Posterior:
        """Condition on the ``pending`` candidates as if they had been measured at their predicted
        mean (the "kriging believer", as botorch does for pending points): the mean is unchanged,
        the variance shrinks around them, so a pipelined decision does not pick the neighbour of a
        point already being measured. Without ``cross_covariance`` the posterior comes back as is.

        ``Sigma' = Sigma - Sigma[:, P] (Sigma[P, P] + noise^2 I)^-1 Sigma[P, :]`` (diagonal only).
        The joint ``sampler`` is kept as it was (not conditioned).
        """
        idx = np.unique(np.asarray(pending, dtype=np.int64).reshape(-1))
        if idx.size == 0 or self.cross_covariance is None:
            return self
        c = np.asarray(self.cross_covariance(idx), dtype=np.float64)  # (n, k)
        kpp = c[idx] + (self.noise_std**2 + 1e-12 * max(float(np.max(self.std) ** 2), 1e-300)) * np.eye(idx.size)
        solved = np.linalg.solve(kpp, c.T)  # (k, n)
        var = np.clip(self.std**2 - np.einsum("nk,kn->n", c, solved), 0.0, None)
        return Posterior(self.mean, np.sqrt(var), self.noise_std, self.sampler, self.degenerate,
                         self.cross_covariance)


@dataclass(frozen=True, eq=False)
class MultiPosterior:
    """Independent posteriors of ``k`` objectives over the same candidates (one surrogate each).

    ``mean`` and ``std`` are ``(n, k)`` float64; ``degenerate`` is True when any objective's model is.
    """

    marginals: tuple[Posterior, ...]

    def __post_init__(self) -> None:
        if len(self.marginals) < 2:
            raise ValueError("MultiPosterior needs at least two objectives")
        n = {p.n for p in self.marginals}
        if len(n) != 1:
            raise ValueError(f"MultiPosterior: objectives cover different candidate counts {sorted(n)}")
        object.__setattr__(self, "marginals", tuple(self.marginals))

    @property
    def n(self) -> int:
        return self.marginals[0].n

    @property
    def k(self) -> int:
        return len(self.marginals)

    @property
    def mean(self) -> np.ndarray:
        return np.stack([p.mean for p in self.marginals], axis=1)

    @property
    def std(self) -> np.ndarray:
        return np.stack([p.std for p in self.marginals], axis=1)

    @property
    def degenerate(self) -> bool:
        return any(p.degenerate for p in self.marginals)


#: What a policy's ``select`` and ``acquisition`` are handed: one objective's :class:`Posterior`, or
#: a :class:`MultiPosterior` when the reward returns a vector (one surrogate per objective).
AnyPosterior = Posterior | MultiPosterior
