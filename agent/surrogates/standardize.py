"""Target standardisation: reward units <-> zero-mean, unit-variance GP units.

A fresh :class:`TargetScaler` is computed from the training targets at every ``fit`` (never carried
over from an earlier fit: DESIGN.md warns about stale ``Standardize`` buffers when warm-starting).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from botorch.models.transforms.outcome import Standardize

__all__ = ["TargetScaler"]


@dataclass(frozen=True)
class TargetScaler:
    """Affine map ``y_std = (y - mean) / std``.

    Args:
        mean: mean of the training targets, reward units.
        std: sample standard deviation (ddof=1, as botorch's ``Standardize``) of the training
            targets, reward units; 1.0 when the targets are constant (guard against std = 0).
        constant: True when the targets carry no spread (a single target, or all equal up to
            round-off); the model then cannot learn anything from them.
    """

    mean: float
    std: float
    constant: bool

    @classmethod
    def from_targets(cls, y: np.ndarray, rel_tol: float = 1e-12) -> TargetScaler:
        """Scaler of ``y`` (n,) float64. The std counts as zero below ``rel_tol * |mean|``."""
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if y.size == 0:
            raise ValueError("TargetScaler.from_targets: y is empty")
        mean = float(np.mean(y))
        std = float(np.std(y, ddof=1)) if y.size > 1 else 0.0
        floor = rel_tol * max(abs(mean), np.finfo(np.float64).tiny)
        if not np.isfinite(std) or std <= floor:
            return cls(mean=mean, std=1.0, constant=True)
        return cls(mean=mean, std=std, constant=False)

    def transform(self, y: np.ndarray) -> np.ndarray:
        """Reward units -> standardised units, float64 of the same shape."""
        return (np.asarray(y, dtype=np.float64) - self.mean) / self.std

    def untransform_mean(self, mean_std: np.ndarray) -> np.ndarray:
        """Standardised predictive mean -> reward units."""
        return np.asarray(mean_std, dtype=np.float64) * self.std + self.mean

    def untransform_std(self, std_std: np.ndarray | float) -> np.ndarray:
        """Standardised standard deviation -> reward units (scale only, no shift)."""
        return np.asarray(std_std, dtype=np.float64) * self.std

    @property
    def target_spread(self) -> float:
        """Std of the training targets for health checks: 0.0 when they were constant."""
        return 0.0 if self.constant else self.std

    def as_outcome_transform(self, dtype: torch.dtype = torch.float64) -> Standardize:
        """A botorch ``Standardize`` in eval mode holding exactly this mean/std.

        Attached to a model trained on standardised targets, it makes ``model.posterior`` return
        reward units. Its buffers are set here, never learned, so they cannot go stale.
        """
        tf = Standardize(m=1, min_stdv=0.0)
        tf.load_state_dict(
            {
                "means": torch.tensor([[self.mean]], dtype=dtype),
                "stdvs": torch.tensor([[self.std]], dtype=dtype),
                "_stdvs_sq": torch.tensor([[self.std**2]], dtype=dtype),
                "_is_trained": torch.tensor(True),
            }
        )
        return tf.eval()
