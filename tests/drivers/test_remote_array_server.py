"""The ORNL "array server" verbs: served from a real server process, driven raw (as an ORNL notebook
would) and through ArrayServerDriver; plus compatibility with ORNL's list-returning original."""

from __future__ import annotations

import threading
import time

import numpy as np
import Pyro5.api
import Pyro5.server
import pytest
import serpent

from drivers import Driver
from drivers.errors import InvalidArgument, NotSupported
from drivers.remote import ArrayServerDriver
from drivers.remote.testing import REPO_ROOT, FakeDriver, ServerProcess
from drivers.remote.wire import decode_array_tuple

FAKE = "drivers.remote.testing.FakeDriver"
FOV_M = 100e-9


@pytest.fixture()
def array_server():
    # served through the safety layer (the autoscope-serve default): ORNL verbs never unblank,
    # the safety layer opens the beam for each acquisition
    argv = ["--driver", FAKE, "driver.seed=5", "driver.n_channels=512", "--protocol", "array-server",
            "--fov-m", str(FOV_M)]
    with ServerProcess(argv) as proc:
        yield proc


def _twin() -> FakeDriver:
    twin = FakeDriver(seed=5, n_channels=512)
    twin.unblank()
    return twin


def test_raw_ornl_verbs_return_bytes_shape_dtype(array_server):
    twin = _twin()
    with Pyro5.api.Proxy(array_server.uri) as proxy:
        with pytest.raises(InvalidArgument, match="get_ds"):
            proxy.set_beam_pos(0.5, 0.5)  # typed errors reach a plain Pyro5 client too
        data, shape, dtype = proxy.get_ds(64, 2.0)  # 64 x 64 pixels, 2 microseconds per pixel
        assert isinstance(data, dict) and data["encoding"] == "base64"  # serpent's form of bytes
        image = np.frombuffer(serpent.tobytes(data), dtype=np.dtype(dtype)).reshape(shape)
        expected = twin.acquire_overview(FOV_M, (64, 64), 2e-6)
        assert image.dtype == expected.data.dtype and image.tobytes() == expected.data.tobytes()
        assert proxy.set_beam_pos(0.25, 0.75) is None  # x = 0.25 (column), y = 0.75 (row)
        twin.set_probe(expected.frame_id, yx_frac=(0.75, 0.25))
        with pytest.raises(InvalidArgument, match="activate_camera"):
            proxy.acquire_camera(0.05)
        proxy.activate_camera()
        counts = decode_array_tuple(proxy.acquire_camera(0.05))
        spectrum = twin.acquire_spectrum(0.05)
        assert counts.dtype == spectrum.data.dtype and counts.tobytes() == spectrum.data.tobytes()
        table = decode_array_tuple(proxy.get_eels())
        assert table.shape == (2, 512)
        assert np.array_equal(table[0], spectrum.axes[0].values) and np.array_equal(table[1], spectrum.data)
        with pytest.raises(InvalidArgument, match="outside"):
            proxy.set_beam_pos(1.2, 0.5)
        status = proxy.server_status()
        assert status["fov_m"] == FOV_M and status["watchdog_s"] is None


def test_array_server_driver_implements_the_protocol(array_server):
    twin = _twin()
    with ArrayServerDriver(array_server.uri, fov_m=FOV_M, heartbeat_s=0.2) as driver:
        assert isinstance(driver, Driver)
        frame = driver.acquire_overview(None, (32, 32), 1e-6)
        expected = twin.acquire_overview(FOV_M, (32, 32), 1e-6)
        assert frame.data.tobytes() == expected.data.tobytes()
        for axis, twin_axis in zip(frame.axes, expected.axes):
            assert axis.units == "m"
            np.testing.assert_allclose(axis.values, twin_axis.values, rtol=0, atol=1e-18)
        with pytest.raises(InvalidArgument, match="fixed"):
            driver.acquire_overview(2 * FOV_M, (32, 32), 1e-6)
        with pytest.raises(InvalidArgument, match="square"):
            driver.acquire_overview(FOV_M, (32, 16), 1e-6)
        with pytest.raises(InvalidArgument, match="latest survey"):
            driver.set_probe("another-frame", yx_frac=(0.5, 0.5))
        probe = driver.set_probe(frame.frame_id, yx_m=(frame.axes[0].values[8], frame.axes[1].values[20]))
        assert probe.yx_frac == pytest.approx((8.5 / 32, 20.5 / 32))
        twin.set_probe(expected.frame_id, yx_frac=probe.yx_frac)
        times = []
        for _ in range(10):
            t0 = time.perf_counter()
            spectrum = driver.acquire_spectrum(0.02)
            times.append(time.perf_counter() - t0)
            reference = twin.acquire_spectrum(0.02)
            assert spectrum.data.tobytes() == reference.data.tobytes()
            assert spectrum.axes[0].units == "eV"
            assert np.array_equal(spectrum.axes[0].values, reference.axes[0].values)
        with pytest.raises(InvalidArgument, match="yx_frac"):
            driver.set_probe(frame.frame_id, yx_frac=(0.5, 1.5))
        driver.blank()
        driver.stop()
        assert driver.state()["blanked"] is True
    print(f"\narray-server round trip per spectrum (acquire_camera + get_eels): median "
          f"{1e3 * float(np.median(times)):.2f} ms")


