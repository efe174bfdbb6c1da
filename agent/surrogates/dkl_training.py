"""What a DKL fit does and reports: the full-batch Adam loop on the exact marginal likelihood
(network and GP hyperparameters together, each with its own learning rate) and :class:`FitInfo`."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from botorch.models import SingleTaskGP
from gpytorch.mlls import ExactMarginalLogLikelihood
from linear_operator.utils.errors import NotPSDError

from .protocol import HealthReport

__all__ = ["FitInfo", "adam_exact_mll"]


@dataclass(frozen=True)
class FitInfo:
    """What the last ``fit`` did.

    Args:
        n: number of training points.
        iterations: Adam iterations run (fewer than asked only if the loss went non-finite or the
            kernel matrix stopped being positive definite).
        from_scratch: True when the network and GP were (re)initialised before training.
        reinitialised: True when that was a recovery from a collapsed latent space (new seed).
        seed: the initialisation seed of the network now in use.
        final_loss: negative exact marginal log-likelihood per point at the last iteration
            (standardised units); NaN when no iteration ran.
        seconds: wall time of the fit.
        health: health judged on the training inputs at the end of the fit.
    """

    n: int
    iterations: int
    from_scratch: bool
    reinitialised: bool
    seed: int
    final_loss: float
    seconds: float
    health: HealthReport


def adam_exact_mll(model: SingleTaskGP, net: torch.nn.Module, lr_network: float, lr: float, iterations: int,
                   logger: logging.Logger) -> tuple[int, float]:
    """Full-batch Adam on ``model``'s exact MLL, ``net``'s weights at ``lr_network`` and the GP's
    hyperparameters at ``lr``; stops early (with a warning) on a non-PSD kernel or a non-finite
    loss. Returns (iterations run, last loss per point, standardised units; NaN when none ran)."""
    model.train()
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    net_params = list(net.parameters())
    net_ids = {id(p) for p in net_params}
    gp_params = [p for p in model.parameters() if id(p) not in net_ids]
    optimizer = torch.optim.Adam(
        [{"params": net_params, "lr": lr_network}, {"params": gp_params, "lr": lr}],
        foreach=True,
    )
    train_x = model.train_inputs[0]
    train_y = model.train_targets
    done, last = 0, float("nan")
    for _ in range(iterations):
        optimizer.zero_grad(set_to_none=True)
        try:
            loss = -mll(model(train_x), train_y)
        except NotPSDError as exc:
            logger.warning("DKL fit stopped after %d iterations: %s", done, exc)
            break
        if not torch.isfinite(loss):
            logger.warning("DKL fit stopped after %d iterations: non-finite loss", done)
            break
        loss.backward()
        optimizer.step()
        done += 1
        last = float(loss.detach())
    return done, last
