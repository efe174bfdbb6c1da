"""Clocks for the emulator: virtual (instant, deterministic) or real (really sleeps).

Both report ``time_s`` (seconds since the clock was made) and offer ``wait(duration_s, abort)``,
which returns ``True`` when the whole duration elapsed and ``False`` when ``abort`` (a
:class:`threading.Event`, set by ``stop()`` from another thread) cut it short.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable

from drivers.errors import InvalidArgument

__all__ = ["Clock", "VirtualClock", "RealClock", "make_clock", "CLOCK_KINDS"]

CLOCK_KINDS: tuple[str, ...] = ("virtual", "real")


@runtime_checkable
class Clock(Protocol):
    @property
    def time_s(self) -> float: ...

    def wait(self, duration_s: float, abort: threading.Event | None = None) -> bool: ...


class VirtualClock:
    """Advances only when told to: ``wait`` adds ``duration_s`` at once (an already-set ``abort``
    cancels the wait without advancing)."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._t = float(start_s)
        self._lock = threading.Lock()

    @property
    def time_s(self) -> float:
        return self._t

    def wait(self, duration_s: float, abort: threading.Event | None = None) -> bool:
        if abort is not None and abort.is_set():
            return False
        with self._lock:
            self._t += max(0.0, float(duration_s))
        return True


class RealClock:
    """Wall-clock time (``time.monotonic``); ``wait`` really sleeps, interruptibly."""

    def __init__(self) -> None:
        self._t0 = time.monotonic()

    @property
    def time_s(self) -> float:
        return time.monotonic() - self._t0

    def wait(self, duration_s: float, abort: threading.Event | None = None) -> bool:
        duration_s = max(0.0, float(duration_s))
        if abort is None:
            time.sleep(duration_s)
            return True
        return not abort.wait(duration_s)


def make_clock(kind: str) -> VirtualClock | RealClock:
    """``"virtual"`` or ``"real"``; anything else raises ``InvalidArgument``."""
    if kind == "virtual":
        return VirtualClock()
    if kind == "real":
        return RealClock()
    raise InvalidArgument(f"clock={kind!r} is not known; use one of {list(CLOCK_KINDS)}")
