"""Fault injection: wrap any driver and make it misbehave at configurable rates.

For overnight-reliability tests and rehearsals: timeouts, NaN or wrong-shape spectra, a saturated
detector and dropped connections, each drawn independently per call from a seeded generator. Every
injected fault is counted in :attr:`FaultInjector.injected` so a test can compare what was thrown at
the agent with what the agent recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConnectionLost, InvalidArgument, Timeout
from .frames import Frame

__all__ = ["FaultRates", "FaultInjector"]


@dataclass(frozen=True)
class FaultRates:
    """Probability per ``acquire_spectrum`` call of each fault (and ``set_probe`` for drops)."""

    timeout: float = 0.0
    nan: float = 0.0
    wrong_shape: float = 0.0
    saturated: float = 0.0
    connection_lost: float = 0.0

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if not 0.0 <= value <= 1.0:
                raise InvalidArgument(f"faults.{name}={value} must be a probability in [0, 1]")
        if sum(self.__dict__.values()) > 1.0:
            raise InvalidArgument("fault rates add up to more than 1; lower some of them")


class FaultInjector:
    """A driver that forwards to ``driver`` and injects faults.

    Args:
        driver: any :class:`drivers.Driver`.
        seed: seeds the fault draws.
        saturation_counts: the emulated detector's full-well; a saturated spectrum is clipped to
            it and reports it as ``metadata["saturation_counts"]`` (what real cameras report).
        **rates: see :class:`FaultRates` (``timeout=0.05`` ...).
    """

    def __init__(self, driver: Any, seed: int = 0, saturation_counts: float = 65535.0, **rates: float) -> None:
        self.inner = driver
        self.rates = FaultRates(**rates)
        self.saturation_counts = float(saturation_counts)
        self._rng = np.random.default_rng([int(seed), 0xFA17])
        self.injected: dict[str, int] = {k: 0 for k in FaultRates.__dataclass_fields__}

    def __getattr__(self, name: str) -> Any:  # everything not intercepted goes to the real driver
        return getattr(self.inner, name)

    def _draw(self) -> str | None:
        r = self._rng.random()
        acc = 0.0
        for name in FaultRates.__dataclass_fields__:
            acc += getattr(self.rates, name)
            if r < acc:
                return name
        return None

    def set_probe(self, frame_id: str, yx_frac=None, yx_m=None):
        if self.rates.connection_lost and self._rng.random() < self.rates.connection_lost:
            self.injected["connection_lost"] += 1
            raise ConnectionLost("injected: connection to the instrument dropped")
        return self.inner.set_probe(frame_id, yx_frac=yx_frac, yx_m=yx_m)

    def acquire_spectrum(self, exposure_s: float, detector: str = "EELS", timeout_s: float | None = None) -> Frame:
        fault = self._draw()
        if fault == "timeout":
            self.injected["timeout"] += 1
            raise Timeout("injected: spectrometer did not answer in time")
        if fault == "connection_lost":
            self.injected["connection_lost"] += 1
            raise ConnectionLost("injected: connection dropped during acquisition")
        frame = self.inner.acquire_spectrum(exposure_s, detector, timeout_s)
        data = np.array(frame.data, dtype=np.float64)
        md = dict(frame.metadata)
        md["saturation_counts"] = self.saturation_counts
        if fault == "nan":
            self.injected["nan"] += 1
            data[self._rng.integers(data.size)] = np.nan
        elif fault == "wrong_shape":
            self.injected["wrong_shape"] += 1
            half = data.size // 2
            ax = frame.signal_axis
            return Frame(data[:half], (type(ax)(ax.name, ax.units, ax.values[:half]),), frame.frame_id, md)
        elif fault == "saturated":
            self.injected["saturated"] += 1
            data[int(np.argmax(data))] = self.saturation_counts
        return Frame(data, frame.axes, frame.frame_id, md)
