"""ReplayDriver.from_file: spectrum images written and read back through HyperSpy (.hspy)."""

from __future__ import annotations

import numpy as np
import pytest

hs = pytest.importorskip("hyperspy.api")

from drivers.replay import ReplayDriver, ReplayFormatError  # noqa: E402
from drivers.replay.hyperspy_io import pick_image, pick_spectrum_image, recording_from_signals  # noqa: E402

NY, NX, NE = 6, 8, 30


def spectrum_image(units: str = "nm", scale: float = 2.5) -> hs.signals.Signal1D:
    cube = np.random.default_rng(0).poisson(3.0, (NY, NX, NE)).astype(np.uint16)
    signal = hs.signals.Signal1D(cube)
    signal.metadata.General.title = "EDS map"  # names the spectrometer; no signal_type: keeps exspy unloaded
    x_axis, y_axis = signal.axes_manager.navigation_axes
    for axis in (x_axis, y_axis):
        axis.scale, axis.units = scale, units
    e_axis = signal.axes_manager.signal_axes[0]
    e_axis.name, e_axis.units, e_axis.scale, e_axis.offset = "Energy", "keV", 0.02, 0.3
    return signal


def image_signal(factor: int = 1, title: str = "HAADF") -> hs.signals.Signal2D:
    data = np.arange(NY * factor * NX * factor, dtype=np.float32).reshape(NY * factor, NX * factor)
    image = hs.signals.Signal2D(data)
    image.metadata.General.title = title
    return image


def test_hspy_round_trip_with_image(tmp_path):
    si, image = spectrum_image(), image_signal()
    si.save(tmp_path / "si.hspy")
    image.save(tmp_path / "haadf.hspy")
    driver = ReplayDriver.from_file(tmp_path / "si.hspy", image_path="haadf.hspy")  # found beside si
    np.testing.assert_array_equal(driver.recording.cube, si.data)
    assert driver.counts is True
    frame = driver.acquire_overview()
    np.testing.assert_array_equal(frame.data, image.data)
    assert frame.axes[1].units == "m" and frame.axes[1].scale == pytest.approx(2.5e-9)
    assert frame.axes[0].values[0] == pytest.approx(-(NY - 1) / 2 * 2.5e-9)
    caps = driver.capabilities()
    assert caps.detectors == ("HAADF", "EDS") and caps.signal_units == {"EDS": "keV"}
    driver.set_probe(frame.frame_id, yx_frac=(1.0, 0.0))
    spectrum = driver.acquire_spectrum()
    np.testing.assert_array_equal(spectrum.data, si.data[NY - 1, 0])
    assert spectrum.axes[0].name == "Energy" and spectrum.axes[0].units == "keV"
    np.testing.assert_allclose(spectrum.axes[0].values, 0.3 + 0.02 * np.arange(NE))
    assert "HAADF" in frame.metadata["structure_image"]


def test_hspy_without_image_uses_summed_intensity(tmp_path):
    si = spectrum_image(units="µm", scale=0.5)
    si.save(tmp_path / "si.hspy")
    driver = ReplayDriver(path=tmp_path / "si.hspy")  # Hydra-style: dispatch on the suffix
    frame = driver.acquire_overview(detector="sum")
    np.testing.assert_allclose(frame.data, si.data.sum(axis=2))
    assert "sum of the spectrum image" in frame.metadata["structure_image"]
    assert frame.axes[0].scale == pytest.approx(0.5e-6)


def test_hspy_uncalibrated_navigation_is_pixels(tmp_path):
    si = spectrum_image(units="", scale=1.0)
    si.save(tmp_path / "si.hspy")
    frame = ReplayDriver.from_file(tmp_path / "si.hspy").acquire_overview()
    assert frame.axes[0].units == "px" and frame.axes[0].scale == 1.0


def test_bcf_like_signal_list_picks_last_spectrum_image_and_indexed_image():
    si = spectrum_image()
    signals = [image_signal(title="BSE"), image_signal(title="SE"), si]  # a .bcf: images first
    assert pick_spectrum_image(signals, "test") is si
    assert pick_image(signals, 1, "test").metadata.General.title == "SE"
    assert pick_image(signals, None, "test").metadata.General.title == "BSE"
    with pytest.raises(ReplayFormatError, match="image_index=5"):
        pick_image(signals, 5, "test")
    with pytest.raises(ReplayFormatError, match="no spectrum image"):
        pick_spectrum_image(signals[:2], "test")


def test_larger_image_is_block_averaged_and_mismatch_refused():
    si = spectrum_image()
    recording = recording_from_signals(si, image_signal(factor=2), "test")
    big = image_signal(factor=2).data
    expected = big.reshape(NY, 2, NX, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(recording.image, expected)
    assert "block-averaged 2x2" in recording.metadata["structure_image"]
    odd = hs.signals.Signal2D(np.zeros((NY + 1, NX), np.float32))
    with pytest.raises(ReplayFormatError, match="co-registered"):
        recording_from_signals(si, odd, "test")


def test_from_file_refuses_npz_and_unreadable(tmp_path):
    from drivers import InvalidArgument

    with pytest.raises(InvalidArgument, match="from_npz"):
        ReplayDriver.from_file(tmp_path / "x.npz")
    junk = tmp_path / "junk.hspy"
    junk.write_bytes(b"not an hdf5 file")
    with pytest.raises(ReplayFormatError, match="HyperSpy could not read"):
        ReplayDriver.from_file(junk)


def test_bcf_style_file_through_from_file(tmp_path, monkeypatch):
    """A .bcf-like file (images first, spectrum image last): image_index picks an image, none -> sum."""
    import drivers.replay.hyperspy_io as hio

    si = spectrum_image()
    se = image_signal(title="SE")
    signals = [image_signal(title="BSE"), se, si]
    calls = []

    def fake_load(path, load_kwargs=None):
        calls.append((path.name, dict(load_kwargs or {})))
        return signals

    monkeypatch.setattr(hio, "load_signals", fake_load)
    fake = tmp_path / "map.bcf"
    fake.write_bytes(b"")
    driver = ReplayDriver.from_file(fake, image_index=1, load_kwargs={"downsample": 2})
    assert calls == [("map.bcf", {"downsample": 2})]
    frame = driver.acquire_overview(detector="SE")
    np.testing.assert_array_equal(frame.data, se.data)
    summed = ReplayDriver.from_file(fake).acquire_overview()
    np.testing.assert_allclose(summed.data, si.data.sum(axis=2))
    assert "no image given" in summed.metadata["structure_image"]
