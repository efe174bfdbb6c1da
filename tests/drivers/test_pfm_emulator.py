"""PFMEmulator: determinism, loop physics vs wall distance, spikes, noise, overviews, refusals,
clock, configuration and an end-to-end run of the experiment loop."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from emulator_checks import check_driver_yaml, check_same_seed_same_data, run_ten_steps
from scipy.stats import spearmanr

from drivers import Aborted, ConnectionLost, Driver, GroundTruth, InvalidArgument, NotSupported, Timeout
from drivers.pfm import PFMEmulator, StripeDomains, arriving_direction, triangle_sweep
from rewards import CoerciveBias, Imprint, LoopArea, LoopHeight, despike, evaluate_at

NM = 1e-9


def _quiet(**kwargs) -> PFMEmulator:
    """Seed-1 emulator without noise or spikes (noise-free loops through the driver)."""
    return PFMEmulator(seed=1, noise_pm_sqrt_s=0.0, spike_rate=0.0, **kwargs)


def _horizontal_stripes(**kwargs) -> PFMEmulator:
    """Walls along x at y = 0, +-250 nm, ...; up stripes for y mod 500 nm in [0, 250) nm."""
    stripes = StripeDomains(2e-6, 250 * NM, 0.5, 0.0, 0.0)
    return PFMEmulator.with_domains(stripes, **kwargs)


@pytest.fixture(scope="module")
def em0() -> PFMEmulator:
    return PFMEmulator(seed=0)


# -- determinism -------------------------------------------------------------------------------
def test_same_seed_gives_identical_overview_and_loop_other_seed_differs() -> None:
    (a, _, _), _, loops = check_same_seed_same_data(
        lambda seed: PFMEmulator(seed=seed), 3, (None, (48, 48), None, "amplitude"), (0.4, 0.6),
        0.5)
    np.testing.assert_array_equal(a.acquire_spectrum(0.5).data, loops[0])  # same place, exposure
    assert not np.array_equal(a.acquire_spectrum(0.25).data, loops[0])  # other exposure: new noise


# -- the sweep ---------------------------------------------------------------------------------
def test_sweep_is_the_triangle_of_the_recorded_beps_data(em0: PFMEmulator) -> None:
    axis = em0.bias_axis
    assert (axis.name, axis.units, axis.size) == ("bias", "V", 64)
    v = axis.values
    assert v[0] == 0.0 and v[16] == 8.5 and v[32] == 0.0 and v[48] == -8.5
    np.testing.assert_allclose(np.diff(v[:17]), 8.5 / 16)
    assert v[-1] == pytest.approx(-8.5 / 16)
    np.testing.assert_array_equal(triangle_sweep(2.0, 8), [0, 1, 2, 1, 0, -1, -2, -1])
    np.testing.assert_array_equal(arriving_direction(triangle_sweep(2.0, 8)), [1, 1, 1, -1, -1, -1, -1, 1])


# -- loop physics ------------------------------------------------------------------------------
def test_noise_free_loop_switches_at_the_model_biases() -> None:
    em = _horizontal_stripes(slope_pm_per_V=0.0, switching_width_V=0.4)
    for y_nm, polarity in ((125.0, 1), (375.0, -1)):  # stripe centres, 125 nm from both walls
        pos = (y_nm * NM, 0.3e-6)
        near = math.exp(-125.0 / 50.0)
        coercive = 4.0 * (1.0 - 0.5 * near)
        imprint = -polarity * 0.8 * math.tanh(125.0 / 50.0)
        loop, axis = em.expected_spectrum(pos), em.bias_axis
        assert CoerciveBias("positive")(loop, axis) == pytest.approx(imprint + coercive, abs=0.03)
        assert CoerciveBias("negative")(loop, axis) == pytest.approx(imprint - coercive, abs=0.03)
        assert Imprint()(loop, axis) == pytest.approx(imprint, abs=0.03)
        assert LoopHeight()(loop, axis) == pytest.approx(2.0 * 10.0 * (1.0 - 0.4 * near), rel=1e-3)
        params = em.loop_parameters(pos)
        assert params.coercive_V[0] == pytest.approx(coercive)
        assert params.imprint_V[0] == pytest.approx(imprint)
    # exactly at a wall: imprint 0, the largest drops
    wall = em.loop_parameters((0.0, 0.0))
    assert wall.imprint_V[0] == pytest.approx(0.0, abs=1e-12)
    assert wall.coercive_V[0] == pytest.approx(2.0)
    assert wall.response_pm[0] == pytest.approx(6.0)


def test_loop_metrics_follow_the_distance_to_the_nearest_wall(em0: PFMEmulator) -> None:
    pts = np.random.default_rng(5).uniform(-0.95e-6, 0.95e-6, size=(500, 2))
    d = em0.domains.wall_distance_m(pts)
    polarity = em0.domains.polarity(pts)
    width = evaluate_at(CoerciveBias("width"), em0.expected_spectra, em0.signal_axis, pts)
    area = evaluate_at(LoopArea(), em0.expected_spectra, em0.signal_axis, pts)
    imprint = evaluate_at(Imprint(), em0.expected_spectra, em0.signal_axis, pts)
    assert np.all(np.isfinite(width)) and np.all(np.isfinite(area))
    at_wall, centre = d < 10 * NM, d > 90 * NM
    assert at_wall.sum() >= 20 and centre.sum() >= 20
    assert width[at_wall].max() < width[centre].min()  # walls nucleate switching: lower coercive bias
    assert width[at_wall].mean() < 0.65 * width[centre].mean()
    assert area[at_wall].max() < area[centre].min()  # and smaller loops
    assert area[at_wall].mean() < 0.5 * area[centre].mean()
    assert spearmanr(d, width).statistic > 0.95
    assert spearmanr(d, area).statistic > 0.95
    # imprint follows the polarity deep in the domains, and vanishes at walls
    assert imprint[centre & (polarity > 0)].mean() < -0.6
    assert imprint[centre & (polarity < 0)].mean() > 0.6
    assert np.abs(imprint[d < 3 * NM]).max() < 0.1


def test_random_domains_are_balanced_and_about_the_requested_size(em0: PFMEmulator) -> None:
    grid = em0.domains.signed_grid_m
    assert (grid > 0).mean() == pytest.approx(0.5, abs=0.01)
    chords = []
    for line in np.concatenate([grid[::16] > 0, (grid.T)[::16] > 0]):
        chords.extend(np.diff(np.flatnonzero(np.diff(line.astype(np.int8)))))
    mean_width = np.mean(chords) * em0.domains.pitch_m
    assert 0.75 * 250 * NM < mean_width < 1.15 * 250 * NM
    # the interpolated signed distance is continuous and changes sign across a wall
    y = np.linspace(-1e-6, 1e-6, 4001)
    s = em0.domains.signed_distance_m(np.stack([y, np.zeros_like(y)], axis=1))
    assert np.abs(np.diff(s)).max() < 1.5 * (y[1] - y[0]) + 1e-12
    assert np.any(np.diff(np.sign(s)) != 0)


# -- spikes and noise ---------------------------------------------------------------------------
def test_spikes_come_at_the_configured_rate_and_despike_removes_them() -> None:
    em = PFMEmulator(seed=1, noise_pm_sqrt_s=0.0, spike_rate=0.05)
    ov = em.acquire_overview(None, (32, 32), None, "amplitude")
    rng = np.random.default_rng(0)
    n_loops, n_spikes = 200, 0
    area = LoopArea()
    for _ in range(n_loops):
        probe = em.set_probe(ov.frame_id, yx_frac=tuple(rng.uniform(0.0, 1.0, 2)))
        data = em.acquire_spectrum(1.0).data
        truth = em.expected_spectrum(probe.yx_m)
        spike = np.abs(data - truth) > 1e-9
        n_spikes += int(spike.sum())
        assert not spike[0] and not spike[-1] and not np.any(spike[1:] & spike[:-1])
        assert np.all(np.abs(data - truth)[spike] >= 0.5 * 8.0 * 10.0 - 1e-9)
        clean = despike(data)
        np.testing.assert_allclose(clean[~spike], truth[~spike], atol=1e-9)  # good points untouched
        i = np.flatnonzero(spike)  # a spike becomes the median of its neighbours
        lo, hi = np.minimum(truth[i - 1], truth[i + 1]), np.maximum(truth[i - 1], truth[i + 1])
        assert np.all((clean[i] >= lo - 1e-9) & (clean[i] <= hi + 1e-9))
        assert area(data, em.bias_axis) == pytest.approx(area(truth, em.bias_axis), rel=0.08)
    expected = 0.05 * (64 - 2) * n_loops
    assert abs(n_spikes - expected) < 4.0 * math.sqrt(expected)


def test_noise_scales_with_loop_time_and_spikes_leave_it_unchanged() -> None:
    kwargs = dict(seed=2, noise_pm_sqrt_s=0.08)
    clean, spiky = PFMEmulator(spike_rate=0.0, **kwargs), PFMEmulator(spike_rate=0.1, **kwargs)
    ov = clean.acquire_overview(None, (32, 32), None, "amplitude")
    spiky.acquire_overview(None, (32, 32), None, "amplitude")
    residual: dict[float, list[np.ndarray]] = {4.0: [], 0.25: []}
    for k in range(40):
        frac = (0.1 + 0.02 * k, 0.5)
        for exposure in residual:
            probe = clean.set_probe(ov.frame_id, yx_frac=frac)
            a = clean.acquire_spectrum(exposure).data
            spiky.set_probe(ov.frame_id, yx_frac=frac)
            b = spiky.acquire_spectrum(exposure).data
            differs = np.abs(a - b) > 1e-12
            assert np.all(np.abs(a - b)[differs] > 10.0)  # only the spikes differ
            residual[exposure].append(a - clean.expected_spectrum(probe.yx_m))
    for exposure, rows in residual.items():
        std = float(np.std(np.concatenate(rows)))
        assert std == pytest.approx(clean.noise_pm(exposure), rel=0.08)
        assert clean.noise_pm(exposure) == pytest.approx(0.08 / math.sqrt(exposure / 64))


def test_drift_shifts_what_the_tip_sees() -> None:
    em = _quiet(drift_m_per_s=(50e-9, -20e-9))
    ov = em.acquire_overview(None, (16, 16), 1e-3, "amplitude")
    probe = em.set_probe(ov.frame_id, yx_m=(0.1e-6, -0.2e-6))
    t_start = em.time_s  # the loop is computed when the acquisition starts
    data = em.acquire_spectrum(1.0).data
    seen = (probe.yx_m[0] - 50e-9 * t_start, probe.yx_m[1] + 20e-9 * t_start)
    assert math.dist(seen, probe.yx_m) > 10 * NM
    np.testing.assert_allclose(data, em.expected_spectrum(seen), atol=1e-12)


# -- overviews ---------------------------------------------------------------------------------
def test_overview_channels_show_domains_walls_and_surface(em0: PFMEmulator) -> None:
    amp = em0.acquire_overview(None, (128, 128), 1e-3, "amplitude")
    phase = em0.acquire_overview(None, (128, 128), 1e-3, "phase")
    topo = em0.acquire_overview(None, (128, 128), 1e-3, "topography")
    ys, xs = amp.axes
    assert (ys.units, xs.units) == ("m", "m")
    assert ys.values[0] == pytest.approx(-1e-6 + 1e-6 / 128) and ys.scale == pytest.approx(2e-6 / 128)
    assert (amp.metadata["units"], phase.metadata["units"], topo.metadata["units"]) == ("pm", "deg", "m")
    yy, xx = np.meshgrid(ys.values, xs.values, indexing="ij")
    pts = np.stack([yy.ravel(), xx.ravel()], axis=1)
    d = em0.domains.wall_distance_m(pts).reshape(128, 128)
    p = em0.domains.polarity(pts).reshape(128, 128)
    deep = d > 80 * NM
    assert amp.data[d < 5 * NM].mean() < 0.5 * amp.data[deep].mean()  # walls: dark lines
    assert amp.data[deep].mean() == pytest.approx(10.0 * (1 - 0.4 * math.exp(-80 / 50)), rel=0.15)
    assert np.median(phase.data[deep & (p > 0)]) == pytest.approx(90.0, abs=5.0)
    assert np.median(phase.data[deep & (p < 0)]) == pytest.approx(270.0, abs=5.0)
    assert np.all((phase.data >= 0.0) & (phase.data < 360.0))
    assert 0.5 * NM < np.std(topo.data) < 2.0 * NM  # roughness_m = 1 nm, plus 0.3 nm noise
    assert abs(np.corrcoef(topo.data[deep], p[deep])[0, 1]) < 0.2  # topography ignores domains


# -- protocol, refusals, lifecycle ---------------------------------------------------------------
def test_protocols_capabilities_and_ground_truth_nan(em0: PFMEmulator) -> None:
    assert isinstance(em0, Driver) and isinstance(em0, GroundTruth)
    caps = em0.capabilities()
    assert caps.signal_units == {"PFM": "V"}
    assert set(caps.detectors) == {"topography", "amplitude", "phase", "PFM"}
    assert caps.max_fov_m == 2e-6 and caps.max_exposure_s == 60.0
    pts = np.array([[0.0, 0.0], [1e-7, 2e-7]])
    assert evaluate_at(LoopArea(), em0.expected_spectra, em0.signal_axis, pts).shape == (2,)
    wrong_units = evaluate_at(LoopArea(units="mV"), em0.expected_spectra, em0.signal_axis, pts)
    assert np.all(np.isnan(wrong_units))  # reward error -> NaN
    with pytest.raises(InvalidArgument, match="one"):
        em0.expected_spectrum(pts)


@pytest.mark.parametrize("kwargs, field", [
    ({"pattern": "checkerboard"}, "pattern"),
    ({"n_steps": 30}, "n_steps"),
    ({"spike_rate": 0.6}, "spike_rate"),
    ({"bias_max_V": 4.0}, "bias_max_V"),
    ({"up_fraction": 1.0}, "up_fraction"),
    ({"domain_size_m": 1.5e-6}, "domain_size_m"),
    ({"wall_coercive_drop": 1.0}, "wall_coercive_drop"),
    ({"noise_pm_sqrt_s": -1.0}, "noise_pm_sqrt_s"),
    ({"clock": "sundial"}, "clock"),
    ({"seed": -1}, "seed"),
])
def test_bad_construction_is_refused_by_name(kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidArgument, match=field):
        PFMEmulator(**kwargs)


def test_bad_requests_are_refused_never_clamped() -> None:
    em = _quiet(max_exposure_s=5.0)
    with pytest.raises(InvalidArgument, match="no probe position"):
        em.acquire_spectrum(1.0)
    ov = em.acquire_overview(1e-6, (16, 16), 1e-3, "phase")
    with pytest.raises(NotSupported, match="spectrometer"):
        em.acquire_spectrum(1.0, detector="amplitude")
    with pytest.raises(NotSupported, match="image detector"):
        em.acquire_overview(None, None, None, "PFM")
    with pytest.raises(NotSupported):
        em.acquire_overview(None, None, None, "HAADF")
    with pytest.raises(InvalidArgument, match="fov_m"):
        em.acquire_overview(3e-6, (16, 16), 1e-3, "amplitude")
    with pytest.raises(InvalidArgument, match="dwell_s"):
        em.acquire_overview(None, (16, 16), 1.0, "amplitude")
    with pytest.raises(InvalidArgument, match="yx_frac"):
        em.set_probe(ov.frame_id, yx_frac=(0.5, 1.2))
    with pytest.raises(InvalidArgument, match="outside"):
        em.set_probe(ov.frame_id, yx_m=(0.0, 0.6e-6))  # the 1 um frame spans +-0.5 um
    with pytest.raises(InvalidArgument, match="exactly one"):
        em.set_probe(ov.frame_id)
    with pytest.raises(InvalidArgument, match="not an overview"):
        em.set_probe("overview-9999", yx_frac=(0.5, 0.5))
    em.set_probe(ov.frame_id, yx_frac=(0.5, 0.5))
    with pytest.raises(InvalidArgument, match="exposure_s"):
        em.acquire_spectrum(6.0)
    with pytest.raises(InvalidArgument, match="exposure_s"):
        em.acquire_spectrum(0.0)
    with pytest.raises(Timeout, match="timeout_s"):
        em.acquire_spectrum(1.0, timeout_s=0.5)
    em.close()
    em.close()  # idempotent
    with pytest.raises(ConnectionLost):
        em.acquire_spectrum(1.0)
    assert em.expected_spectrum((0.0, 0.0)).shape == (64,)  # scoring helpers keep working


def test_virtual_clock_metadata_and_zero_dose() -> None:
    em = _quiet(settle_s=0.05, readout_s=0.01, line_flyback_s=0.01)
    ov = em.acquire_overview(None, (32, 16), 2e-3, "topography")
    assert em.time_s == pytest.approx(32 * 16 * 2e-3 + 32 * 0.01)
    t0 = em.time_s
    em.set_probe(ov.frame_id, yx_frac=(0.25, 0.75))
    frame = em.acquire_spectrum(2.0)
    assert em.time_s == pytest.approx(t0 + 0.05 + 2.0 + 0.01)
    md = frame.metadata
    assert md["units"] == "pm" and md["exposure_s"] == 2.0 and md["detector"] == "PFM"
    assert md["dose_e"] == 0.0 and md["dose_e_per_A2"] == 0.0 and em.dose_e == 0.0
    assert md["probe_yx_m"] == pytest.approx((-0.5e-6, 0.5e-6))
    assert em.blanked and frame.signal_axis is em.bias_axis


def test_real_clock_stop_aborts_a_running_loop() -> None:
    em = _quiet(clock="real", settle_s=0.0)
    ov = em.acquire_overview(None, (4, 4), 1e-4, "amplitude")
    em.set_probe(ov.frame_id, yx_frac=(0.5, 0.5))
    timer = threading.Timer(0.05, em.stop)
    timer.start()
    t0 = time.monotonic()
    with pytest.raises(Aborted):
        em.acquire_spectrum(5.0)
    assert time.monotonic() - t0 < 2.0 and em.blanked
    timer.join()


# -- configuration and the experiment loop --------------------------------------------------------
def test_driver_yaml_lists_every_argument_with_its_default_and_builds() -> None:
    check_driver_yaml(PFMEmulator, "pfm_emulator", "drivers.pfm.PFMEmulator", 4)


def test_experiment_loop_runs_ten_steps_on_the_pfm_emulator(tmp_path: Path) -> None:
    summary, record, signal_axis = run_ten_steps(PFMEmulator(seed=0), LoopArea(), "pfm", tmp_path)
    assert summary["n_measured"] == 10
    spectra, rewards, truth, index = (record[k] for k in ("spectrum", "reward", "truth", "index"))
    assert '"units": "V"' in signal_axis
    assert spectra.shape == (10, 64) and np.all(np.isfinite(rewards))
    assert len(set(index.tolist())) == 10
    # measured loop areas agree with the noise-free truth at those candidates (noise + spikes small)
    np.testing.assert_allclose(rewards, truth[index], rtol=0.15)
