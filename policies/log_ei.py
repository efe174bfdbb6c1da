"""Analytic log expected improvement, numerically stable far below the incumbent.

With ``u = (mean - best_f - xi) / std`` the expected improvement is ``EI = std * h(u)`` where
``h(u) = phi(u) + u * Phi(u)`` (standard normal density and distribution). ``h`` underflows to 0
in float64 near ``u = -38``, so plain EI cannot rank candidates there; ``log h`` stays finite:

* ``u > -1``: ``log(phi(u) + u * Phi(u))`` directly (no cancellation);
* ``-1000 < u <= -1``: ``log phi(u) + log1mexp(log(-u) + log erfcx(-u / sqrt 2) + log sqrt(pi / 2))``,
  from ``h(u) = phi(u) * (1 - |u| * Phi(u) / phi(u))`` and ``Phi(u) / phi(u) = sqrt(pi/2) * erfcx(-u / sqrt 2)``;
* ``u <= -1000``: the asymptotic series ``log phi(u) - 2 log(-u) + log1p(-3/u^2 + 15/u^4)``
  (truncation error ~ 1e-22 there, where the branch above would lose ~ eps * u^2 to cancellation).

The branches follow botorch's private ``_log_ei_helper`` (Ament et al. 2023, "Unexpected
improvements to expected improvement"), written here with scipy in float64; the last branch starts
earlier and keeps two series terms (botorch switches at -1e6 with the leading term only).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from .analytic import AnalyticPolicy, signed
from .errors import PolicyInputError
from .model_policy import single_objective
from .pool import check_nonnegative
from .posterior import AnyPosterior
from .protocol import SelectionState

__all__ = ["LogEI", "log_h", "log_expected_improvement", "EXPLORE_NOTHING_MEASURED"]

EXPLORE_NOTHING_MEASURED = "explore: nothing measured"

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_SQRT_PI_2 = 0.5 * math.log(math.pi / 2.0)
_ASYMPTOTE = -1000.0  # below this the asymptotic series is more accurate than log1mexp
_BIG_U = 30.0  # above this, h(u) == u to float64 precision (Phi(-30) ~ 5e-198)


def _log1mexp(x: np.ndarray) -> np.ndarray:
    """``log(1 - exp(x))`` for ``x < 0``, accurate on both sides of ``-log 2`` (Maechler 2012)."""
    out = np.empty_like(x)
    near = x > -math.log(2.0)
    out[near] = np.log(-np.expm1(x[near]))
    out[~near] = np.log1p(-np.exp(x[~near]))
    return out


def log_h(u: np.ndarray) -> np.ndarray:
    """``log(phi(u) + u * Phi(u))``: (k,) float64 in, (k,) float64 out; finite for all finite u."""
    u = np.asarray(u, dtype=np.float64)
    out = np.empty_like(u)
    upper = u > -1.0
    tail = u <= _ASYMPTOTE
    middle = ~upper & ~tail
    uu = u[upper]
    out[upper] = np.log(np.exp(-0.5 * uu * uu - _LOG_SQRT_2PI) + uu * special.ndtr(uu))
    um = u[middle]
    log_phi = -0.5 * um * um - _LOG_SQRT_2PI
    out[middle] = log_phi + _log1mexp(np.log(-um) + np.log(special.erfcx(-um / math.sqrt(2.0)))
                                      + _LOG_SQRT_PI_2)
    ut = u[tail]
    inv2 = 1.0 / (ut * ut)
    out[tail] = -0.5 * ut * ut - _LOG_SQRT_2PI - 2.0 * np.log(-ut) + np.log1p(inv2 * (-3.0 + 15.0 * inv2))
    return out


def log_expected_improvement(mean: np.ndarray, std: np.ndarray, best_f: float, xi: float = 0.0) -> np.ndarray:
    """``log E[max(f - best_f - xi, 0)]`` for ``f ~ N(mean, std^2)``, maximisation convention.

    Args:
        mean: (k,) float64 predictive mean (reward units).
        std: (k,) float64 predictive std >= 0 (same units).
        best_f: finite incumbent (same units).
        xi: margin >= 0 the improvement must exceed (same units).

    Returns:
        (k,) float64 log EI (log of reward units); ``-inf`` only where ``std == 0`` and
        ``mean <= best_f + xi`` (EI is exactly 0 there).
    """
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    if not math.isfinite(best_f):
        raise PolicyInputError(f"log_expected_improvement: best_f={best_f} must be finite")
    diff = mean - best_f - xi
    out = np.full(mean.shape, -np.inf)
    pos = std > 0
    with np.errstate(divide="ignore", over="ignore"):
        u = np.where(pos, diff / np.where(pos, std, 1.0), 0.0)
    big = (pos & (u > _BIG_U)) | (~pos & (diff > 0))
    out[big] = np.log(diff[big])
    rest = pos & ~big
    out[rest] = log_h(u[rest]) + np.log(std[rest])
    return out


class LogEI(AnalyticPolicy):
    """Analytic log expected improvement over the best measured value ``state.best_f``.

    The acquisition value is ``log EI`` (log of reward units), computed stably (see the module
    docstring) so candidates far below the incumbent still rank by their tiny EI instead of all
    tying at 0. For ``state.maximize = False`` the mean and incumbent are negated (improvement =
    going lower). With nothing measured there is no incumbent: it explores (SpaceFilling) with
    the reason ``"explore: nothing measured"``. ``log_acquisition`` is True: a cost or a prior
    weighs it by adding ``-log cost``.

    Args:
        xi: improvement margin >= 0 in reward units (EI over ``best_f + xi``; 0 = plain EI).
        min_separation_px: batch spacing in overview pixels, >= 0 (see ``AnalyticPolicy``).
    """

    log_acquisition = True

    def __init__(self, xi: float = 0.0, min_separation_px: float = 0.0) -> None:
        super().__init__(min_separation_px=min_separation_px)
        self.xi = check_nonnegative("LogEI", "xi", xi, "use 0.0 for plain expected improvement "
                                    "or a margin in reward units")

    def __repr__(self) -> str:
        return f"LogEI(xi={self.xi}, min_separation_px={self.min_separation_px})"

    def _explore_reason(self, posterior: AnyPosterior, state: SelectionState) -> str | None:
        return EXPLORE_NOTHING_MEASURED if np.asarray(state.y_measured).size == 0 else None

    def _values(self, posterior: AnyPosterior, state: SelectionState) -> np.ndarray:
        one = single_objective(posterior, self)
        mean, best = signed(one, state)
        if not math.isfinite(best):
            raise PolicyInputError(f"state.y_measured holds non-finite values (best_f={best}); "
                                   "drop failed measurements before selecting")
        return log_expected_improvement(mean, one.std, best, self.xi)
