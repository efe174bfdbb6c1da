"""PlasmonEmulator: determinism, physics, statistics, probe mapping, refusals, clock, dose."""

from __future__ import annotations

import math
import threading
import time
from functools import partial

import numpy as np
import pytest
from emulator_checks import check_driver_yaml, check_same_seed_same_data

from drivers import (
    Aborted,
    ConnectionLost,
    Driver,
    GroundTruth,
    InvalidArgument,
    NotSupported,
    Timeout,
)
from drivers.emulator import (
    EDGE_BAND_EV,
    Disk,
    PlasmonEmulator,
    Rod,
    Sample,
    Triangle,
)
from drivers.emulator.physics import E_CHARGE_C, mode_amplitudes
from rewards import evaluate_at
from rewards.errors import EmptySpectrum

NM = 1e-9


def _single(particle, **kwargs) -> PlasmonEmulator:
    """An emulator over one isolated particle at the origin, flat film (no texture)."""
    sample = Sample((particle,), 200 * NM, 3 * NM, np.zeros((0, 4)))
    return PlasmonEmulator.with_sample(sample, **kwargs)


def _band(spectra: np.ndarray, energy: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    sel = (energy >= window[0]) & (energy <= window[1])
    return spectra[..., sel].sum(axis=-1)


def _mode(em: PlasmonEmulator, kind: str):
    return next(m for m in em.modes if m.kind == kind)


def _line(p, direction_uv: tuple[float, float], r_m: np.ndarray) -> np.ndarray:
    """Points from the particle centre outward along a local (u, v) direction."""
    return p.to_sample_yx(r_m * direction_uv[0], r_m * direction_uv[1])


@pytest.fixture(scope="module")
def em0() -> PlasmonEmulator:
    """Seed-0 emulator used read-only (ground truth, modes, sample)."""
    return PlasmonEmulator(seed=0)


# -- determinism -------------------------------------------------------------------------------
def test_same_seed_gives_identical_overview_and_spectrum_other_seed_differs() -> None:
    (a, b, c), frames, spectra = check_same_seed_same_data(
        lambda seed: PlasmonEmulator(seed=seed), 3, (150 * NM, (48, 48), 2e-6), (0.4, 0.6), 0.02)
    assert [p.describe() for p in a.sample.particles] == [p.describe() for p in b.sample.particles]
    assert a.sample.particles[0].centre_yx_m != c.sample.particles[0].centre_yx_m
    # Same position and exposure again: the same counts; another position: independent noise.
    np.testing.assert_array_equal(a.acquire_spectrum(0.02).data, spectra[0])
    a.set_probe(frames[0].frame_id, yx_frac=(0.4, 0.6 + 1e-6))  # 0.15 pm away: same rounding
    np.testing.assert_array_equal(a.acquire_spectrum(0.02).data, spectra[0])
    a.set_probe(frames[0].frame_id, yx_frac=(0.4, 0.6 + 1e-4))  # 15 pm away: new noise
    other = a.acquire_spectrum(0.02).data
    mean = a.expected_spectrum((-0.1 * 150 * NM, 0.1 * 150 * NM), 0.02)
    r = np.corrcoef(spectra[0] - mean, other - mean)[0, 1]
    assert abs(r) < 0.15


# -- sample geometry ---------------------------------------------------------------------------
def test_random_sample_kinds_sizes_and_no_overlap(em0: PlasmonEmulator) -> None:
    s = em0.sample
    assert len(s.particles) == 12
    assert {p.kind for p in s.particles} == {"disk", "rod", "triangle"}
    half = 0.5 * s.extent_m
    outlines = [p.boundary_points_m(128) for p in s.particles]
    for i, p in enumerate(s.particles):
        assert 10 * NM <= p.size_m <= 64 * NM
        assert 12 * NM <= p.thickness_m <= 30 * NM
        assert np.all(np.abs(outlines[i]) < half)
        assert p.sdf(np.array([p.centre_yx_m]))[0] < 0
        for j, q in enumerate(s.particles):
            if i != j:
                assert q.sdf(outlines[i]).min() >= 6 * NM - 1e-12


def test_signed_distances_are_exact() -> None:
    disk = Disk((10 * NM, -5 * NM), 0.0, 20 * NM, diameter_m=30 * NM)
    assert disk.sdf(np.array([[10 * NM, 17 * NM]]))[0] == pytest.approx(7 * NM, abs=1e-18)
    rod = Rod((0.0, 0.0), 0.7, 15 * NM, length_m=60 * NM, width_m=15 * NM)
    d = np.array([0.0, 3.3, 12.0]) * NM
    tip = rod.to_sample_yx(30 * NM + d, np.zeros(3))
    np.testing.assert_allclose(rod.sdf(tip), d, atol=1e-18)
    side = rod.to_sample_yx(np.zeros(3), 7.5 * NM + d)
    np.testing.assert_allclose(rod.sdf(side), d, atol=1e-18)
    assert rod.sdf(np.array([[0.0, 0.0]]))[0] == pytest.approx(-7.5 * NM)
    tri = Triangle((0.0, 0.0), 1.1, 20 * NM, side_m=40 * NM, corner_radius_m=3 * NM)
    edge = tri.to_sample_yx(-(tri.inradius_m + d), np.zeros(3))  # out of the edge opposite corner 0
    np.testing.assert_allclose(tri.sdf(edge), d, atol=1e-17)
    np.testing.assert_allclose(tri.sdf(tri.hotspots_m(2 * NM)), 2 * NM, atol=1e-17)
    assert tri.projected_thickness_m(np.array([[0.0, 0.0]]))[0] == pytest.approx(20 * NM)
    assert rod.projected_thickness_m(np.array([[0.0, 0.0]]))[0] == pytest.approx(15 * NM)


# -- physics -----------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", ["disk", "rod", "triangle"])
def test_edge_mode_peaks_just_outside_the_edge_and_decays(shape: str) -> None:
    if shape == "disk":
        p = Disk((0.0, 0.0), 0.0, 20 * NM, diameter_m=40 * NM)
        kind, edge_r = "disk_dipole", 20 * NM
    elif shape == "rod":
        p = Rod((0.0, 0.0), 0.4, 18 * NM, length_m=54 * NM, width_m=18 * NM)
        kind, edge_r = "rod_longitudinal", 27 * NM
    else:
        p = Triangle((0.0, 0.0), 0.9, 18 * NM, side_m=50 * NM, corner_radius_m=3 * NM)
        kind, edge_r = "triangle_corner", 2 * p.inradius_m - p.corner_radius_m
    em = _single(p)
    mode = _mode(em, kind)
    window = (mode.energy_eV - 0.15, mode.energy_eV + 0.15)
    r = np.arange(0.0, edge_r + 40 * NM, 0.25 * NM)
    band = _band(em.expected_spectra(_line(p, (1.0, 0.0), r)), em.energy_axis.values, window)
    outside = r - edge_r
    k = int(np.argmax(band))
    assert 0.0 < outside[k] <= 4 * NM  # peak just outside the outline
    assert np.all(np.diff(band[k:]) < 0)  # decays monotonically further out
    assert band[np.searchsorted(outside, 20 * NM)] < 0.4 * band[k]
    assert band[0] < 0.35 * band[k]  # weak in the middle
    # Faster decay inside than outside: 5 nm inside is weaker than 5 nm beyond the peak.
    beyond = np.searchsorted(outside, outside[k] + 5 * NM)
    assert band[np.searchsorted(outside, -5 * NM)] < band[beyond]


def test_rod_tip_and_triangle_corner_beat_flat_sides() -> None:
    rod = Rod((0.0, 0.0), 0.0, 18 * NM, length_m=54 * NM, width_m=18 * NM)
    em = _single(rod)
    e = em.energy_axis.values
    tip = rod.hotspots_m(3 * NM)[0]
    side = rod.to_sample_yx(np.array(0.0), np.array(9 * NM + 3 * NM))
    b_tip, b_side = _band(em.expected_spectra(np.stack([tip, side])), e, EDGE_BAND_EV)
    assert b_tip > 3.0 * b_side

    tri = Triangle((0.0, 0.0), 0.3, 18 * NM, side_m=50 * NM, corner_radius_m=3 * NM)
    em = _single(tri)
    corner = tri.hotspots_m(3 * NM)[0]
    edge_mid = tri.to_sample_yx(np.array(-(tri.inradius_m + 3 * NM)), np.array(0.0))
    window = (_mode(em, "triangle_corner").energy_eV - 0.15,
              _mode(em, "triangle_corner").energy_eV + 0.15)
    b_corner, b_edge = _band(em.expected_spectra(np.stack([corner, edge_mid])), e, window)
    assert b_corner > 2.0 * b_edge


def test_face_mode_stronger_inside_than_outside() -> None:
    tri = Triangle((0.0, 0.0), 0.3, 20 * NM, side_m=50 * NM, corner_radius_m=3 * NM)
    em = _single(tri)
    face = _mode(em, "face")
    assert 3.3 <= face.energy_eV <= 3.6
    inside = np.array([tri.centre_yx_m])
    outside = tri.to_sample_yx(np.array([-(tri.inradius_m + 6 * NM)]), np.array([0.0]))
    col = [m.kind for m in em.modes].index("face")
    amp_in = mode_amplitudes(em.sample, em.modes, inside)[0, col]
    amp_out = mode_amplitudes(em.sample, em.modes, outside)[0, col]
    assert amp_in > 20 * amp_out
    window = (face.energy_eV - 0.1, face.energy_eV + 0.1)
    b_in, b_out = _band(em.expected_spectra(np.concatenate([inside, outside])),
                        em.energy_axis.values, window)
    assert b_in > 3.0 * b_out


def test_mode_energy_ordering() -> None:
    def energy(p, kind: str) -> float:
        return _mode(_single(p), kind).energy_eV

    rods = [Rod((0.0, 0.0), 0.0, 15 * NM, length_m=ar * 15 * NM, width_m=15 * NM)
            for ar in (2.0, 3.0, 4.0)]
    e_rod = [energy(r, "rod_longitudinal") for r in rods]
    assert e_rod[0] > e_rod[1] > e_rod[2]
    assert 1.5 < e_rod[2] < 2.0 and 2.2 < e_rod[0] < 2.8
    # The measured peak at the tip moves the same way.
    peaks = []
    for rod in rods:
        em = _single(rod)
        spec = em.expected_spectrum(rod.hotspots_m(3 * NM)[0])
        e = em.energy_axis.values
        sel = (e > 1.3) & (e < 3.0)
        peaks.append(e[sel][np.argmax(spec[sel])])
    assert peaks[0] > peaks[1] > peaks[2]
    np.testing.assert_allclose(peaks, e_rod, atol=0.03)

    e_disk = [energy(Disk((0.0, 0.0), 0.0, 20 * NM, diameter_m=d * NM), "disk_dipole")
              for d in (20, 30, 45)]
    assert e_disk[0] > e_disk[1] > e_disk[2]
    small = Triangle((0.0, 0.0), 0.0, 20 * NM, side_m=25 * NM, corner_radius_m=2 * NM)
    large = Triangle((0.0, 0.0), 0.0, 20 * NM, side_m=55 * NM, corner_radius_m=2 * NM)
    assert energy(large, "triangle_corner") < energy(small, "triangle_corner")
    big = _single(large)
    corner, edge, face = (_mode(big, k).energy_eV for k in
                          ("triangle_corner", "triangle_edge", "face"))
    assert corner < edge < face
    # Rounder is higher: a disk as wide as the triangle's side sits above its corner mode.
    assert energy(Disk((0.0, 0.0), 0.0, 20 * NM, diameter_m=55 * NM), "disk_dipole") > corner
    for m in big.modes:
        assert 0.1 <= m.width_eV <= 0.3


def test_top_percent_of_edge_band_sits_just_outside_tips_and_corners(em0: PlasmonEmulator) -> None:
    n = 57
    g = (np.arange(n) + 0.5) / n * 180 * NM - 90 * NM
    yy, xx = np.meshgrid(g, g, indexing="ij")
    pts = np.stack([yy.ravel(), xx.ravel()], axis=1)
    lo, hi = EDGE_BAND_EV
    values = evaluate_at(lambda s, a: float(s[(a.values >= lo) & (a.values <= hi)].sum()), em0.expected_spectra,
                         em0.signal_axis, pts)
    top = values >= np.sort(values)[-int(math.ceil(0.01 * values.size))]
    hot = np.concatenate([p.hotspots_m(2 * NM) for p in em0.sample.particles
                          if p.kind in ("rod", "triangle")])
    d_hot = np.sqrt(((pts[top][:, None, :] - hot[None]) ** 2).sum(-1)).min(axis=1)
    _, d_edge = em0.sample.nearest_particle(pts[top])
    assert np.mean(d_hot < 12 * NM) >= 0.9
    assert np.mean((d_edge > 0) & (d_edge < 10 * NM)) >= 0.9


# -- statistics and scaling --------------------------------------------------------------------
def test_poisson_noise_variance_matches_mean_and_counts_scale_with_exposure() -> None:
    rod = Rod((0.0, 0.0), 0.0, 18 * NM, length_m=54 * NM, width_m=18 * NM)
    em = _single(rod)
    ov = em.acquire_overview(200 * NM, (32, 32), 1e-6)
    yx = tuple(rod.hotspots_m(3 * NM)[0])
    em.set_probe(ov.frame_id, yx_m=yx)
    counts = em.acquire_spectrum(0.05).data
    assert counts.dtype == np.float64 and counts.shape == (1024,)
    assert np.all(counts == np.round(counts))
    mean = em.expected_spectrum(yx, exposure_s=0.05)
    z = (counts - mean) / np.sqrt(mean)
    assert abs(z.mean()) < 0.15
    assert 0.85 < z.var() < 1.15
    # Expected counts = electrons x probability, linear in exposure.
    np.testing.assert_allclose(em.expected_spectrum(yx, exposure_s=0.25), 5 * mean, rtol=1e-12)
    electrons = 20e-12 * 0.05 / E_CHARGE_C
    assert mean.sum() / electrons == pytest.approx(
        em._model.probabilities(np.array([yx])).sum(), rel=1e-12)
    long = em.acquire_spectrum(0.25).data
    assert long.sum() / counts.sum() == pytest.approx(5.0, rel=0.01)


# -- overview and probe mapping ----------------------------------------------------------------
def test_overview_axes_contrast_and_metadata() -> None:
    em = PlasmonEmulator(seed=1)
    fov, (ny, nx) = 160 * NM, (40, 50)
    f = em.acquire_overview(fov, (ny, nx), 5e-6)
    assert f.data.shape == (ny, nx) and f.frame_id == "overview-0001"
    ay, ax = f.axes
    assert (ay.name, ay.units, ax.name, ax.units) == ("y", "m", "x", "m")
    np.testing.assert_allclose(ay.values, -fov / 2 + (np.arange(ny) + 0.5) * fov / ny, atol=1e-20)
    np.testing.assert_allclose(ax.values, -fov / 2 + (np.arange(nx) + 0.5) * fov / nx, atol=1e-20)
    for key in ("time_s", "dwell_s", "detector", "backend", "dose_e", "dose_e_per_A2"):
        assert key in f.metadata
    yy, xx = np.meshgrid(ay.values, ax.values, indexing="ij")
    t_ag = em.sample.silver_thickness_at(np.stack([yy.ravel(), xx.ravel()], 1)).reshape(ny, nx)
    assert f.data[t_ag > 12 * NM].mean() > 20 * f.data[t_ag == 0].mean()
    bf = em.acquire_overview(fov, (ny, nx), 5e-6, detector="BF")
    assert bf.frame_id == "overview-0002"
    assert bf.data[t_ag > 12 * NM].mean() < 0.8 * bf.data[t_ag == 0].mean()
    # Counts scale with dwell (and beam current).
    f4 = em.acquire_overview(fov, (ny, nx), 20e-6)
    assert f4.data.sum() / f.data.sum() == pytest.approx(4.0, rel=0.03)


def test_probe_fraction_and_metres_agree_on_pixel_centres() -> None:
    from agent.candidates import make_candidates

    em = PlasmonEmulator(seed=2)
    fov = 100 * NM
    f = em.acquire_overview(fov, (50, 40), 1e-6)
    i, j = 7, 33
    s1 = em.set_probe(f.frame_id, yx_frac=((i + 0.5) / 50, (j + 0.5) / 40))
    assert s1.yx_m == pytest.approx((f.axes[0].values[i], f.axes[1].values[j]), abs=1e-21)
    s2 = em.set_probe(f.frame_id, yx_m=s1.yx_m)
    assert s2.yx_frac == pytest.approx(s1.yx_frac, abs=1e-14)
    assert s2.blanked and s2.frame_id == f.frame_id
    corner = em.set_probe(f.frame_id, yx_frac=(0.0, 1.0))
    assert corner.yx_m == pytest.approx((-fov / 2, fov / 2), abs=1e-21)
    cs = make_candidates(f, window_px=8, stride_px=5)
    for k in (0, cs.n // 2, cs.n - 1):
        s = em.set_probe(f.frame_id, yx_frac=tuple(cs.yx_frac[k]))
        np.testing.assert_allclose(s.yx_m, cs.yx_m[k], atol=1e-21)
    spec = em.acquire_spectrum(0.01)
    assert spec.metadata["probe_yx_m"] == s.yx_m
    assert spec.frame_id == "spectrum-000001"
    assert spec.signal_axis.name == "energy_loss" and spec.signal_axis.units == "eV"
    assert spec.signal_axis.values[0] == pytest.approx(0.3)
    assert spec.signal_axis.values[-1] == pytest.approx(0.3 + 1023 * 0.004)


# -- refusals ----------------------------------------------------------------------------------
def test_every_refusal_raises_the_right_typed_error() -> None:
    em = PlasmonEmulator(seed=5)
    with pytest.raises(InvalidArgument, match="set_probe"):
        em.acquire_spectrum(0.01)  # no probe position yet
    bad_overviews = [
        dict(fov_m=201 * NM), dict(fov_m=0.0), dict(fov_m=-1e-7), dict(fov_m=float("nan")),
        dict(dwell_s=0.0), dict(dwell_s=-1e-6), dict(dwell_s=2e-3), dict(shape_px=(0, 10)),
        dict(shape_px=(10,)), dict(shape_px="ab"), dict(shape_px=(2.5, 3)),
        dict(shape_px=(5000, 10)), dict(timeout_s=0.0),
    ]
    for kw in bad_overviews:
        args = dict(fov_m=100 * NM, shape_px=(16, 16), dwell_s=1e-6) | kw
        with pytest.raises(InvalidArgument):
            em.acquire_overview(**args)
    for det in ("EELS", "SE"):
        with pytest.raises(NotSupported, match=det):
            em.acquire_overview(100 * NM, (16, 16), 1e-6, detector=det)
    assert em.time_s == 0.0 and em.dose_e == 0.0  # nothing happened

    f = em.acquire_overview(100 * NM, (16, 16), 1e-6)
    state = em.set_probe(f.frame_id, yx_frac=(0.5, 0.5))
    with pytest.raises(InvalidArgument, match="overview-9999"):
        em.set_probe("overview-9999", yx_frac=(0.5, 0.5))
    with pytest.raises(InvalidArgument, match="yx_frac and yx_m"):
        em.set_probe(f.frame_id, yx_frac=(0.5, 0.5), yx_m=(0.0, 0.0))
    with pytest.raises(InvalidArgument, match="yx_frac and yx_m"):
        em.set_probe(f.frame_id)
    for frac in [(1.01, 0.5), (0.5, -0.01), (float("nan"), 0.5), (0.5,), "xy"]:
        with pytest.raises(InvalidArgument, match="yx_frac"):
            em.set_probe(f.frame_id, yx_frac=frac)
    for pos in [(51 * NM, 0.0), (0.0, -50.1 * NM), (0.0, float("inf"))]:
        with pytest.raises(InvalidArgument, match="yx_m"):
            em.set_probe(f.frame_id, yx_m=pos)
    assert em.probe == state  # refusals never moved (or clamped) the probe

    for exp in (0.0, -1.0, 10.5, float("nan")):
        with pytest.raises(InvalidArgument, match="exposure_s"):
            em.acquire_spectrum(exp)
    for det in ("HAADF", "CL"):
        with pytest.raises(NotSupported, match=det):
            em.acquire_spectrum(0.01, detector=det)
    t0, d0 = em.time_s, em.dose_e
    with pytest.raises(Timeout):
        em.acquire_spectrum(0.1, timeout_s=0.05)
    assert em.time_s == pytest.approx(t0 + 0.05)
    assert em.dose_e == pytest.approx(d0 + 20e-12 * 0.05 / E_CHARGE_C)
    assert em.blanked
    t0 = em.time_s
    with pytest.raises(Timeout):  # 16 x 16 x 1 ms scan against a 0.1 s limit
        em.acquire_overview(100 * NM, (16, 16), 1e-3, timeout_s=0.1)
    assert em.time_s == pytest.approx(t0 + 0.1)
    assert em.state()["n_overviews"] == 1

    for kw, field in [
        (dict(seed=-1), "seed"), (dict(seed=True), "seed"),
        (dict(sample_extent_m=60 * NM, n_particles=12), "n_particles"),
        (dict(clock="wall"), "clock"), (dict(dispersion_eV=0.0), "dispersion_eV"),
        (dict(default_exposure_s=20.0), "default_exposure_s"), (dict(n_channels=3), "n_channels"),
        (dict(particle_kinds=["sphere"]), "particle_kinds"), (dict(beam_current_A=-1e-12),
                                                             "beam_current_A"),
        (dict(sample_extent_m=1e-9), "sample_extent_m"), (dict(overview_fov_m=3e-7),
                                                         "overview_fov_m"),
    ]:
        with pytest.raises(InvalidArgument, match=field):
            PlasmonEmulator(**kw)

    em.close()
    em.close()  # idempotent
    verbs = [
        lambda: em.capabilities(), lambda: em.state(), lambda: em.blank(), lambda: em.unblank(),
        lambda: em.stop(), lambda: em.acquire_overview(None, None, None),
        lambda: em.set_probe(f.frame_id, yx_frac=(0.5, 0.5)), lambda: em.acquire_spectrum(0.01),
    ]
    for verb in verbs:
        with pytest.raises(ConnectionLost):
            verb()
    assert em.expected_spectrum((0.0, 0.0)).shape == (1024,)  # scoring still works after close
    with pytest.raises(InvalidArgument, match="n_particles"):
        PlasmonEmulator.with_sample(em.sample, n_particles=3)


# -- clock, dose, blanking ---------------------------------------------------------------------
def test_virtual_clock_and_dose_bookkeeping() -> None:
    em = PlasmonEmulator(seed=6, readout_s=0.004, settle_s=0.002, line_flyback_s=1e-5)
    assert isinstance(em, Driver) and isinstance(em, GroundTruth)
    e = E_CHARGE_C
    f = em.acquire_overview(120 * NM, (32, 24), 1e-5)
    t_ov = 32 * 24 * 1e-5 + 32 * 1e-5
    assert em.time_s == pytest.approx(t_ov, abs=1e-15)
    assert f.metadata["time_s"] == pytest.approx(t_ov, abs=1e-15)
    ov_dose = 20e-12 * 32 * 24 * 1e-5 / e
    assert f.metadata["dose_e"] == pytest.approx(ov_dose)
    assert f.metadata["dose_e_per_A2"] == pytest.approx(ov_dose / (1200.0**2))
    em.set_probe(f.frame_id, yx_frac=(0.3, 0.3))
    assert em.time_s == pytest.approx(t_ov + 0.002, abs=1e-15)
    assert em.dose_e == pytest.approx(ov_dose)  # blanked while settling
    s = em.acquire_spectrum(0.1)
    assert em.time_s == pytest.approx(t_ov + 0.002 + 0.104, abs=1e-12)
    spot = 20e-12 * 0.1 / e
    area = math.pi * 5.0**2  # 1 nm FWHM probe, in square angstroms
    assert s.metadata["dose_e"] == pytest.approx(spot)
    assert s.metadata["dose_e_per_A2"] == pytest.approx(spot / area)
    assert em.probe_area_A2 == pytest.approx(area)
    assert em.dose_e == pytest.approx(ov_dose + spot)
    assert em.spot_dose_e == pytest.approx(spot)
    assert em.dose_e_per_A2 == pytest.approx(spot / area)
    assert em.blanked and em.probe.blanked
    em.unblank()
    assert not em.state()["blanked"] and not em.probe.blanked
    em.set_probe(f.frame_id, yx_frac=(0.6, 0.6))  # settling with the beam open costs dose
    assert em.spot_dose_e == pytest.approx(spot + 20e-12 * 0.002 / e)
    em.acquire_spectrum(0.01)
    assert em.blanked  # blanked again after the acquisition
    caps = em.capabilities()
    assert caps.max_fov_m == pytest.approx(200 * NM) and caps.max_exposure_s == 10.0
    assert set(caps.detectors) == {"HAADF", "BF", "EELS"} and caps.signal_units == {"EELS": "eV"}


def test_real_clock_sleeps_and_stop_aborts() -> None:
    em = PlasmonEmulator(seed=7, clock="real", readout_s=0.0, settle_s=0.0)
    f = em.acquire_overview(100 * NM, (8, 8), 1e-6)
    em.set_probe(f.frame_id, yx_frac=(0.5, 0.5))
    t0, w0 = em.time_s, time.monotonic()
    em.acquire_spectrum(0.06)
    assert time.monotonic() - w0 >= 0.055
    assert em.time_s - t0 >= 0.055
    timer = threading.Timer(0.05, em.stop)
    timer.start()
    w0 = time.monotonic()
    with pytest.raises(Aborted):
        em.acquire_spectrum(5.0)
    assert time.monotonic() - w0 < 2.0
    assert em.blanked
    assert em.last_dose_e < 20e-12 * 2.0 / E_CHARGE_C  # only the time the beam was really on
    timer.join()
    em.close()


# -- ground truth ------------------------------------------------------------------------------
def test_ground_truth_is_fast_and_matches_expected_spectrum(em0: PlasmonEmulator) -> None:
    rng = np.random.default_rng(0)
    n = 57
    g = (np.arange(n) + 0.5) / n * 200 * NM - 100 * NM
    yy, xx = np.meshgrid(g, g, indexing="ij")
    pts = np.stack([yy.ravel(), xx.ravel()], axis=1)
    lo, hi = EDGE_BAND_EV
    e = em0.energy_axis.values
    sel = (e >= lo) & (e <= hi)

    def band(spectrum: np.ndarray, axis) -> float:
        return float(spectrum[sel].sum())

    evaluate_at(band, em0.expected_spectra, em0.signal_axis, pts[:10])  # warm-up
    t0 = time.perf_counter()
    truth = evaluate_at(band, em0.expected_spectra, em0.signal_axis, pts)
    elapsed = time.perf_counter() - t0
    assert truth.shape == (3249,) and truth.dtype == np.float64
    assert elapsed < 1.0
    for k in rng.choice(3249, 5, replace=False):
        assert truth[k] == pytest.approx(band(em0.expected_spectrum(pts[k]), None), rel=1e-12)
    doubled = evaluate_at(band, partial(em0.expected_spectra, exposure_s=2 * em0.default_exposure_s), em0.signal_axis,
                          pts[:20])
    np.testing.assert_allclose(doubled, 2 * truth[:20], rtol=1e-12)

    def picky(spectrum: np.ndarray, axis) -> float:
        if spectrum[sel].sum() < np.median(truth):
            raise EmptySpectrum("too few counts")
        return 1.0

    out = evaluate_at(picky, em0.expected_spectra, em0.signal_axis, pts[::16])
    assert np.isnan(out).any() and (out == 1.0).any()
    with pytest.raises(InvalidArgument, match="yx_m"):
        evaluate_at(band, em0.expected_spectra, em0.signal_axis, np.zeros((4, 3)))


def test_mode_summary_lists_low_energy_tip_and_corner_modes(em0: PlasmonEmulator) -> None:
    rows = em0.mode_summary()
    energies = [r["energy_eV"] for r in rows]
    assert energies == sorted(energies)
    assert {r["particle"] for r in rows} == set(range(12))
    assert {"particle", "kind", "energy_eV"} <= set(rows[0])
    in_band = [r for r in rows if EDGE_BAND_EV[0] <= r["energy_eV"] <= EDGE_BAND_EV[1]]
    assert in_band and {r["kind"] for r in in_band} <= {"rod_longitudinal", "triangle_corner"}
    assert all(r["energy_eV"] > EDGE_BAND_EV[1] for r in rows
               if r["kind"] in ("face", "rod_transverse", "triangle_edge"))


def test_hydra_config_lists_every_argument_with_its_default() -> None:
    em = check_driver_yaml(PlasmonEmulator, "emulator", "drivers.emulator.PlasmonEmulator", 1)
    assert em.particle_kinds == ("disk", "rod", "triangle")
