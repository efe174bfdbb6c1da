"""A watchdog trip stops only the acquisition of the session that tripped (issue 13)."""

from __future__ import annotations

import threading

from drivers.remote.server import ServiceBase


class _Driver:
    def __init__(self):
        self.calls: list[str] = []

    def stop(self):
        self.calls.append("stop")

    def blank(self):
        self.calls.append("blank")


def test_trip_of_another_session_leaves_the_running_acquisition_alone():
    driver = _Driver()
    service = ServiceBase(driver, watchdog_s=None)
    try:
        started, release = threading.Event(), threading.Event()

        def acquire_as(session):
            service._local.session = session
            with service._driver_call():
                started.set()
                release.wait(5)

        t = threading.Thread(target=acquire_as, args=("A",))
        t.start()
        assert started.wait(5)
        service._on_trip("B", "connection dropped")  # B is idle: A's acquisition goes on
        assert driver.calls == []
        service._on_trip("A", "silent")  # A tripped: its own acquisition is stopped
        assert driver.calls == ["stop"]
        release.set()
        t.join(5)
        service._on_trip("B", "silent")  # nothing runs: blank
        assert driver.calls == ["stop", "blank"]
    finally:
        service._shutdown()
