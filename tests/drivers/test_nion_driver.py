"""NionDriver against Nion's own simulated STEM (nionswift-usim), headless, in this process.

What usim simulates (read from nion/usim_device): the HAADF value of a pixel is the number of
overlapping sample flakes there (plus N(0, 0.3) noise) times the pixel time in microseconds; an EELS
frame holds beam current x exposure x 40 counts per electron wherever the probe is, split into a
zero-loss peak of weight exp(-t/lambda), t = 30 nm per flake layer, lambda = 100 nm, and plasmon
peaks (16-20 eV) for the rest. The tests assert exactly that.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest

pytest.importorskip("nion.usim_device", reason="nionswift-usim is part of the dev install")

from scipy.ndimage import distance_transform_edt, uniform_filter  # noqa: E402

from drivers import Driver  # noqa: E402
from drivers.errors import Aborted, InstrumentError, InvalidArgument, NotSupported, SafetyInterlock, Timeout  # noqa: E402
from drivers.nion import NionDriver, UsimSession  # noqa: E402

E_CHARGE = 1.602176634e-19
COUNTS_PER_ELECTRON = 40  # usim's EELS camera
FOV_M = 100e-9
N_PX = 64
DWELL_S = 2e-6


@pytest.fixture()
def nion(tmp_path):
    driver = NionDriver(config_dir=tmp_path / "nion-config")
    try:
        yield driver
    finally:
        driver.close()


def _overview(driver: NionDriver, dwell_s: float = DWELL_S):
    driver.unblank()
    return driver.acquire_overview(FOV_M, (N_PX, N_PX), dwell_s)


def _layer_pixels(frame, dwell_s: float = DWELL_S) -> dict[int, tuple[int, int]]:
    """For each flake-layer count present (0 = vacuum), the pixel deepest inside a region of that
    count, within the central 70 % of the field (the usim flake sample has two slivers narrower
    than a pixel near the field's left and right edges: they never show in HAADF but do in EELS)."""
    layers = np.round(uniform_filter(frame.data / (dwell_s * 1e6), 3))
    n = layers.shape[0]
    central = np.zeros_like(layers, dtype=bool)
    central[int(0.15 * n): int(0.85 * n), int(0.15 * n): int(0.85 * n)] = True
    found = {}
    for count in np.unique(layers[central]).astype(int):
        depth = distance_transform_edt(layers == count) * central
        if depth.max() >= 3:  # at least 3 pixels from any other layer count
            found[int(count)] = tuple(int(v) for v in np.unravel_index(np.argmax(depth), depth.shape))
    return found


def _zlp_ratio(spectrum) -> tuple[float, float]:
    energy, counts = spectrum.axes[0].values, spectrum.data
    total = float(counts.sum())
    zlp = float(counts[np.abs(energy) < 3.0].sum())
    return total, zlp


def test_protocol_and_capabilities(nion):
    assert isinstance(nion, Driver)
    caps = nion.capabilities()
    assert caps.detectors == ("HAADF", "MAADF", "EELS")
    assert caps.signal_units["EELS"] == "eV"
    assert caps.max_fov_m == pytest.approx(1.6e-6)
    assert "move_stage" in caps.verbs and caps.backend == "nion-usim"
    state = nion.state()
    assert state["high_tension_V"] == pytest.approx(100e3)
    assert state["beam_current_A"] == pytest.approx(200e-12)
    with pytest.raises(NotSupported):
        nion.acquire_overview(FOV_M, (8, 8), DWELL_S, detector="BF")
    with pytest.raises(NotSupported):
        nion.acquire_spectrum(0.01, detector="EDS")


def test_overview_calibration_in_metres_at_pixel_centres(nion):
    frame = _overview(nion)
    assert frame.data.shape == (N_PX, N_PX) and frame.data.dtype == np.float32
    pitch = FOV_M / N_PX
    for axis in frame.axes:
        assert axis.units == "m"
        assert axis.scale == pytest.approx(pitch, rel=1e-9)
        assert axis.values[0] == pytest.approx(-FOV_M / 2 + pitch / 2, rel=1e-9)
        assert axis.values[-1] == pytest.approx(FOV_M / 2 - pitch / 2, rel=1e-9)
    assert [a.name for a in frame.axes] == ["y", "x"]
    assert frame.metadata["fov_m"] == FOV_M and frame.metadata["dwell_s"] == DWELL_S
    assert frame.metadata["dose_e"] == pytest.approx(200e-12 * DWELL_S * N_PX**2 / E_CHARGE)
    # usim's HAADF is (flake layers + noise) x pixel time in us: doubling the dwell doubles the signal
    layers = frame.data / (DWELL_S * 1e6)
    assert np.mean(np.abs(layers - np.round(layers)) < 0.5) > 0.85  # near-integer layer counts
    slower = nion.acquire_overview(FOV_M, (N_PX, N_PX), 2 * DWELL_S)
    assert float(slower.data.mean() / frame.data.mean()) == pytest.approx(2.0, rel=0.1)
    maadf = nion.acquire_overview(FOV_M, (16, 16), DWELL_S, detector="MAADF")
    assert maadf.metadata["detector"] == "MAADF" and maadf.data.shape == (16, 16)
    # a non-square scan: fov_m spans the wider side, pixels stay square
    wide = nion.acquire_overview(FOV_M, (32, 64), DWELL_S)
    assert wide.axes[1].scale == pytest.approx(FOV_M / 64) and wide.axes[0].scale == pytest.approx(FOV_M / 64)


def test_probe_on_chosen_pixel_spectrum_follows_the_sample(nion):
    frame = _overview(nion)
    pixels = _layer_pixels(frame)
    assert 0 in pixels, "the 100 nm field at the stage origin has vacuum"
    thick = max(pixels)
    assert thick >= 1
    expected_total = 200e-12 * 0.05 / E_CHARGE * COUNTS_PER_ELECTRON
    results = {}
    for count in (0, thick):
        py, px = pixels[count]
        # place by metres for the feature, by fraction for vacuum: both must land on the pixel centre
        if count:
            probe = nion.set_probe(frame.frame_id, yx_m=(frame.axes[0].values[py], frame.axes[1].values[px]))
        else:
            probe = nion.set_probe(frame.frame_id, yx_frac=((py + 0.5) / N_PX, (px + 0.5) / N_PX))
        assert probe.yx_frac == pytest.approx(((py + 0.5) / N_PX, (px + 0.5) / N_PX), abs=1e-12)
        assert probe.yx_m == pytest.approx((frame.axes[0].values[py], frame.axes[1].values[px]), abs=1e-15)
        pos = nion._instrument.probe_position
        assert (pos.y, pos.x) == pytest.approx(probe.yx_frac, abs=1e-12)
        spectrum = nion.acquire_spectrum(0.05)
        assert spectrum.metadata["probe_yx_m"] == probe.yx_m
        results[count] = spectrum
    for count, spectrum in results.items():
        total, zlp = _zlp_ratio(spectrum)
        # beam current x exposure x counts per electron, in vacuum and on the flake alike
        assert total == pytest.approx(expected_total, rel=0.02)
        # ln(total / zero-loss) = thickness / mean free path = 0.3 per flake layer
        assert math.log(total / zlp) == pytest.approx(0.3 * count, abs=0.02)
    energy = results[0].axes[0].values
    window = (energy > 10) & (energy < 30)
    assert results[thick].data[window].sum() > 1e3 * max(results[0].data[window].sum(), 1.0)


def test_energy_axis_in_eV_with_zero_loss_at_zero(nion):
    frame = _overview(nion)
    py, px = _layer_pixels(frame)[0]
    nion.set_probe(frame.frame_id, yx_frac=((py + 0.5) / N_PX, (px + 0.5) / N_PX))
    spectrum = nion.acquire_spectrum(0.02)
    axis = spectrum.signal_axis
    assert spectrum.data.ndim == 1 and spectrum.data.shape == (1024,)
    assert axis.units == "eV" and axis.name == "energy_loss"
    assert axis.scale == pytest.approx(0.5) and axis.offset == pytest.approx(-20.0)
    assert abs(axis.values[int(np.argmax(spectrum.data))]) <= 0.5
    assert spectrum.metadata["raw_shape"] == [256, 1024]
    assert spectrum.metadata["dose_e"] == pytest.approx(200e-12 * 0.02 / E_CHARGE)


def test_blanking_refuses_acquisition(nion):
    assert nion.blanked and nion._instrument.GetVal("C_Blank") == 1.0  # starts blanked
    with pytest.raises(SafetyInterlock, match="blanked"):
        nion.acquire_overview(FOV_M, (16, 16), DWELL_S)
    nion.unblank()
    assert nion._instrument.GetVal("C_Blank") == 0.0
    frame = nion.acquire_overview(FOV_M, (16, 16), DWELL_S)
    nion.set_probe(frame.frame_id, yx_frac=(0.5, 0.5))
    nion.blank()
    assert nion.state()["blanked"] and nion._instrument.GetVal("C_Blank") == 1.0
    with pytest.raises(SafetyInterlock):
        nion.acquire_spectrum(0.01)
    nion.unblank()
    assert nion.acquire_spectrum(0.01).data.sum() > 0


def test_stage_move_shifts_the_overview(nion):
    before = _overview(nion)
    pitch = FOV_M / N_PX
    nion.move_stage(0.0, 8 * pitch)
    assert nion.state()["stage_yx_m"] == pytest.approx((0.0, 8 * pitch))
    with pytest.raises(InvalidArgument, match="stage moved"):
        nion.set_probe(before.frame_id, yx_frac=(0.5, 0.5))
    after = nion.acquire_overview(FOV_M, (N_PX, N_PX), DWELL_S)
    a, b = before.data, after.data

    def corr(shift: int) -> float:
        if shift >= 0:
            return float(np.corrcoef(b[:, : N_PX - shift].ravel(), a[:, shift:].ravel())[0, 1])
        return float(np.corrcoef(b[:, -shift:].ravel(), a[:, : N_PX + shift].ravel())[0, 1])

    scores = {shift: corr(shift) for shift in range(-12, 13, 2)}
    assert max(scores, key=scores.get) == 8  # features moved 8 pixels toward -x
    assert scores[8] > 0.7 and scores[0] < scores[8] - 0.2
    with pytest.raises(InvalidArgument, match="stage_limit_m"):
        nion.move_stage(0.0, 1e-6)
    assert nion.state()["stage_yx_m"] == pytest.approx((0.0, 8 * pitch))  # refused, not clamped


def test_probe_outside_the_overview_is_refused_not_clamped(nion):
    frame = _overview(nion)
    nion.set_probe(frame.frame_id, yx_frac=(0.25, 0.75))
    bad = [
        {"yx_frac": (1.01, 0.5)},
        {"yx_frac": (0.5, -0.001)},
        {"yx_frac": (float("nan"), 0.5)},
        {"yx_m": (0.0, 0.51 * FOV_M)},
        {"yx_frac": (0.5, 0.5), "yx_m": (0.0, 0.0)},
        {},
    ]
    for kwargs in bad:
        with pytest.raises(InvalidArgument):
            nion.set_probe(frame.frame_id, **kwargs)
        pos = nion._instrument.probe_position
        assert (pos.y, pos.x) == pytest.approx((0.25, 0.75))  # untouched
    with pytest.raises(InvalidArgument, match="unknown"):
        nion.set_probe("no-such-frame", yx_frac=(0.5, 0.5))
    newer = nion.acquire_overview(FOV_M, (16, 16), DWELL_S)
    with pytest.raises(InvalidArgument, match="older overview"):
        nion.set_probe(frame.frame_id, yx_frac=(0.5, 0.5))
    with pytest.raises(InvalidArgument, match="no probe position"):
        nion.acquire_spectrum(0.01)  # a new overview invalidates the old probe fraction
    assert nion.set_probe(newer.frame_id, yx_frac=(1.0, 0.0)).yx_frac == (1.0, 0.0)  # edges are inside
    for kwargs in ({"exposure_s": 0.0}, {"exposure_s": 11.0}, {"exposure_s": float("inf")}):
        with pytest.raises(InvalidArgument):
            nion.acquire_spectrum(**kwargs)
    for args in ((0.0, (8, 8), DWELL_S), (2e-6, (8, 8), DWELL_S), (FOV_M, (0, 8), DWELL_S), (FOV_M, (8, 8), 1.0)):
        with pytest.raises(InvalidArgument):
            nion.acquire_overview(*args)


def test_untyped_nion_faults_are_translated(nion, monkeypatch):
    nion.unblank()

    def sync_timeout(*args, **kwargs):
        raise AssertionError()  # what record_immediate raises when its sync_timeout passes

    monkeypatch.setattr(nion._scan, "record_immediate", sync_timeout)
    with pytest.raises(Timeout, match="acquire_overview"):
        nion.acquire_overview(FOV_M, (8, 8), DWELL_S)

    def motor_fault(**kwargs):
        raise Exception("stage motor fault")

    monkeypatch.setattr(nion._instrument, "change_stage_position", motor_fault)
    with pytest.raises(InstrumentError) as info:
        nion.move_stage(1e-9, 0.0)
    assert info.value.vendor_message == "Exception: stage motor fault"
    assert nion.state()["stage_yx_m"] == (0.0, 0.0)  # a failed move is not counted


def test_close_is_idempotent_and_releases_the_simulator(tmp_path):
    first = NionDriver(config_dir=tmp_path / "a")
    with pytest.raises(InstrumentError, match="already open"):
        NionDriver(config_dir=tmp_path / "b")
    first.close()
    first.close()
    with pytest.raises(InstrumentError, match="closed"):
        first.acquire_overview(FOV_M, (8, 8), DWELL_S)
    with NionDriver(config_dir=tmp_path / "c") as second:  # the process-wide registries were released
        second.unblank()
        assert second.acquire_overview(FOV_M, (8, 8), DWELL_S).data.shape == (8, 8)
    assert second._closed


def test_attach_to_running_hardware_sources(tmp_path):
    session = UsimSession(config_dir=tmp_path / "swift")
    try:
        driver = NionDriver(simulator=False)
        assert driver.capabilities().backend == "nion-swift"
        driver.unblank()
        frame = driver.acquire_overview(FOV_M, (16, 16), DWELL_S)
        assert frame.data.shape == (16, 16)
        driver.close()
        assert not session.closed  # the driver does not own what it attached to
        assert session.scan is not None
    finally:
        session.close()


@pytest.mark.slow
def test_timeouts_come_back_typed_and_the_camera_recovers(nion):
    frame = _overview(nion)
    nion.set_probe(frame.frame_id, yx_frac=(0.5, 0.5))
    t0 = time.perf_counter()
    with pytest.raises(Timeout):
        nion.acquire_spectrum(1.5, timeout_s=0.3)
    assert time.perf_counter() - t0 < 1.0  # the caller gets its answer at the timeout, not after 1.5 s
    t0 = time.perf_counter()
    with pytest.raises(Timeout):
        nion.acquire_overview(FOV_M, (128, 128), 60e-6, timeout_s=0.2)  # about 1 s of scanning
    assert time.perf_counter() - t0 < 3.0
    again = nion.acquire_overview(FOV_M, (16, 16), DWELL_S)
    nion.set_probe(again.frame_id, yx_frac=(0.5, 0.5))
    assert nion.acquire_spectrum(0.02).data.sum() > 0


@pytest.mark.slow
def test_stop_aborts_a_running_exposure_and_blanks(nion):
    frame = _overview(nion)
    nion.set_probe(frame.frame_id, yx_frac=(0.5, 0.5))
    outcome: dict[str, object] = {}

    def run() -> None:
        t0 = time.perf_counter()
        try:
            nion.acquire_spectrum(1.5)
        except BaseException as exc:  # noqa: BLE001 - inspected below
            outcome["error"] = exc
        outcome["elapsed"] = time.perf_counter() - t0

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.3)
    nion.stop()
    worker.join(timeout=10)
    assert isinstance(outcome.get("error"), Aborted)
    assert outcome["elapsed"] < 1.2
    assert nion.blanked and nion._instrument.GetVal("C_Blank") == 1.0


