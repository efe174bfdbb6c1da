"""FourDSTEMEmulator: optics constants, CoM = imposed deflection, shot noise, flattening, overviews,
refusals, clock and dose, configuration and an end-to-end run of the experiment loop."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from emulator_checks import check_driver_yaml, check_same_seed_same_data, run_ten_steps

from drivers import ConnectionLost, Driver, GroundTruth, InvalidArgument, NotSupported, Timeout
from drivers.fourd import (
    MATERIALS,
    DomeParticle,
    FourDSTEMEmulator,
    PatternAxis,
    Specimen,
    deflection_rad_per_V,
    electron_wavelength_m,
    interaction_constant_rad_per_V_m,
)
from rewards import evaluate_at
from rewards.diffraction import CoMShift, centre_of_mass_px

NM = 1e-9
E_CHARGE = 1.602176634e-19


def _single_gold(**kwargs) -> FourDSTEMEmulator:
    """One round Au dome (a = b = 15 nm, t0 = 20 nm) at the origin on a 5 nm film."""
    particle = DomeParticle((0.0, 0.0), (15 * NM, 15 * NM), 0.0, 20 * NM, MATERIALS["Au"])
    return FourDSTEMEmulator.with_specimen(Specimen((particle,), 100 * NM, 5 * NM), **kwargs)


@pytest.fixture(scope="module")
def em0() -> FourDSTEMEmulator:
    return FourDSTEMEmulator(seed=0)


def _com_mrad(pattern: np.ndarray, pitch: float = 1.0) -> np.ndarray:
    cy, cx = centre_of_mass_px(pattern)
    ky, kx = pattern.shape
    return np.array([cy - 0.5 * (ky - 1), cx - 0.5 * (kx - 1)]) * pitch


# -- optics ------------------------------------------------------------------------------------
def test_electron_optics_constants_match_the_tabulated_values() -> None:
    assert electron_wavelength_m(200e3) == pytest.approx(2.5079e-12, rel=1e-4)
    assert electron_wavelength_m(300e3) == pytest.approx(1.9687e-12, rel=1e-4)
    assert interaction_constant_rad_per_V_m(200e3) * 1e-9 == pytest.approx(7.288e-3, rel=1e-3)
    assert interaction_constant_rad_per_V_m(300e3) * 1e-9 == pytest.approx(6.526e-3, rel=1e-3)
    assert deflection_rad_per_V(200e3) == pytest.approx(2.909e-6, rel=1e-3)


# -- the field and the centre of mass -----------------------------------------------------------
def test_deflection_of_a_dome_is_known_and_points_to_its_centre() -> None:
    em = _single_gold()
    a, t0, mip = 15 * NM, 20 * NM, MATERIALS["Au"].mip_V
    steepest = 1.5 * t0 / a * mip * deflection_rad_per_V(200e3) * 1e3  # mrad at r = a / sqrt(2)
    r = a / math.sqrt(2.0)
    pts = np.array([[0.0, r], [-r, 0.0], [r * math.sin(0.4), r * math.cos(0.4)]])
    theta = em.deflection_mrad(pts)
    np.testing.assert_allclose(theta[0], [0.0, -steepest], atol=1e-12)  # towards the centre (-x)
    np.testing.assert_allclose(theta[1], [steepest, 0.0], atol=1e-12)
    np.testing.assert_allclose(theta[2], -steepest * np.array([math.sin(0.4), math.cos(0.4)]),
                               atol=1e-12)
    np.testing.assert_allclose(em.projected_field_V(pts[:1]), [[0.0, 1.5 * t0 / a * mip]], rtol=1e-12)
    # zero at the centre, beyond the rim and over the bare film
    np.testing.assert_allclose(em.deflection_mrad(np.array([[0.0, 0.0], [0.0, 16 * NM],
                                                            [30 * NM, -40 * NM]])), 0.0, atol=1e-15)
    # the gradient agrees with finite differences of the projected potential
    p = np.array([[4 * NM, -6 * NM]])
    h = 1e-12
    vp = em.specimen.projected_potential_V_m
    fd = [(vp(p + [[h, 0]]) - vp(p - [[h, 0]]))[0] / (2 * h),
          (vp(p + [[0, h]]) - vp(p - [[0, h]]))[0] / (2 * h)]
    np.testing.assert_allclose(em.specimen.potential_gradient_V(p)[0], fd, rtol=1e-5)


def test_noise_free_com_shift_equals_the_imposed_deflection(em0: FourDSTEMEmulator) -> None:
    pts = []
    for p in em0.specimen.particles:  # flanks of every particle, its centre, and bare film
        c = np.asarray(p.centre_yx_m)
        for ang in (0.3, 2.0, 4.1):
            pts.append(c + 0.7 * p.semi_axes_m[1] * np.array([math.sin(ang), math.cos(ang)]))
        pts.append(c)
    pts.append(np.array([-95 * NM, 95 * NM]))
    pts = np.asarray(pts)
    theta = em0.deflection_mrad(pts)
    assert np.hypot(*theta.T).max() > 0.05  # flanks really deflect
    spectra = em0.expected_spectra(pts)
    axis = em0.pattern_axis
    com_y = np.array([CoMShift("y")(s, axis) for s in spectra])
    com_x = np.array([CoMShift("x")(s, axis) for s in spectra])
    np.testing.assert_allclose(com_y, theta[:, 0], atol=2e-5)
    np.testing.assert_allclose(com_x, theta[:, 1], atol=2e-5)
    gt = evaluate_at(CoMShift(), em0.expected_spectra, em0.signal_axis, pts)
    np.testing.assert_allclose(gt, np.hypot(*theta.T), atol=3e-5)
    # over each particle's centre the pattern is not deflected
    np.testing.assert_allclose(gt[3:-1:4], 0.0, atol=2e-5)


def test_measured_com_scatters_with_shot_noise_about_the_deflection() -> None:
    em = _single_gold(beam_current_A=2e-12)
    ov = em.acquire_overview(None, (8, 8), None, "HAADF")
    r = 15 * NM / math.sqrt(2.0)
    exposure = 1e-3
    expected = em.expected_pattern((0.0, r), exposure)
    coms = []
    for k in range(60):  # 60 positions 1 pm apart: independent noise, the same expectation
        em.set_probe(ov.frame_id, yx_m=(k * 1e-12, r))
        coms.append(_com_mrad(em.acquire_pattern(exposure).data))
    coms = np.asarray(coms)
    ky, kx = np.meshgrid(np.arange(32) - 15.5, np.arange(32) - 15.5, indexing="ij")
    total = expected.sum()
    mean = np.array([(expected * ky).sum(), (expected * kx).sum()]) / total
    predicted_sd = np.sqrt([(expected * (ky - mean[0]) ** 2).sum(),
                            (expected * (kx - mean[1]) ** 2).sum()]) / total
    np.testing.assert_allclose(mean, em.deflection_mrad((0.0, r))[0], atol=1e-6)
    np.testing.assert_allclose(coms.std(axis=0, ddof=1), predicted_sd, rtol=0.3)
    assert np.all(np.abs(coms.mean(axis=0) - mean) < 4.0 * predicted_sd / math.sqrt(60))
    assert total == pytest.approx(em.electrons(exposure) * em.camera_fraction((0.0, r))[0][0], rel=1e-4)


# -- frames ------------------------------------------------------------------------------------
def test_flattened_spectrum_is_the_pattern_and_carries_its_calibration(em0: FourDSTEMEmulator) -> None:
    ov = em0.acquire_overview(None, (32, 32), None, "HAADF")
    em0.set_probe(ov.frame_id, yx_frac=(0.3, 0.7))
    spectrum = em0.acquire_spectrum(2e-3)
    pattern = em0.acquire_pattern(2e-3)
    np.testing.assert_array_equal(spectrum.data, pattern.data.ravel())  # same place and exposure
    axis = spectrum.signal_axis
    assert isinstance(axis, PatternAxis) and (axis.name, axis.units, axis.size) == ("k_index", "px", 1024)
    assert axis.pattern_shape == (32, 32) and axis.k_mrad_per_px == 1.0
    np.testing.assert_array_equal(axis.values, np.arange(1024))
    assert spectrum.metadata["pattern_shape"] == (32, 32) and spectrum.metadata["k_mrad_per_px"] == 1.0
    assert axis.to_dict()["pattern_shape"] == [32, 32]
    ky, kx = pattern.axes
    assert (ky.name, ky.units, kx.name, kx.units) == ("ky", "mrad", "kx", "mrad")
    assert ky.values[0] == -15.5 and ky.values[-1] == 15.5
    assert spectrum.data.dtype == np.float64 and np.all(spectrum.data == np.round(spectrum.data))
    with pytest.raises(ValueError, match="pattern_shape"):
        PatternAxis("k_index", "px", np.arange(10.0), pattern_shape=(3, 3), k_mrad_per_px=1.0)


def test_overviews_follow_the_particles(em0: FourDSTEMEmulator) -> None:
    frames = {d: em0.acquire_overview(None, (64, 64), 1e-4, d) for d in ("HAADF", "ADF", "BF")}
    ys, xs = frames["HAADF"].axes
    yy, xx = np.meshgrid(ys.values, xs.values, indexing="ij")
    pts = np.stack([yy.ravel(), xx.ravel()], axis=1)
    thick = sum(p.projected_thickness_m(pts) for p in em0.specimen.particles).reshape(64, 64)
    on, off = thick > 10 * NM, thick == 0.0
    assert frames["HAADF"].data[on].mean() > 20 * frames["HAADF"].data[off].mean()
    assert frames["ADF"].data[on].mean() > 5 * frames["ADF"].data[off].mean()
    assert frames["BF"].data[on].mean() < 0.8 * frames["BF"].data[off].mean()
    electrons = 10e-12 * 1e-4 / E_CHARGE
    assert frames["BF"].data[off].mean() == pytest.approx(
        electrons * em0.detector_probability(np.array([[-95 * NM, 95 * NM]]), "BF")[0], rel=0.05)
    md = frames["HAADF"].metadata
    assert md["dose_e"] == pytest.approx(64 * 64 * 1e-4 * 10e-12 / E_CHARGE)
    assert md["units"] == "counts" and md["detector"] == "HAADF"


def test_same_seed_same_data_other_seed_differs() -> None:
    check_same_seed_same_data(lambda seed: FourDSTEMEmulator(seed=seed), 5,
                              (None, (32, 32), None, "HAADF"), (0.45, 0.55), 1e-3)


# -- protocol, refusals, clock -----------------------------------------------------------------
def test_protocols_capabilities_clock_and_dose() -> None:
    em = _single_gold(settle_s=1e-4, readout_s=1e-4)
    assert isinstance(em, Driver) and isinstance(em, GroundTruth)
    caps = em.capabilities()
    assert caps.signal_units == {"4D": "px"} and "acquire_pattern" in caps.verbs
    assert set(caps.detectors) == {"HAADF", "ADF", "BF", "4D"}
    ov = em.acquire_overview(None, (16, 16), 1e-5, "ADF")
    t0 = em.time_s
    assert t0 == pytest.approx(16 * 16 * 1e-5 + 16 * 20e-6)
    em.set_probe(ov.frame_id, yx_frac=(0.5, 0.5))
    frame = em.acquire_spectrum(2e-3)
    assert em.time_s == pytest.approx(t0 + 1e-4 + 2e-3 + 1e-4)
    electrons = 10e-12 * 2e-3 / E_CHARGE
    assert frame.metadata["dose_e"] == pytest.approx(electrons)
    assert frame.metadata["dose_e_per_A2"] == pytest.approx(electrons / (math.pi * 5.0**2))
    assert em.blanked
    pts = np.array([[0.0, 5 * NM], [0.0, -5 * NM]])
    assert evaluate_at(CoMShift(), em.expected_spectra, em.signal_axis, pts).shape == (2,)
    wrong_units = evaluate_at(CoMShift(units="mrad"), em.expected_spectra, em.signal_axis, pts)
    assert np.all(np.isnan(wrong_units))  # reward error -> NaN


@pytest.mark.parametrize("kwargs, field", [
    ({"convergence_mrad": 14.0}, "convergence_mrad"),  # the disk would leave the 32 mrad camera
    ({"disk_edge_mrad": 0.3}, "disk_edge_mrad"),
    ({"materials": ["Unobtainium"]}, "materials"),
    ({"particle_radius_m": [2e-8, 1e-8]}, "radius_range_m"),
    ({"n_particles": 400}, "could not place"),
    ({"pattern_px": 4}, "pattern_px"),
    ({"high_tension_V": 100.0}, "high_tension_V"),
    ({"beam_current_A": -1e-12}, "beam_current_A"),
])
def test_bad_construction_is_refused_by_name(kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidArgument, match=field):
        FourDSTEMEmulator(**kwargs)


def test_bad_requests_are_refused_never_clamped() -> None:
    em = _single_gold(max_exposure_s=0.01)
    with pytest.raises(InvalidArgument, match="no probe position"):
        em.acquire_pattern(1e-3)
    ov = em.acquire_overview(None, (8, 8), None, "BF")
    em.set_probe(ov.frame_id, yx_frac=(0.5, 0.5))
    with pytest.raises(NotSupported, match="spectrometer"):
        em.acquire_spectrum(1e-3, detector="HAADF")
    with pytest.raises(NotSupported, match="spectrometer"):
        em.acquire_pattern(1e-3, detector="EELS")
    with pytest.raises(NotSupported, match="image detector"):
        em.acquire_overview(None, (8, 8), None, "4D")
    with pytest.raises(InvalidArgument, match="exposure_s"):
        em.acquire_spectrum(0.02)
    with pytest.raises(InvalidArgument, match="fov_m"):
        em.acquire_overview(2e-7, (8, 8), None, "HAADF")
    with pytest.raises(Timeout):
        em.acquire_pattern(5e-3, timeout_s=1e-3)
    with pytest.raises(InvalidArgument, match="one"):
        em.expected_pattern(np.zeros((2, 2)))
    em.close()
    with pytest.raises(ConnectionLost):
        em.acquire_spectrum(1e-3)
    assert em.expected_spectrum((0.0, 0.0)).shape == (1024,)


# -- configuration and the experiment loop --------------------------------------------------------
def test_driver_yaml_lists_every_argument_with_its_default_and_builds() -> None:
    check_driver_yaml(FourDSTEMEmulator, "fourd_emulator", "drivers.fourd.FourDSTEMEmulator", 2)


def test_experiment_loop_runs_ten_steps_on_the_fourd_emulator(tmp_path: Path) -> None:
    summary, record, signal_axis = run_ten_steps(FourDSTEMEmulator(seed=0), CoMShift(), "fourd",
                                                 tmp_path)
    assert summary["n_measured"] == 10
    spectra, rewards, truth, index = (record[k] for k in ("spectrum", "reward", "truth", "index"))
    axis = json.loads(signal_axis)
    assert spectra.shape == (10, 1024) and np.all(np.isfinite(rewards)) and np.all(rewards >= 0)
    assert axis["pattern_shape"] == [32, 32] and axis["units"] == "px"
    assert len(set(index.tolist())) == 10 and np.all(np.isfinite(truth))
    # measured CoM magnitudes scatter about the truth by the shot noise (~0.02 mrad at 1 ms)
    assert np.abs(rewards - truth[index]).max() < 0.1
