"""SIGINT/SIGTERM during a run: stop after the measurement in progress (a second Ctrl-C leaves now),
and stop the instrument at once on another thread."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from drivers.errors import DriverError
from drivers.protocol import Driver

from .state import StopFlag, StopReason

__all__ = ["install_stop_handlers", "stop_driver", "blank_beam"]

log = logging.getLogger(__name__)


def install_stop_handlers(stop: StopFlag, driver: Driver) -> Callable[[], None]:
    """Route SIGINT/SIGTERM to ``stop`` (main thread only); returns the function restoring the previous
    handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: leave now (files are already flushed)
        stop.request(f"{StopReason.SIGNAL} {signal.Signals(signum).name}")
        threading.Thread(target=stop_driver, args=(driver,), daemon=True).start()

    for s in previous:
        signal.signal(s, handler)

    def restore() -> None:
        for s, h in previous.items():
            signal.signal(s, h)

    return restore


def stop_driver(driver: Driver) -> None:
    try:
        driver.stop()
    except DriverError as err:  # the stop itself failed: blanking is retried at the end of the run
        log.error("driver.stop() failed: %s", err)


def blank_beam(driver: Driver) -> str:
    """Blank the beam; returns '' or the error message (the caller records it)."""
    try:
        driver.blank()
    except DriverError as err:
        log.error("could not blank the beam: %s", err)
        return str(err)
    return ""
