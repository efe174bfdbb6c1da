"""Switching-spectroscopy (PFM / BEPS) hysteresis-loop rewards.

The axis is the DC bias in volts in *sweep order*: not monotonic (a triangle 0 -> +Vmax -> -Vmax
-> 0), so nothing here sorts it. The spectrum is the response (e.g. amplitude x cos(phase)) at each
bias step, in any units. The loop is the polygon through ``(bias[i], response[i])`` in sweep order,
closed from the last sample back to the first.

Branches: the *up* branch is every segment ``i -> i+1`` along which the bias rises, the *down*
branch every segment along which it falls (segments at constant bias belong to neither).
The *mid level* is ``(max + min) / 2`` of the response over the whole loop. The coercive bias of a
branch is where the response crosses the mid level on it, by linear interpolation inside the
crossing segment; if noise makes a branch cross more than once, the median crossing is used.
``V+`` is the up-branch crossing, ``V-`` the down-branch crossing.

Spikes: recorded loops carry single-point spikes far larger than the loop (see
``../shared/data/README.md``); every reward here takes ``despike=True`` to run :func:`despike` first.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._config import choice, odd_window, positive, units_arg
from ._repr import format_repr
from .errors import InvalidRewardConfig, RewardError, WrongAxis
from .protocol import RewardBase, integral_units
from .validation import check_spectrum

__all__ = [
    "despike",
    "coercive_biases",
    "LoopArea",
    "LoopHeight",
    "CoerciveBias",
    "Imprint",
]


def despike(curve: np.ndarray, k: int = 3, threshold: float = 5.0, floor: float = 0.01) -> np.ndarray:
    """Replace isolated spikes along the last axis by the running median.

    ``median_k`` is the running median over ``k`` samples (ends padded by repeating the end
    samples) and ``residual = curve - median_k(curve)``. The noise scale is fixed from the input:
    ``scale = max(1.4826 * MAD(residual), floor * ptp(median_k(curve)))`` (the robust standard
    deviation of the residual, floored so that a noiseless curve is left alone). Then, pass after
    pass, every sample with ``|residual| > threshold * scale`` that is also the largest ``|residual|``
    within ``k // 2`` samples either side is replaced by its running median, and the residuals are
    recomputed; it stops when a pass replaces nothing. Keeping only the local maxima per pass stops
    a good sample squeezed between two spikes (spike, good, spike) from being replaced by a spike
    value. A run of up to ``k // 2`` adjacent spikes is removed (``k=3``: single points; ``k=5``
    also pairs).

    Args:
        curve: (..., n) float array; each 1-D curve along the last axis is treated on its own.
        k: odd running-median length >= 3.
        threshold: spike threshold in robust standard deviations (> 0).
        floor: the scale floor as a fraction of the running median's peak-to-peak (>= 0).

    Returns:
        (..., n) float64 copy with spikes replaced.
    """
    k = odd_window(k, "k", "despike")
    threshold = positive(threshold, "threshold", "despike")
    floor = positive(floor, "floor", "despike", allow_zero=True)
    c = np.array(curve, dtype=np.float64)
    if c.ndim == 0 or c.shape[-1] < k:
        raise InvalidRewardConfig(
            f"despike: the curve needs at least k={k} samples along its last axis, got shape {c.shape}"
        )
    h = k // 2
    pad = [(0, 0)] * (c.ndim - 1) + [(h, h)]

    def running_median(a: np.ndarray) -> np.ndarray:
        return np.median(np.lib.stride_tricks.sliding_window_view(np.pad(a, pad, mode="edge"), k, axis=-1), axis=-1)

    med = running_median(c)
    resid = c - med
    mad = np.median(np.abs(resid - np.median(resid, axis=-1, keepdims=True)), axis=-1, keepdims=True)
    limit = threshold * np.maximum(1.4826 * mad, floor * np.ptp(med, axis=-1, keepdims=True))
    for _ in range(c.shape[-1]):
        size = np.abs(resid)
        neighbourhood = np.lib.stride_tricks.sliding_window_view(
            np.pad(size, pad, mode="constant"), k, axis=-1
        ).max(axis=-1)
        spikes = (size > limit) & (size >= neighbourhood)
        if not spikes.any():
            break
        c = np.where(spikes, med, c)
        med = running_median(c)
        resid = c - med
    return c


def _crossings(v: np.ndarray, r: np.ndarray, level: float, direction: int) -> np.ndarray:
    """Biases where ``r`` crosses ``level`` on segments whose bias moves in ``direction`` (+1 / -1)."""
    v0, v1, r0, r1 = v[:-1], v[1:], r[:-1], r[1:]
    dv = v1 - v0
    on_branch = np.sign(dv) == direction
    cross = on_branch & ((r0 < level) != (r1 < level))
    t = (level - r0[cross]) / (r1[cross] - r0[cross])
    return v0[cross] + t * dv[cross]


def _values_at_zero(v: np.ndarray, r: np.ndarray, direction: int) -> np.ndarray:
    """Response interpolated at zero bias on every ``direction`` segment that spans 0 V."""
    v0, v1, r0, r1 = v[:-1], v[1:], r[:-1], r[1:]
    dv = v1 - v0
    spans = (np.sign(dv) == direction) & (np.minimum(v0, v1) <= 0.0) & (np.maximum(v0, v1) >= 0.0)
    t = (0.0 - v0[spans]) / dv[spans]
    return r0[spans] + t * (r1[spans] - r0[spans])


def coercive_biases(bias_V: np.ndarray, response: np.ndarray) -> tuple[float, float]:
    """``(V+, V-)``: mid-level crossings of the up and down branches (see the module docstring).

    Args:
        bias_V: (n,) float64 bias in sweep order.
        response: (n,) float64 response.

    Raises:
        RewardError: the response is flat, or a branch never crosses the mid level (no switching).
    """
    lo, hi = float(response.min()), float(response.max())
    if not hi > lo:
        raise RewardError("coercive bias: the response is flat; there is no loop to switch")
    mid = 0.5 * (lo + hi)
    out = []
    for direction, name in ((1, "up (rising-bias)"), (-1, "down (falling-bias)")):
        c = _crossings(bias_V, response, mid, direction)
        if c.size == 0:
            raise RewardError(
                f"coercive bias: the response never crosses its mid level {mid:.6g} on the {name} branch; "
                "the loop does not switch (or the sweep lacks that branch)"
            )
        out.append(float(np.median(c)))
    return out[0], out[1]


class _LoopReward(RewardBase):
    """Shared validation + optional despiking of a loop: ``(bias_V (n,), response (n,))``."""

    _name = "Loop"

    def __init__(self, units: str = "V", despike: bool = True, k: int = 3, threshold: float = 5.0) -> None:
        self.units = units_arg(units, self._name)
        if not isinstance(despike, bool):
            raise InvalidRewardConfig(f"{self._name}.despike must be true or false, got {despike!r}")
        self.despike = despike
        self.k = odd_window(k, "k", self._name)
        self.threshold = positive(threshold, "threshold", self._name)

    def _loop(self, spectrum: np.ndarray, axis: Any) -> tuple[np.ndarray, np.ndarray]:
        v, r = check_spectrum(spectrum, axis, self.units, self._name)
        if v.size < 4:
            raise WrongAxis(f"{self._name}: a loop needs at least 4 bias steps, got {v.size}")
        if not np.ptp(v) > 0:
            raise WrongAxis(f"{self._name}: the bias axis is constant; pass the sweep's bias values")
        if self.despike:
            if v.size < self.k:
                raise WrongAxis(
                    f"{self._name}: despiking with k={self.k} needs at least {self.k} bias steps, got {v.size}; "
                    "lower k or set despike=false"
                )
            r = despike(r, k=self.k, threshold=self.threshold)
        return v, r

    def _params(self) -> dict[str, Any]:
        return {"units": self.units, "despike": self.despike, "k": self.k, "threshold": self.threshold}

    def __repr__(self) -> str:
        return format_repr(self._name, self._params())


class LoopArea(_LoopReward):
    """Area enclosed by the loop: ``reward(response (n,), bias axis in V) -> float`` (V x response units).

    Shoelace formula over ``(bias, response)`` in sweep order, closed from the last sample to the
    first; the absolute value is returned (the sign only says the sense of traversal).

    Args:
        units: bias units expected on the axis.
        despike: run :func:`despike` on the response first.
        k: despike running-median length (odd, >= 3).
        threshold: despike threshold in robust standard deviations.
    """

    _name = "LoopArea"

    def __call__(self, spectrum: np.ndarray, axis: Any) -> float:
        v, r = self._loop(spectrum, axis)
        return float(0.5 * abs(np.dot(v, np.roll(r, -1)) - np.dot(np.roll(v, -1), r)))


    def value_units(self, axis_units: str, intensity_units: str) -> str:
        return integral_units(axis_units, intensity_units)


class LoopHeight(_LoopReward):
    """Loop height: ``reward(response (n,), bias axis in V) -> float`` (response units, >= 0).

    Args:
        at_zero_bias: ``False``: max - min of the response. ``True``: the remanent opening,
            ``|R_down(0 V) - R_up(0 V)|``, each branch's response linearly interpolated at 0 V
            (averaged if a branch passes 0 V more than once).
        units, despike, k, threshold: as in :class:`LoopArea`.

    Raises (on call, ``at_zero_bias=True``): RewardError if a branch never reaches 0 V.
    """

    _name = "LoopHeight"

    def __init__(
        self,
        at_zero_bias: bool = False,
        units: str = "V",
        despike: bool = True,
        k: int = 3,
        threshold: float = 5.0,
    ) -> None:
        super().__init__(units, despike, k, threshold)
        if not isinstance(at_zero_bias, bool):
            raise InvalidRewardConfig(f"LoopHeight.at_zero_bias must be true or false, got {at_zero_bias!r}")
        self.at_zero_bias = at_zero_bias

    def __call__(self, spectrum: np.ndarray, axis: Any) -> float:
        v, r = self._loop(spectrum, axis)
        if not self.at_zero_bias:
            return float(np.ptp(r))
        up, down = _values_at_zero(v, r, 1), _values_at_zero(v, r, -1)
        if up.size == 0 or down.size == 0:
            raise RewardError("LoopHeight(at_zero_bias=True): the sweep does not cross 0 V on both branches")
        return float(abs(down.mean() - up.mean()))

    def _params(self) -> dict[str, Any]:
        return {"at_zero_bias": self.at_zero_bias, **super()._params()}

    def value_units(self, axis_units: str, intensity_units: str) -> str:
        return intensity_units


class CoerciveBias(_LoopReward):
    """Coercive bias: ``reward(response (n,), bias axis in V) -> float`` (V).

    Args:
        which: ``"positive"``: V+ (up-branch crossing); ``"negative"``: V- (down-branch crossing);
            ``"width"``: V+ - V- (the loop's coercive width).
        units, despike, k, threshold: as in :class:`LoopArea`.

    Raises (on call): RewardError if a branch never crosses the mid level.
    """

    _name = "CoerciveBias"

    def __init__(
        self,
        which: str = "positive",
        units: str = "V",
        despike: bool = True,
        k: int = 3,
        threshold: float = 5.0,
    ) -> None:
        super().__init__(units, despike, k, threshold)
        self.which = choice(which, ("positive", "negative", "width"), "which", "CoerciveBias")

    def __call__(self, spectrum: np.ndarray, axis: Any) -> float:
        v_plus, v_minus = coercive_biases(*self._loop(spectrum, axis))
        if self.which == "positive":
            return v_plus
        if self.which == "negative":
            return v_minus
        return v_plus - v_minus

    def _params(self) -> dict[str, Any]:
        return {"which": self.which, **super()._params()}

    def value_units(self, axis_units: str, intensity_units: str) -> str:
        return axis_units


class Imprint(_LoopReward):
    """Imprint ``(V+ + V-) / 2``: ``reward(response (n,), bias axis in V) -> float`` (V).

    Args: ``units``, ``despike``, ``k``, ``threshold`` as in :class:`LoopArea`.
    """

    _name = "Imprint"

    def __call__(self, spectrum: np.ndarray, axis: Any) -> float:
        v_plus, v_minus = coercive_biases(*self._loop(spectrum, axis))
        return 0.5 * (v_plus + v_minus)

    def value_units(self, axis_units: str, intensity_units: str) -> str:
        return axis_units
