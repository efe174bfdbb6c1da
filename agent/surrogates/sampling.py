"""Joint posterior samplers handed to policies inside :class:`policies.posterior.Posterior`."""

from __future__ import annotations

import numpy as np
import torch

from policies.posterior import JointSampler

from .errors import SurrogateInputError
from .exact import ExactPredictor
from .inputs import as_indices
from .standardize import TargetScaler
from .threads import torch_threads

__all__ = ["check_sampler_args", "make_joint_sampler", "make_cross_covariance"]


def check_sampler_args(indices: np.ndarray, n_samples: int, rng: np.random.Generator, m: int) -> np.ndarray:
    """Validate a ``Posterior.sampler`` call over ``m`` candidates; returns the (k,) int64 indices."""
    owner = "Posterior.sampler"
    idx = as_indices(indices, m, owner)
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise SurrogateInputError(f"{owner}: n_samples={n_samples!r} must be an integer >= 1")
    if not isinstance(rng, np.random.Generator):
        raise SurrogateInputError(
            f"{owner}: rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    return idx

def make_joint_sampler(
    predictor: ExactPredictor, latent: torch.Tensor, scaler: TargetScaler, threads: int
) -> JointSampler:
    """A ``sampler(indices (k,) int, n_samples, rng) -> (n_samples, k) float64`` in reward units.

    Args:
        predictor: the fitted GP (a frozen snapshot: later refits do not change the draws).
        latent: (m, d) float64 inputs of all candidates as the kernel sees them; ``indices`` refer
            to its rows. Only the k x k covariance of the requested rows is ever formed.
        scaler: maps standardised draws back to reward units.
        threads: torch threads while sampling.

    The draws use a torch generator seeded from ``rng`` (one integer drawn from it), so the same
    ``rng`` state gives the same samples.
    """
    latent = latent.detach().to(torch.float64)
    m = int(latent.shape[0])

    def sampler(indices: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        idx = check_sampler_args(indices, n_samples, rng, m)
        generator = torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))
        with torch_threads(threads):
            draws = predictor.sample(latent[torch.as_tensor(idx)], int(n_samples), generator)
        return scaler.untransform_mean(draws.numpy())

    return sampler


def make_cross_covariance(predictor: ExactPredictor, latent: torch.Tensor, scaler: TargetScaler, threads: int):
    """A ``cross(indices (k,) int) -> (m, k) float64``: posterior covariance between every candidate
    and the candidates ``indices``, in reward units squared (for fantasised pending points)."""
    latent = latent.detach().to(torch.float64)
    m = int(latent.shape[0])
    scale2 = float(scaler.untransform_std(np.ones(1))[0]) ** 2

    def cross(indices: np.ndarray) -> np.ndarray:
        idx = as_indices(indices, m, "Posterior.cross_covariance")
        with torch_threads(threads):
            cov = predictor.cross_covariance(latent, latent[torch.as_tensor(idx)])
        return cov.numpy() * scale2

    return cross

