"""The Pyro5 server and RemoteDriver, with a REAL server process on loopback.

Each server is ``python -m drivers.remote.serve --driver drivers.remote.testing.FakeDriver ...`` in a
child process (the command line is tested with it). A local twin ``FakeDriver`` with the same seed
and the same call sequence yields the frames the server must deliver, bit for bit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import Pyro5.api
import pytest

from drivers import Driver
from drivers.errors import Aborted, ConnectionLost, InvalidArgument, NotSupported, SafetyInterlock, Timeout
from drivers.remote import AuthenticationError, RemoteDriver
from drivers.remote.testing import REPO_ROOT, FakeDriver, ServerProcess

FAKE = "drivers.remote.testing.FakeDriver"


def _wait_for(predicate, timeout_s: float, period_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(period_s)
    return predicate()


@pytest.fixture(scope="module")
def server():
    """A bare FakeDriver (no safety layer), watchdog 3 s; clients use heartbeat_s=0.1."""
    with ServerProcess(["--driver", FAKE, "--no-safety", "--watchdog-s", "3"]) as proc:
        yield proc


@pytest.fixture(scope="module")
def slow_server():
    """Every acquisition takes 2 s (to test stop and timeouts)."""
    with ServerProcess(["--driver", FAKE, "driver.delay_s=2.0", "--no-safety", "--watchdog-s", "5"]) as proc:
        yield proc


def _same_frame(remote, local) -> None:
    assert remote.data.dtype == local.data.dtype and remote.data.shape == local.data.shape
    assert remote.data.tobytes() == local.data.tobytes()  # bit-exact
    assert [(a.name, a.units) for a in remote.axes] == [(a.name, a.units) for a in local.axes]
    for ra, la in zip(remote.axes, local.axes):
        assert ra.values.tobytes() == la.values.tobytes()
    skip = {"time_s"}
    assert {k: v for k, v in remote.metadata.items() if k not in skip} == {
        k: v for k, v in local.metadata.items() if k not in skip
    }


def test_all_verbs_round_trip_bit_exact_and_timing():
    argv = ["--driver", FAKE, "driver.seed=7", "driver.overview_dtype=uint16", "driver.n_channels=1024",
            "--no-safety"]
    twin = FakeDriver(seed=7, overview_dtype="uint16", n_channels=1024)
    with ServerProcess(argv) as proc, RemoteDriver(proc.uri, heartbeat_s=0.2) as remote:
        assert isinstance(remote, Driver)
        assert remote.capabilities() == twin.capabilities()
        remote.unblank()
        twin.unblank()
        r_frame = remote.acquire_overview(100e-9, (64, 48), 1e-6)
        l_frame = twin.acquire_overview(100e-9, (64, 48), 1e-6)
        _same_frame(r_frame, l_frame)
        r_probe = remote.set_probe(r_frame.frame_id, yx_frac=(0.25, 0.5))
        l_probe = twin.set_probe(l_frame.frame_id, yx_frac=(0.25, 0.5))
        assert (r_probe.yx_m, r_probe.yx_frac, r_probe.blanked) == (l_probe.yx_m, l_probe.yx_frac, l_probe.blanked)
        assert r_probe.frame_id == r_frame.frame_id
        r_probe = remote.set_probe(r_frame.frame_id, yx_m=(-20e-9, -15e-9))
        twin.set_probe(l_frame.frame_id, yx_m=(-20e-9, -15e-9))
        assert r_probe.yx_m == pytest.approx((-20e-9, -15e-9))
        times = []
        for _ in range(30):
            t0 = time.perf_counter()
            r_spec = remote.acquire_spectrum(0.01)
            times.append(time.perf_counter() - t0)
            _same_frame(r_spec, twin.acquire_spectrum(0.01))
        remote.move_stage(1e-9, -2e-9)
        twin.move_stage(1e-9, -2e-9)
        state = remote.state()
        assert state["stage_yx_m"] == (1e-9, -2e-9) and state["blanked"] is False
        assert state["verbs"][-2:] == ["move_stage", "state"]
        remote.blank()
        assert remote.state()["blanked"] is True
        # a megapixel image: bytes, not lists
        remote.unblank()
        twin.unblank()
        t0 = time.perf_counter()
        big = remote.acquire_overview(1e-6, (1024, 1024), 1e-7)
        big_s = time.perf_counter() - t0
        _same_frame(big, twin.acquire_overview(1e-6, (1024, 1024), 1e-7))
    median_ms = 1e3 * float(np.median(times))
    print(f"\nloopback round trip per 1024-channel spectrum: median {median_ms:.2f} ms "
          f"(min {1e3 * min(times):.2f}, max {1e3 * max(times):.2f}); 1024x1024 uint16 overview {1e3 * big_s:.0f} ms")
    assert median_ms < 100.0


def test_typed_errors_cross_the_wire(server):
    with RemoteDriver(server.uri, heartbeat_s=0.1) as remote:
        remote.blank()
        with pytest.raises(SafetyInterlock, match="blanked"):
            remote.acquire_overview(100e-9, (8, 8), 1e-6)
        remote.unblank()
        frame = remote.acquire_overview(100e-9, (8, 8), 1e-6)
        with pytest.raises(InvalidArgument, match=r"outside \[0, 1\]"):
            remote.set_probe(frame.frame_id, yx_frac=(1.5, 0.5))
        with pytest.raises(InvalidArgument, match="unknown frame_id"):
            remote.set_probe("nope", yx_frac=(0.5, 0.5))
        with pytest.raises(NotSupported, match="spectrometer"):
            remote.acquire_spectrum(0.01, detector="EDS")
        with pytest.raises(InvalidArgument, match="exposure_s"):
            remote.acquire_spectrum(-1.0)
        # the connection is still usable after errors
        remote.set_probe(frame.frame_id, yx_frac=(0.5, 0.5))
        assert remote.acquire_spectrum(0.01).data.shape == (256,)


def test_secret_is_enforced():
    env = {"AUTOSCOPE_SERVE_SECRET": "correct horse"}
    with ServerProcess(["--driver", FAKE, "--no-safety"], env=env) as proc:
        with pytest.raises(AuthenticationError):
            RemoteDriver(proc.uri, heartbeat_s=None)
        with pytest.raises(AuthenticationError):
            RemoteDriver(proc.uri, secret="wrong", heartbeat_s=None)
        with RemoteDriver(proc.uri, secret="correct horse", heartbeat_s=None) as remote:
            assert remote.capabilities().backend == "fake"
            assert remote.server_status()["secret_required"] is True
        # a raw Pyro5 proxy that passes the handshake but sends no token with its calls
        with Pyro5.api.Proxy(proc.uri) as raw:
            raw._pyroHandshake = {"token": b"correct horse"}
            with pytest.raises(AuthenticationError):
                raw.capabilities()
        # any serializer but serpent is refused, even with the right token
        with Pyro5.api.Proxy(proc.uri) as raw:
            raw._pyroSerializer = "json"
            raw._pyroHandshake = {"token": "correct horse"}
            from Pyro5.callcontext import current_context

            current_context.annotations = {"AUTH": b"correct horse"}
            try:
                with pytest.raises(Exception, match="serpent"):
                    raw.capabilities()
            finally:
                current_context.annotations = {}


def test_watchdog_blanks_when_heartbeats_stop():
    with ServerProcess(["--driver", FAKE, "--no-safety", "--watchdog-s", "1.0"]) as proc:
        with RemoteDriver(proc.uri, heartbeat_s=0.1) as observer:
            client = RemoteDriver(proc.uri, heartbeat_s=0.1)
            try:
                client.unblank()
                time.sleep(2.5)  # 2.5 watchdog periods: the heartbeat keeps the beam on
                assert observer.state()["blanked"] is False
                assert observer.server_status()["watchdog_trips"] == 0
                client.pause_heartbeat()
                t0 = time.perf_counter()
                assert _wait_for(lambda: observer.state()["blanked"] is True, timeout_s=5.0)
                assert 0.8 < time.perf_counter() - t0 < 3.0  # about watchdog_s after the last heartbeat
                status = observer.server_status()
                assert status["watchdog_trips"] == 1
                assert "silent" in status["trip_reasons"][-1]
            finally:
                client.close()


def test_watchdog_blanks_when_the_client_process_dies(server):
    script = textwrap.dedent(
        f"""
        import sys, time
        from drivers.remote import RemoteDriver
        remote = RemoteDriver({server.uri!r}, heartbeat_s=0.1)
        remote.unblank()
        print("READY", flush=True)
        time.sleep(60)
        """
    )
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    child = subprocess.Popen([sys.executable, "-c", script], cwd=str(REPO_ROOT), env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "READY", child.stderr.read() if child.stderr else ""
        with RemoteDriver(server.uri, heartbeat_s=0.1) as observer:
            assert observer.state()["blanked"] is False
            trips_before = observer.server_status()["watchdog_trips"]
            child.kill()
            child.wait(timeout=10)
            assert _wait_for(lambda: observer.state()["blanked"] is True, timeout_s=5.0)
            status = observer.server_status()
            assert status["watchdog_trips"] >= trips_before + 1
            assert "connection dropped" in status["trip_reasons"][trips_before:]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)


def test_stop_aborts_a_remote_acquisition(slow_server):
    with RemoteDriver(slow_server.uri, heartbeat_s=0.2) as remote:
        remote.unblank()
        frame = remote.acquire_overview(100e-9, (8, 8), 1e-6)  # takes 2 s
        remote.set_probe(frame.frame_id, yx_frac=(0.5, 0.5))
        remote.unblank()
        outcome: dict[str, object] = {}

        def run() -> None:
            t0 = time.perf_counter()
            try:
                remote.acquire_spectrum(0.1)
            except BaseException as exc:  # noqa: BLE001 - inspected below
                outcome["error"] = exc
            outcome["elapsed"] = time.perf_counter() - t0

        worker = threading.Thread(target=run)
        worker.start()
        time.sleep(0.3)
        remote.stop()
        worker.join(timeout=10)
        assert isinstance(outcome.get("error"), Aborted)
        assert outcome["elapsed"] < 1.5
        assert remote.state()["blanked"] is True


def test_network_timeout_and_dropped_server(slow_server):
    remote = RemoteDriver(slow_server.uri, timeout_s=0.5, heartbeat_s=None)
    try:
        remote.unblank()
        t0 = time.perf_counter()
        with pytest.raises(Timeout):
            remote.acquire_overview(100e-9, (8, 8), 1e-6)  # 2 s on the server, 0.5 s allowed
        assert time.perf_counter() - t0 < 1.5
        # the server finishes the abandoned call (it holds the driver) before it answers again
        with RemoteDriver(slow_server.uri, timeout_s=10.0, heartbeat_s=None) as patient:
            assert patient.capabilities().backend == "fake"
        assert remote.capabilities().backend == "fake"  # the timed-out client reconnects
    finally:
        remote.close()
    with ServerProcess(["--driver", FAKE, "--no-safety"]) as proc:
        remote = RemoteDriver(proc.uri, heartbeat_s=None)
        assert remote.capabilities().backend == "fake"
        proc.kill()
        with pytest.raises(ConnectionLost):
            remote.capabilities()
        with pytest.raises(ConnectionLost):
            remote.capabilities()  # still typed on the next try
        remote.close()


def test_served_with_the_safety_layer_by_default(tmp_path):
    audit = tmp_path / "audit.jsonl"
    with ServerProcess(["--driver", FAKE, "--audit-log", str(audit)]) as proc:
        with RemoteDriver(proc.uri, heartbeat_s=None) as remote:
            assert remote.capabilities().backend == "safe(fake)"
            # the server's safety layer owns the beam: a client unblank is left to it (a no-op), so a
            # client-side safety layer can sit on top; the beam stays blanked until an acquisition
            assert remote.server_status()["beam_managed_by_server"] is True
            remote.unblank()
            assert remote.state()["blanked"] is True
            frame = remote.acquire_overview(100e-9, (16, 16), 1e-6)  # the safety layer opens the beam
            remote.set_probe(frame.frame_id, yx_frac=(0.5, 0.5))
            remote.acquire_spectrum(0.05)
            state = remote.state()
            assert state["blanked"] is True and state["safety"]["total_dose_e"] > 0
            verbs = state["verbs"]
            assert verbs[:5] == ["blank", "state", "capabilities", "state", "unblank"]
    lines = audit.read_text().splitlines()
    assert any('"verb": "acquire_spectrum"' in line and '"outcome": "ok"' in line for line in lines)
    assert '"verb": "close"' in lines[-1]  # SIGTERM: the server blanked and closed its driver


def test_remote_config_instantiates_a_working_client(server):
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(REPO_ROOT / "conf" / "driver" / "remote.yaml")
    cfg.uri = server.uri
    cfg.heartbeat_s = 0.1
    remote = instantiate(cfg)
    try:
        assert isinstance(remote, RemoteDriver)
        assert remote.capabilities().backend == "fake"
    finally:
        remote.close()