def test_uncalibrated_survey_has_pixel_axes_and_config_instantiates(array_server):
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(REPO_ROOT / "conf" / "driver" / "ornl_array_server.yaml")
    cfg.uri = array_server.uri
    driver = instantiate(cfg)
    try:
        assert isinstance(driver, ArrayServerDriver)
        frame = driver.acquire_overview(None, None, None)  # defaults: 256 px, 2 us
        assert frame.data.shape == (256, 256)
        assert frame.axes[0].units == "px" and frame.axes[0].values[0] == 0.5
        probe = driver.set_probe(frame.frame_id, yx_m=(128.0, 64.0))
        assert probe.yx_frac == (0.5, 0.25)
    finally:
        driver.close()


class _OrnlStyleServer:
    """A stand-in for ORNL's original server: lists, no extensions."""

    def __init__(self) -> None:
        self.beam = None

    @Pyro5.server.expose
    def get_ds(self, size, pixel_time):
        image = np.arange(size * size, dtype=np.float32).reshape(size, size) * pixel_time
        return image.tolist(), list(image.shape), str(image.dtype)

    @Pyro5.server.expose
    def set_beam_pos(self, x, y):
        self.beam = (x, y)

    @Pyro5.server.expose
    def activate_camera(self):
        return None

    @Pyro5.server.expose
    def acquire_camera(self, exposure):
        counts = np.full(16, exposure * 100, dtype=np.float64)
        return counts.tolist(), [16], "float64"

    @Pyro5.server.expose
    def get_eels(self):
        table = np.stack([np.arange(16, dtype=np.float64) * 0.5, np.full(16, 5.0)])
        return table.tolist(), [2, 16], "float64"


def test_client_reads_ornl_list_answers_and_reports_missing_extensions():
    stand_in = _OrnlStyleServer()
    daemon = Pyro5.server.Daemon(host="127.0.0.1", port=0)
    uri = str(daemon.register(stand_in, objectId="array.server"))
    thread = threading.Thread(target=daemon.requestLoop, daemon=True)
    thread.start()
    try:
        with ArrayServerDriver(uri, heartbeat_s=0.05) as driver:
            frame = driver.acquire_overview(None, (4, 4), 3e-6)
            np.testing.assert_allclose(frame.data, np.arange(16, dtype=np.float32).reshape(4, 4) * 3.0, rtol=1e-6)
            driver.set_probe(frame.frame_id, yx_frac=(0.1, 0.9))
            assert stand_in.beam == (0.9, 0.1)
            spectrum = driver.acquire_spectrum(0.5)
            assert spectrum.data.tolist() == [50.0] * 16
            assert spectrum.axes[0].values[3] == 1.5
            with pytest.raises(NotSupported):
                driver.blank()
            time.sleep(0.2)  # the heartbeat finds no verb and stops quietly
            assert driver._heartbeat_thread is not None and not driver._heartbeat_thread.is_alive()
    finally:
        daemon.shutdown()
        thread.join(timeout=5)
        daemon.close()


def test_client_and_server_safety_layers_do_not_fight(array_server):
    """The app wraps every driver in SafeDriver, autoscope-serve wraps the served one too: the
    client's automatic unblank reached the server's SafeDriver, which refused it (SafetyInterlock:
    unblank refused). The client now leaves the beam to a server whose safety layer manages it."""
    from drivers.safety import SafeDriver, SafetyLimits

    inner = ArrayServerDriver(array_server.uri, fov_m=FOV_M, heartbeat_s=None)
    safe = SafeDriver(inner, SafetyLimits(), register_atexit=False)
    try:
        frame = safe.acquire_overview(None, (32, 32), 1e-6)
        safe.set_probe(frame.frame_id, yx_frac=(0.5, 0.5))
        spectrum = safe.acquire_spectrum(0.05)
        assert spectrum.data.shape == (512,) and safe.blanked
        assert inner.server_status()["beam_managed_by_server"] is True
    finally:
        safe.close()
