"""Costs in the decision: probe travel time and dose, as improvement per unit cost.

The cost of measuring candidate ``i`` next, in seconds (dose converted to seconds by a weight)::

    cost_i = overhead_s + exposure_s + travel_s_per_m * |yx_m[i] - yx_m[probe]|
             + dose_weight_s_A2_per_e * local_dose_e_per_A2[i]

The first terms are the instrument time (stage or probe travel from where the probe is now); the
last makes an already irradiated neighbourhood expensive (beam damage). The wrapped policy's
acquisition is divided by that cost: for a log acquisition (``log_acquisition``: log-EI),
``log EI - log cost`` (expected improvement per second, still a log value); for any other
acquisition, its value above the worst selectable one, per second.
"""

from __future__ import annotations

import numpy as np

from .errors import PolicyConfigError, PolicyInputError
from .log_ei import LogEI
from .pool import check_nonnegative, check_q, selectable, top_q
from .posterior import AnyPosterior
from .protocol import ACQUISITION_PHASE, PolicyBase, Selection, SelectionState
from .wrapper import PolicyWrapper

__all__ = ["CostAware", "candidate_costs", "per_unit_cost"]


def candidate_costs(state: SelectionState, overhead_s: float, exposure_s: float, travel_s_per_m: float,
                    dose_weight_s_A2_per_e: float) -> np.ndarray:
    """(n,) float64 cost in seconds of measuring each candidate next (see the module docstring)."""
    n = state.available.shape[0]
    cost = np.full(n, overhead_s + exposure_s, dtype=np.float64)
    if travel_s_per_m > 0:
        if state.yx_m is None:
            raise PolicyInputError("CostAware: state.yx_m is missing; travel costs need candidate positions")
        if state.probe_index >= 0:
            d = np.linalg.norm(np.asarray(state.yx_m) - np.asarray(state.yx_m)[state.probe_index], axis=1)
            cost += travel_s_per_m * d
    if dose_weight_s_A2_per_e > 0 and state.local_dose_e_per_A2 is not None:
        cost += dose_weight_s_A2_per_e * np.asarray(state.local_dose_e_per_A2, dtype=np.float64)
    return cost


def per_unit_cost(values: np.ndarray, cost: np.ndarray, log_values: bool) -> np.ndarray:
    """Acquisition ``values`` (n,) per unit ``cost`` (n,) > 0: ``values - log(cost)`` for a log
    acquisition (log-EI), else the value above the worst finite one divided by the cost (so the
    ranking is defined for acquisitions of any sign, e.g. UCB). Non-finite values stay as they are."""
    values = np.asarray(values, dtype=np.float64)
    cost = np.asarray(cost, dtype=np.float64)
    if log_values:
        return values - np.log(cost)
    finite = np.isfinite(values)
    if not finite.any():
        return values
    floor = np.min(values[finite])
    return (values - floor + 1e-12 * (np.ptp(values[finite]) + 1.0)) / cost


class CostAware(PolicyWrapper):
    """Wrap a policy that has acquisition values (LogEI, UCB, MaxUncertainty, EHVI ...).

    Args:
        policy: the wrapped policy (default ``LogEI()``).
        overhead_s: fixed time per measurement besides the exposure (readout, settling).
        exposure_s: the spectrum exposure.
        travel_s_per_m: probe or stage travel time per metre of distance.
        dose_weight_s_A2_per_e: seconds of cost per e/A^2 already deposited around a candidate.

    Its acquisition is log when the wrapped one's is (``log_acquisition`` is forwarded). Every
    :class:`~policies.protocol.Selection` carries the costs of all candidates (``costs_s``).
    """

    def __init__(self, policy: PolicyBase | None = None, overhead_s: float = 0.005, exposure_s: float = 0.05,
                 travel_s_per_m: float = 0.0, dose_weight_s_A2_per_e: float = 0.0) -> None:
        super().__init__(policy if policy is not None else LogEI())
        if not self.policy.needs_model or not self.policy.has_acquisition:
            raise PolicyConfigError(f"CostAware: {type(self.policy).__name__} has no acquisition values "
                                    "to weigh by cost; wrap LogEI, UCB, MaxUncertainty or EHVI")
        name = "CostAware"
        self.overhead_s = check_nonnegative(name, "overhead_s", overhead_s, "seconds per measurement")
        self.exposure_s = check_nonnegative(name, "exposure_s", exposure_s, "seconds per spectrum")
        self.travel_s_per_m = check_nonnegative(name, "travel_s_per_m", travel_s_per_m, "seconds per metre")
        self.dose_weight_s_A2_per_e = check_nonnegative(name, "dose_weight_s_A2_per_e", dose_weight_s_A2_per_e,
                                                        "seconds of cost per e/A^2 already deposited")
        if self.overhead_s + self.exposure_s <= 0:
            raise PolicyConfigError("CostAware: overhead_s + exposure_s must be > 0 (a measurement costs time)")

    def __repr__(self) -> str:
        return (f"CostAware({self.policy!r}, overhead_s={self.overhead_s}, exposure_s={self.exposure_s}, "
                f"travel_s_per_m={self.travel_s_per_m}, dose_weight_s_A2_per_e={self.dose_weight_s_A2_per_e})")

    def costs(self, state: SelectionState) -> np.ndarray:
        """(n,) float64 cost in seconds of measuring each candidate next (module docstring)."""
        return candidate_costs(state, self.overhead_s, self.exposure_s, self.travel_s_per_m,
                               self.dose_weight_s_A2_per_e)

    def acquisition(self, posterior: AnyPosterior | None, state: SelectionState) -> np.ndarray | None:
        """The wrapped acquisition per second ((n,) float64; log when ``log_acquisition``), or None."""
        values = self.policy.acquisition(posterior, state)
        if values is None:
            return None
        return per_unit_cost(values, self.costs(state), self.policy.log_acquisition)

    def select(self, posterior: AnyPosterior | None, state: SelectionState, q: int = 1) -> Selection:
        """The ``q`` selectable candidates of highest acquisition per second; the wrapped policy's
        own choice (its exploration fallback) when there is no usable posterior or no value yet."""
        q = check_q(q)
        values = None if posterior is None or posterior.degenerate else self.acquisition(posterior, state)
        costs = self.costs(state)
        if values is None:
            inner = self.policy.select(posterior, state, q)
            return Selection(inner.indices, inner.reason, inner.phase, costs)
        assert posterior is not None
        picks = top_q(values, selectable(state, posterior.n), q)
        return Selection(picks, "acquisition per unit cost", ACQUISITION_PHASE, costs)
