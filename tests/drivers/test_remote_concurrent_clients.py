"""Issue 13 acceptance: 50 concurrent clients on one real server; the watchdog trips of the clients
that go silent abort no acquisition of the others."""

from __future__ import annotations

import threading
import time

import pytest

from drivers.errors import Aborted
from drivers.remote import RemoteDriver
from drivers.remote.testing import ServerProcess

FAKE = "drivers.remote.testing.FakeDriver"
N_CLIENTS = 50
N_SILENT = 5
SPECTRA_EACH = 2


@pytest.mark.slow
def test_fifty_clients_no_acquisition_aborted_by_another_sessions_trip():
    # the server's safety layer owns the beam (as deployed); every acquisition takes 50 ms and the
    # server serialises them, so the 100 acquisitions overlap the silent clients' watchdog trips
    with ServerProcess(["--driver", FAKE, "driver.delay_s=0.05", "--watchdog-s", "1.0"]) as proc:
        clients = [RemoteDriver(proc.uri, heartbeat_s=0.1) for _ in range(N_CLIENTS)]
        try:
            frame = clients[0].acquire_overview(100e-9, (16, 16), 1e-6)
            errors: list[tuple[int, str]] = []
            done = [0] * N_CLIENTS
            start = threading.Barrier(N_CLIENTS - N_SILENT)

            def work(k: int) -> None:
                start.wait(30)
                for j in range(SPECTRA_EACH):
                    try:
                        clients[k].set_probe(frame.frame_id, yx_frac=(0.1 + 0.015 * k, 0.2 + 0.3 * j))
                        clients[k].acquire_spectrum(0.01)
                        done[k] += 1
                    except Aborted as err:  # an acquisition stopped by someone else's trip
                        errors.append((k, str(err)))

            for c in clients[-N_SILENT:]:
                c.pause_heartbeat()  # these sessions go silent: each trips the watchdog after ~1 s
            workers = [threading.Thread(target=work, args=(k,)) for k in range(N_CLIENTS - N_SILENT)]
            t0 = time.monotonic()
            for w in workers:
                w.start()
            # the silent sessions trip while the others are still measuring
            deadline = time.monotonic() + 30
            while clients[0].server_status()["watchdog_trips"] < N_SILENT and time.monotonic() < deadline:
                time.sleep(0.05)
            measuring_during_trips = sum(w.is_alive() for w in workers)
            for w in workers:
                w.join(120)
            assert clients[0].server_status()["watchdog_trips"] >= N_SILENT
            assert measuring_during_trips > 0
            assert not any(w.is_alive() for w in workers)
            assert errors == []
            assert sum(done) == (N_CLIENTS - N_SILENT) * SPECTRA_EACH
            assert time.monotonic() - t0 < 120
        finally:
            for c in clients:
                try:
                    c.close()
                except Exception:  # noqa: BLE001 - a tripped session may already be gone
                    pass
