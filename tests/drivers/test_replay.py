"""ReplayDriver on synthetic recordings: mapping, calibration, thinning, refusals, denoising, truth."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from drivers import (
    Axis,
    ConnectionLost,
    Driver,
    GroundTruth,
    InvalidArgument,
    NotSupported,
    Timeout,
)
from drivers.replay import (
    DATASET_ALIASES,
    DATASETS,
    ENV_VAR,
    ReplayDataNotFound,
    ReplayDriver,
    ReplayFormatError,
    ReplayProbeState,
    data_dir,
    denoise_cube,
    metres_per_unit,
    resolve_data_path,
    thin_counts,
)
from rewards import RewardError, evaluate_at

NY, NX, NE = 12, 10, 40


def synthetic_truth() -> np.ndarray:
    """(NY, NX, NE) float64 Poisson rates: two phases (peaks at channels 10 and 28) mixed smoothly."""
    yy, xx = np.mgrid[0:NY, 0:NX]
    mix = 1.0 / (1.0 + np.exp(-(xx - NX / 2 + 0.5 * (yy - NY / 2)) / 1.5))
    ch = np.arange(NE)
    peak_a = 6.0 * np.exp(-0.5 * ((ch - 10) / 2.0) ** 2) + 0.5
    peak_b = 4.0 * np.exp(-0.5 * ((ch - 28) / 2.5) ** 2) + 0.5
    return mix[..., None] * peak_a + (1 - mix[..., None]) * peak_b


def synthetic_counts(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    truth = synthetic_truth()
    counts = np.random.default_rng(seed).poisson(truth).astype(np.uint16)
    return truth, counts


def energy_axis() -> np.ndarray:
    return 0.5 + 0.01 * np.arange(NE)


def make_driver(**options) -> ReplayDriver:
    _, counts = synthetic_counts()
    image = counts.sum(axis=2).astype(np.float32)
    return ReplayDriver.from_arrays(
        image, counts, energy_axis(), "X-ray energy", "keV", pixel_size_m=2e-9, **options
    )


def write_npz(path: Path, pixel_size: float = 2.0, pixel_units: str = "nm", cube: np.ndarray | None = None,
              meta: dict | None = None) -> Path:
    _, counts = synthetic_counts()
    cube = counts if cube is None else cube
    np.savez(
        path,
        image=cube.sum(axis=2).astype(np.float32),
        cube=cube,
        axis=energy_axis().astype(np.float32),
        axis_name=np.array("X-ray energy"),
        axis_units=np.array("keV"),
        pixel_size=np.float32(pixel_size),
        pixel_units=np.array(pixel_units),
        meta=np.array(json.dumps(meta or {"kind": "STEM-EDS SI + HAADF", "image_title": "HAADF"})),
    )
    return path


def window_ratio(spectrum: np.ndarray, axis: Axis) -> float:
    """Fraction of counts in channels 5..15 among channels 5..15 and 23..33 (a line-ratio reward)."""
    a = float(spectrum[5:16].sum())
    b = float(spectrum[23:34].sum())
    if a + b <= 0:
        raise RewardError("no counts in either window")
    return a / (a + b)


# --------------------------------------------------------------------------------------- paths
def test_data_paths_env_override_and_missing_file(tmp_path, monkeypatch):
    write_npz(tmp_path / "mine.npz")
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert data_dir() == tmp_path
    assert resolve_data_path("mine.npz") == (tmp_path / "mine.npz").resolve()
    driver = ReplayDriver(path="mine.npz")
    assert driver.shape_px == (NY, NX)
    with pytest.raises(ReplayDataNotFound) as info:
        ReplayDriver(path="no_such_recording.npz")
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert "no_such_recording.npz" in message and ENV_VAR in message and "README" in message
    assert str(tmp_path) in message


def test_known_dataset_names():
    assert len(DATASETS) == 7 and all(name.endswith(".npz") for name in DATASETS)
    assert set(DATASET_ALIASES) == {
        "ncem_eds", "jeol_eds", "bruker_tem_eds", "bruker_mineral_eds", "bruker_p45_eds", "pto_beps", "kpfm"
    }


# --------------------------------------------------------------------------------------- calibration
@pytest.mark.parametrize(
    "units, factor",
    [("m", 1.0), ("mm", 1e-3), ("um", 1e-6), ("µm", 1e-6), ("μm", 1e-6), ("nm", 1e-9), ("Å", 1e-10)],
)
def test_metres_per_unit(units, factor):
    assert metres_per_unit(units) == pytest.approx(factor, rel=1e-12)


def test_metres_per_unit_pixels_and_refusal():
    assert metres_per_unit("px") is None and metres_per_unit("") is None
    with pytest.raises(ValueError, match="not a length"):
        metres_per_unit("1/nm")


@pytest.mark.parametrize("size, units, scale_m", [(2.0, "nm", 2e-9), (1.5, "µm", 1.5e-6), (0.25, "mm", 2.5e-4)])
def test_npz_calibration_to_metres_centred(tmp_path, size, units, scale_m):
    driver = ReplayDriver.from_npz(write_npz(tmp_path / "cal.npz", size, units))
    frame = driver.acquire_overview()
    ay, ax = frame.axes
    assert (ay.units, ax.units) == ("m", "m")
    assert ax.scale == pytest.approx(scale_m, rel=1e-6)
    assert ax.values[0] == pytest.approx(-(NX - 1) / 2 * scale_m, rel=1e-6)
    assert ay.values[-1] == pytest.approx((NY - 1) / 2 * scale_m, rel=1e-6)
    assert ax.values.mean() == pytest.approx(0.0, abs=1e-6 * scale_m)
    assert driver.native_fov_m == pytest.approx(NY * scale_m, rel=1e-6)


def test_npz_uncalibrated_uses_pixels(tmp_path):
    driver = ReplayDriver.from_npz(write_npz(tmp_path / "nan.npz", float("nan"), "nm"))
    frame = driver.acquire_overview()
    assert frame.axes[1].units == "px" and frame.axes[1].scale == 1.0
    assert frame.axes[1].values[0] == -(NX - 1) / 2
    assert frame.metadata["calibrated"] is False
    assert np.isnan(driver.capabilities().max_fov_m)
    with pytest.raises(InvalidArgument, match="null for replay"):
        driver.acquire_overview(fov_m=1e-6)


def test_npz_non_length_units_refused_unless_overridden(tmp_path):
    path = write_npz(tmp_path / "recip.npz", 0.1, "1/nm")
    with pytest.raises(ReplayFormatError, match="pixel_size_m"):
        ReplayDriver.from_npz(path)
    driver = ReplayDriver.from_npz(path, pixel_size_m=3e-9)
    assert driver.acquire_overview().axes[0].scale == pytest.approx(3e-9)


def test_npz_missing_key_is_named(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, image=np.zeros((2, 2), np.float32))
    with pytest.raises(ReplayFormatError, match="cube"):
        ReplayDriver.from_npz(path)


# --------------------------------------------------------------------------------------- probe mapping
def test_protocols_are_met():
    driver = make_driver()
    assert isinstance(driver, Driver) and isinstance(driver, GroundTruth)


@pytest.mark.parametrize(
    "frac, pixel",
    [
        ((0.0, 0.0), (0, 0)),
        ((1.0, 1.0), (NY - 1, NX - 1)),
        ((0.0, 1.0), (0, NX - 1)),
        ((1.0, 0.0), (NY - 1, 0)),
        ((3 / NY, 7 / NX), (3, 7)),  # a pixel's lower edge belongs to it
        ((3 / NY - 1e-9, 7 / NX - 1e-9), (2, 6)),  # just below: the previous pixel
        ((0.5, 0.5), (6, 5)),
    ],
)
def test_set_probe_fraction_nearest_pixel(frac, pixel):
    driver = make_driver()
    frame = driver.acquire_overview()
    state = driver.set_probe(frame.frame_id, yx_frac=frac)
    assert isinstance(state, ReplayProbeState)
    assert state.yx_px == pixel
    assert state.yx_m == (frame.axes[0].values[pixel[0]], frame.axes[1].values[pixel[1]])
    assert state.yx_frac == ((pixel[0] + 0.5) / NY, (pixel[1] + 0.5) / NX)
    assert driver.acquire_spectrum().metadata["probe_yx_px"] == pixel


def test_set_probe_metres_centres_and_edges():
    driver = make_driver()
    frame = driver.acquire_overview()
    ay, ax = frame.axes
    scale = 2e-9
    for row in (0, 4, NY - 1):
        for col in (0, 7, NX - 1):
            state = driver.set_probe(frame.frame_id, yx_m=(ay.values[row], ax.values[col]))
            assert state.yx_px == (row, col)
    half_y, half_x = NY * scale / 2, NX * scale / 2
    assert driver.set_probe(frame.frame_id, yx_m=(-half_y, -half_x)).yx_px == (0, 0)
    assert driver.set_probe(frame.frame_id, yx_m=(half_y, half_x)).yx_px == (NY - 1, NX - 1)
    # 0.4 of a pitch off a centre still snaps to that pixel, 0.6 goes to the next one
    assert driver.set_probe(frame.frame_id, yx_m=(ay.values[3] + 0.4 * scale, ax.values[2])).yx_px == (3, 2)
    assert driver.set_probe(frame.frame_id, yx_m=(ay.values[3] + 0.6 * scale, ax.values[2])).yx_px == (4, 2)
    with pytest.raises(InvalidArgument, match="outside the recorded field"):
        driver.set_probe(frame.frame_id, yx_m=(half_y + 0.01 * scale, 0.0))


@pytest.mark.parametrize("frac", [(-0.01, 0.5), (0.5, 1.01), (float("nan"), 0.5)])
def test_set_probe_out_of_range_refused(frac):
    driver = make_driver()
    frame = driver.acquire_overview()
    with pytest.raises(InvalidArgument, match="yx_frac"):
        driver.set_probe(frame.frame_id, yx_frac=frac)


def test_set_probe_argument_refusals():
    driver = make_driver()
    with pytest.raises(InvalidArgument, match="acquire_overview first"):
        driver.set_probe("anything", yx_frac=(0.5, 0.5))
    frame = driver.acquire_overview()
    with pytest.raises(InvalidArgument, match="exactly one"):
        driver.set_probe(frame.frame_id)
    with pytest.raises(InvalidArgument, match="exactly one"):
        driver.set_probe(frame.frame_id, yx_frac=(0.5, 0.5), yx_m=(0.0, 0.0))
    with pytest.raises(InvalidArgument, match="frame_id"):
        driver.set_probe("some-other-frame", yx_frac=(0.5, 0.5))
    with pytest.raises(InvalidArgument, match="set_probe first"):
        make_driver().acquire_spectrum()


# --------------------------------------------------------------------------------------- overview
def test_overview_returns_recorded_image_and_refuses_other_fields():
    driver = make_driver()
    frame = driver.acquire_overview()
    np.testing.assert_array_equal(frame.data, driver.recording.image)
    assert frame.data.shape == (NY, NX) and frame.data.dtype == np.float32
    native = NY * 2e-9
    assert driver.acquire_overview(fov_m=native, shape_px=(NY, NX)).frame_id != frame.frame_id
    with pytest.raises(InvalidArgument, match="fov_m.*null for replay"):
        driver.acquire_overview(fov_m=native * 1.5)
    with pytest.raises(InvalidArgument, match="shape_px.*null for replay"):
        driver.acquire_overview(shape_px=(NY * 2, NX * 2))


def test_detectors_aliases_and_refusal():
    driver = make_driver()
    caps = driver.capabilities()
    assert caps.signal_units == {caps.detectors[-1]: "keV"}
    driver.acquire_overview(detector="HAADF")  # protocol default: the recorded image
    frame = driver.acquire_overview(detector=caps.detectors[0])
    driver.set_probe(frame.frame_id, yx_frac=(0.5, 0.5))
    assert driver.acquire_spectrum(detector="EELS").metadata["detector"] == caps.detectors[-1]
    with pytest.raises(NotSupported, match="Ronchigram"):
        driver.acquire_overview(detector="Ronchigram")
    with pytest.raises(NotSupported):
        driver.acquire_spectrum(detector="CL-spectrometer")


# --------------------------------------------------------------------------------------- spectra
def test_spectrum_is_recorded_data_at_full_exposure():
    truth, counts = synthetic_counts()
    driver = make_driver()
    frame = driver.acquire_overview()
    driver.set_probe(frame.frame_id, yx_frac=(0.3, 0.8))
    py, px = int(0.3 * NY), int(0.8 * NX)
    for exposure in (None, 1.0):
        spectrum = driver.acquire_spectrum(exposure)
        np.testing.assert_array_equal(spectrum.data, counts[py, px].astype(np.float64))
        assert spectrum.data.dtype == np.float64
        assert spectrum.axes[0].units == "keV" and spectrum.axes[0].name == "X-ray energy"
        np.testing.assert_allclose(spectrum.axes[0].values, energy_axis())
        assert spectrum.metadata["thinning_fraction"] == 1.0


def test_non_monotonic_signal_axis_keeps_order():
    bias = np.concatenate([np.linspace(0, 8, 5), np.linspace(6, -8, 8), np.linspace(-6, 0, 4)])
    cube = np.random.default_rng(1).normal(size=(4, 5, bias.size)).astype(np.float32)
    driver = ReplayDriver.from_arrays(cube[..., 0], cube, bias, "DC bias", "V", pixel_size_m=4e-8)
    assert driver.counts is False
    frame = driver.acquire_overview()
    driver.set_probe(frame.frame_id, yx_frac=(0.0, 1.0))
    spectrum = driver.acquire_spectrum()
    np.testing.assert_array_equal(spectrum.axes[0].values, bias)
    np.testing.assert_array_equal(spectrum.data, cube[0, 4])
    with pytest.raises(InvalidArgument, match="not count data"):
        driver.acquire_spectrum(0.5)
    with pytest.raises(InvalidArgument, match="dwell_fraction"):
        ReplayDriver.from_arrays(cube[..., 0], cube, bias, "DC bias", "V", dwell_fraction=0.5)
    with pytest.raises(InvalidArgument, match="counts=True"):
        ReplayDriver.from_arrays(cube[..., 0], cube, bias, counts=True)


def test_thinning_is_deterministic_per_seed_pixel_exposure():
    def spectrum(driver: ReplayDriver, frac: tuple[float, float], exposure: float) -> np.ndarray:
        frame = driver.acquire_overview()
        driver.set_probe(frame.frame_id, yx_frac=frac)
        return driver.acquire_spectrum(exposure).data

    a, b = make_driver(seed=7), make_driver(seed=7)
    first = spectrum(a, (0.5, 0.5), 0.4)
    spectrum(a, (0.1, 0.1), 0.2)  # other acquisitions in between do not shift the stream
    np.testing.assert_array_equal(spectrum(a, (0.5, 0.5), 0.4), first)
    np.testing.assert_array_equal(spectrum(b, (0.5, 0.5), 0.4), first)
    assert not np.array_equal(spectrum(make_driver(seed=8), (0.5, 0.5), 0.4), first)
    assert not np.array_equal(spectrum(a, (0.5, 0.5), 0.5), first)


def test_thinning_statistics_and_bounds():
    counts = np.full(400, 1000, dtype=np.int64)
    counts[::7] = 3
    kept = thin_counts(counts, 0.3, seed=1, pixel=(2, 3))
    assert kept.dtype == np.int64 and np.all(kept <= counts) and np.all(kept >= 0)
    assert kept[counts == 1000].mean() / 1000 == pytest.approx(0.3, abs=0.005)
    np.testing.assert_array_equal(thin_counts(counts, 1.0, seed=1, pixel=(2, 3)), counts)
    # over a whole synthetic cube through the driver: mean ~ fraction x recorded counts
    _, recorded = synthetic_counts()
    driver = make_driver(seed=3)
    frame = driver.acquire_overview()
    total_kept = total = 0.0
    for row in range(NY):
        for col in range(NX):
            driver.set_probe(frame.frame_id, yx_frac=((row + 0.5) / NY, (col + 0.5) / NX))
            spectrum = driver.acquire_spectrum(0.25).data
            assert np.all(spectrum <= recorded[row, col])
            total_kept += spectrum.sum()
            total += recorded[row, col].sum()
    assert total_kept / total == pytest.approx(0.25, abs=0.01)


def test_exposure_refusals_and_dwell_fraction():
    driver = make_driver(recorded_exposure_s=0.2)
    frame = driver.acquire_overview()
    driver.set_probe(frame.frame_id, yx_frac=(0.5, 0.5))
    with pytest.raises(InvalidArgument, match="cannot create counts"):
        driver.acquire_spectrum(0.3)
    with pytest.raises(InvalidArgument, match="exposure_s"):
        driver.acquire_spectrum(0.0)
    with pytest.raises(InvalidArgument, match="dwell_fraction"):
        make_driver(dwell_fraction=1.5)
    half = make_driver(dwell_fraction=0.5, seed=4)
    frame = half.acquire_overview()
    half.set_probe(frame.frame_id, yx_frac=(0.5, 0.5))
    spectrum = half.acquire_spectrum()
    assert spectrum.metadata["thinning_fraction"] == 0.5 and spectrum.metadata["exposure_s"] == 0.5
    assert half.acquire_spectrum(0.5).metadata["thinning_fraction"] == 0.25
    with pytest.raises(InvalidArgument, match="cannot create counts"):
        half.acquire_spectrum(2.5)


def test_virtual_clock_and_timeout():
    driver = make_driver(overhead_s=0.01, recorded_exposure_s=0.5)
    frame = driver.acquire_overview(dwell_s=1e-6)
    assert driver.time_s == pytest.approx(0.01 + 1e-6 * NY * NX)
    start = driver.time_s
    driver.set_probe(frame.frame_id, yx_frac=(0.5, 0.5))
    spectrum = driver.acquire_spectrum(0.1)
    assert spectrum.metadata["start_time_s"] == pytest.approx(start)
    assert spectrum.metadata["time_s"] == driver.time_s == pytest.approx(start + 0.11)
    assert spectrum.metadata["duration_s"] == pytest.approx(0.11)
    driver.acquire_spectrum()
    assert driver.time_s == pytest.approx(start + 0.11 + 0.51)
    before = driver.time_s
    with pytest.raises(Timeout):
        driver.acquire_spectrum(0.4, timeout_s=0.2)
    assert driver.time_s == pytest.approx(before + 0.2)


def test_blank_stop_close():
    driver = make_driver()
    assert driver.state()["blanked"] is True  # blanked except during an acquisition
    frame = driver.acquire_overview()  # no unblank needed, as with the emulator
    state = driver.set_probe(frame.frame_id, yx_frac=(0.5, 0.5))
    assert state.blanked is True
    driver.unblank()
    assert driver.state()["blanked"] is False
    driver.acquire_spectrum()
    assert driver.state()["blanked"] is True  # closes again when the acquisition ends
    driver.unblank()
    driver.stop()
    assert driver.state()["blanked"] is True
    driver.acquire_spectrum()
    driver.close()
    driver.close()  # idempotent
    for verb in (driver.capabilities, driver.acquire_overview, driver.acquire_spectrum, driver.blank,
                 driver.unblank, driver.stop, driver.state):
        with pytest.raises(ConnectionLost):
            verb()
    with pytest.raises(ConnectionLost):
        driver.set_probe(frame.frame_id, yx_frac=(0.5, 0.5))
    scored = evaluate_at(window_ratio, driver.expected_spectra, driver.signal_axis, [(0.0, 0.0)])
    assert scored.shape == (1,)  # scoring still works


# --------------------------------------------------------------------------------------- denoising
@pytest.mark.parametrize(
    "method, options",
    [("box", {"box_px": 3}), ("gaussian", {"sigma_px": 1.0}), ("pca", {"n_components": 2})],
)
def test_denoising_reduces_error_to_known_truth(method, options):
    truth, counts = synthetic_counts(seed=5)
    raw_rmse = np.sqrt(np.mean((counts - truth) ** 2))
    denoised = denoise_cube(counts, method, counts=True, **options)
    assert denoised.shape == counts.shape and denoised.dtype == np.float32
    rmse = np.sqrt(np.mean((denoised - truth) ** 2))
    assert rmse < 0.6 * raw_rmse, (method, rmse, raw_rmse)


def test_pca_on_float_data_and_none():
    truth = synthetic_truth()
    noisy = truth + np.random.default_rng(2).normal(0, 0.5, truth.shape)
    denoised = denoise_cube(noisy, "pca", n_components=2)
    assert np.sqrt(np.mean((denoised - truth) ** 2)) < 0.5 * np.sqrt(np.mean((noisy - truth) ** 2))
    np.testing.assert_allclose(denoise_cube(noisy, "none"), noisy.astype(np.float32))


@pytest.mark.parametrize(
    "options, field",
    [({"denoise": "median"}, "denoise"), ({"denoise": "box", "box_px": 4}, "box_px"),
     ({"denoise": "gaussian", "sigma_px": 0.0}, "sigma_px"), ({"denoise": "pca", "n_components": 500}, "n_components"),
     ({"blas_threads": 0}, "blas_threads")],
)
def test_denoise_settings_refused(options, field):
    with pytest.raises(InvalidArgument, match=field):
        make_driver(**options)


# --------------------------------------------------------------------------------------- ground truth
def test_ground_truth_is_reward_on_denoised_cube():
    driver = make_driver(denoise="box", box_px=3)
    frame = driver.acquire_overview()
    ay, ax = frame.axes
    _, counts = synthetic_counts()
    expected_cube = denoise_cube(counts, "box", box_px=3, counts=True)
    np.testing.assert_array_equal(driver.denoised_cube(), expected_cube)
    pixels = [(0, 0), (5, 3), (NY - 1, NX - 1), (5, 3)]
    points = np.array([(ay.values[r] + 0.3e-9, ax.values[c] - 0.3e-9) for r, c in pixels])
    values = evaluate_at(window_ratio, driver.expected_spectra, driver.signal_axis, points)
    axis = driver.recording.signal_axis
    expected = [window_ratio(expected_cube[r, c].astype(np.float64), axis) for r, c in pixels]
    np.testing.assert_allclose(values, expected, rtol=1e-12)
    raw = [window_ratio(counts[r, c].astype(np.float64), axis) for r, c in pixels]
    assert not np.allclose(values, raw)  # never the raw Poisson-limited value
    tmap = truth_map(driver, window_ratio)
    assert tmap.shape == (NY, NX)
    assert tmap[5, 3] == pytest.approx(values[1]) and tmap[NY - 1, NX - 1] == pytest.approx(values[2])
    # truth follows the phase mixture: left (phase b, peak at 28) low, right (phase a) high
    assert tmap[:, 0].mean() < 0.3 < 0.7 < tmap[:, -1].mean()
    with pytest.raises(InvalidArgument, match="outside"):
        evaluate_at(window_ratio, driver.expected_spectra, driver.signal_axis, [(0.0, 1.0)])
    with pytest.raises(InvalidArgument, match=r"\(n, 2\)"):
        evaluate_at(window_ratio, driver.expected_spectra, driver.signal_axis, [0.0, 0.0, 0.0])


def truth_map(driver: ReplayDriver, reward) -> np.ndarray:
    """(ny, nx) noise-free truth: the reward on the expected spectrum at every recorded pixel centre."""
    ay, ax = driver.acquire_overview().axes
    yy, xx = np.meshgrid(ay.values, ax.values, indexing="ij")
    points = np.stack([yy.ravel(), xx.ravel()], axis=1)
    return evaluate_at(reward, driver.expected_spectra, driver.signal_axis, points).reshape(driver.shape_px)


def test_expected_spectra_are_the_denoised_cube_at_the_nearest_pixel():
    driver = make_driver(denoise="box", box_px=3)
    assert isinstance(driver, GroundTruth) and driver.signal_axis is driver.recording.signal_axis
    ay, ax = driver.acquire_overview().axes
    points = np.array([(ay.values[2] + 0.2e-9, ax.values[7] - 0.2e-9), (ay.values[0], ax.values[0])])
    spectra = driver.expected_spectra(points)
    assert spectra.shape == (2, driver.signal_axis.size) and spectra.dtype == np.float64
    np.testing.assert_array_equal(spectra[0], driver.denoised_cube()[2, 7])
    np.testing.assert_array_equal(spectra[1], driver.denoised_cube()[0, 0])


def test_truth_map_nan_where_reward_raises(caplog):
    driver = make_driver(denoise="none")

    def picky(spectrum: np.ndarray, axis: Axis) -> float:
        if spectrum.sum() > np.median(driver.recording.cube.sum(axis=2)):
            raise RewardError("too bright")
        return float(spectrum.sum())

    with caplog.at_level(logging.WARNING, logger="rewards.evaluate"):
        tmap = truth_map(driver, picky)
    totals = driver.recording.cube.sum(axis=2)
    bright = totals > np.median(totals)
    assert np.isnan(tmap[bright]).all() and np.isfinite(tmap[~bright]).all()
    assert f"failed on {int(bright.sum())} of {NY * NX} spectra" in caplog.text

    def always(spectrum: np.ndarray, axis: Axis) -> float:
        raise RewardError("never works")

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rewards.evaluate"):
        assert np.isnan(truth_map(driver, always)).all()
    assert "failed on every one" in caplog.text
    assert np.isnan(evaluate_at(always, driver.expected_spectra, driver.signal_axis, [(0.0, 0.0)])).all()
