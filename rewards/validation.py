"""Input checks every reward runs before it looks at a spectrum.

:func:`check_spectrum` turns ``(spectrum, axis)`` into two float64 ``(n,)`` arrays or raises the
typed error that names the field and the fix; :func:`ascending` puts a monotonic spectral axis in
increasing order (descending energy or bias axes are accepted). User-written rewards can call both
to honour the same error contract as the built-in ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import EmptySpectrum, RewardError, WrongAxis

__all__ = ["check_spectrum", "ascending"]


def check_spectrum(
    spectrum: Any, axis: Any, units: str | None, owner: str = "reward"
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a spectrum and its signal axis.

    Args:
        spectrum: (n,) counts or response, any real dtype (uint16 EDS counts included).
        axis: a :class:`drivers.Axis` (anything with ``values`` (n,) and ``units``).
        units: the units the reward expects (``"eV"``, ``"keV"``, ``"V"``); ``None`` skips the check.
        owner: name used in error messages, e.g. ``"BandIntensity"``.

    Returns:
        ``(x, y)``: the axis values and the spectrum, both (n,) float64, in the given order.

    Raises:
        WrongAxis: ``axis`` is not an Axis, its units differ from ``units``, its length differs from
            the spectrum's, it holds non-finite values, or the spectrum is not 1-D.
        EmptySpectrum: the spectrum has no samples or any NaN / infinite value.
        RewardError: the spectrum is not real-valued numeric data.
    """
    if not hasattr(axis, "values") or not hasattr(axis, "units"):
        raise WrongAxis(
            f"{owner}: axis must be a drivers.Axis with .values and .units, got {type(axis).__name__}; "
            "pass the spectrum frame's signal axis (frame.signal_axis)"
        )
    try:
        y = np.asarray(spectrum)
        if y.dtype.kind not in "biuf":
            raise TypeError(f"dtype {y.dtype}")
        y = y.astype(np.float64, copy=False)
    except (TypeError, ValueError) as exc:
        raise RewardError(
            f"{owner}: spectrum must be real numeric data ({exc}); pass the (n,) array of counts"
        ) from exc
    if y.ndim != 1:
        raise WrongAxis(
            f"{owner}: spectrum must be 1-D (n,), got shape {y.shape}; sum or select the rows of a "
            "2-D detector frame first"
        )
    if y.size == 0:
        raise EmptySpectrum(f"{owner}: spectrum is empty (0 samples); the acquisition returned no data")
    bad = ~np.isfinite(y)
    if bad.all():
        raise EmptySpectrum(f"{owner}: spectrum is all NaN/inf ({y.size} samples); re-acquire it")
    if bad.any():
        raise EmptySpectrum(
            f"{owner}: spectrum holds {int(bad.sum())} non-finite value(s) of {y.size} (first at index "
            f"{int(np.flatnonzero(bad)[0])}); re-acquire it or mask the detector's bad channels"
        )
    if units is not None and str(axis.units).strip() != units:
        raise WrongAxis(
            f"{owner}: axis.units is {axis.units!r} but the reward expects {units!r}; set the reward's "
            f"units={str(axis.units)!r} if its windows are given in those units, or convert the axis"
        )
    x = np.asarray(axis.values, dtype=np.float64)
    if x.ndim != 1 or x.shape[0] != y.shape[0]:
        raise WrongAxis(
            f"{owner}: axis has {x.size} values but the spectrum has {y.size} samples; pass the axis "
            "that belongs to this spectrum"
        )
    if not np.isfinite(x).all():
        raise WrongAxis(f"{owner}: axis.values holds non-finite values; recalibrate the axis")
    return x, y


def ascending(x: np.ndarray, y: np.ndarray, owner: str = "reward") -> tuple[np.ndarray, np.ndarray]:
    """Return ``(x, y)`` with ``x`` strictly increasing.

    Args:
        x: (n,) float64 axis values, strictly increasing or strictly decreasing.
        y: (n,) float64 spectrum.
        owner: name used in error messages.

    Raises:
        WrongAxis: ``x`` is neither strictly increasing nor strictly decreasing (a repeated value or
            a sweep that turns back; loop rewards in :mod:`rewards.loops` handle sweeps).
    """
    if x.size < 2:
        return x, y
    d = np.diff(x)
    if (d > 0).all():
        return x, y
    if (d < 0).all():
        return x[::-1], y[::-1]
    raise WrongAxis(
        f"{owner}: axis.values must be strictly increasing or decreasing for a spectral window, but "
        "it repeats or turns back; sort the spectrum by energy first (bias sweeps belong to "
        "rewards.loops)"
    )