def test_safe_driver_over_usim_opens_the_beam_only_to_acquire(tmp_path):
    from drivers.safety import SafeDriver, SafetyLimits

    with SafeDriver(NionDriver(config_dir=tmp_path / "cfg"), SafetyLimits(max_total_dose_e=1e9),
                    register_atexit=False) as safe:
        assert safe.beam_current_A == pytest.approx(200e-12)  # from NionDriver.state()
        inner = safe.inner
        frame = safe.acquire_overview(FOV_M, (32, 32), DWELL_S)
        assert inner.blanked and inner._instrument.GetVal("C_Blank") == 1.0
        safe.set_probe(frame.frame_id, yx_frac=(0.5, 0.5))
        spectrum = safe.acquire_spectrum(0.5)  # 6.2e8 electrons
        assert spectrum.data.sum() > 0 and inner._instrument.GetVal("C_Blank") == 1.0
        with pytest.raises(SafetyInterlock, match="total dose budget"):
            safe.acquire_spectrum(0.5)  # a second one would pass 1e9 electrons
    assert inner._closed


def test_config_builds_the_driver(tmp_path):
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from drivers.remote.testing import REPO_ROOT

    cfg = OmegaConf.load(REPO_ROOT / "conf" / "driver" / "nion_usim.yaml")
    cfg.config_dir = str(tmp_path / "cfg")
    cfg.default_shape_px = [16, 16]
    driver = instantiate(cfg)
    try:
        assert isinstance(driver, NionDriver)
        driver.unblank()
        frame = driver.acquire_overview(None, None, None)
        assert frame.data.shape == (16, 16)
        assert frame.metadata["fov_m"] == pytest.approx(100e-9) and frame.metadata["dwell_s"] == 2e-6
    finally:
        driver.close()


@pytest.mark.slow
def test_served_remotely_by_autoscope_serve():
    """``autoscope-serve driver=nion_usim`` in a child process, driven through RemoteDriver."""
    from drivers.remote import RemoteDriver
    from drivers.remote.testing import ServerProcess

    with ServerProcess(["driver=nion_usim", "driver.default_shape_px=[64,64]"], module="agent.serve") as proc:
        with RemoteDriver(proc.uri, heartbeat_s=0.5) as remote:
            assert remote.capabilities().backend == "safe(nion-usim)"
            frame = remote.acquire_overview(None, None, None)
            assert frame.data.shape == (64, 64) and frame.data.dtype == np.float32
            py, px = _layer_pixels(frame)[0]
            remote.set_probe(frame.frame_id, yx_m=(frame.axes[0].values[py], frame.axes[1].values[px]))
            spectrum = remote.acquire_spectrum(0.05)
            total, zlp = _zlp_ratio(spectrum)
            assert zlp / total > 0.99  # vacuum: nearly all counts in the zero-loss peak
            state = remote.state()
            assert state["blanked"] is True and state["safety"]["total_dose_e"] > 0
