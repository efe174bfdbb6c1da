"""Core-loss emulator (issue 14, item 6): power-law background plus C K and Ag M4,5 edges with
their shapes, scaled by the projected thickness of each element; Poisson noise; ground truth
through the emulator's expected-spectrum path; `conf/driver/emulator_coreloss.yaml` builds it."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from emulator_checks import keywords
from hydra.utils import instantiate
from omegaconf import OmegaConf

from drivers import Driver, GroundTruth, InvalidArgument
from drivers.emulator import CoreLossEmulator, PlasmonEmulator, ScanSettings
from drivers.emulator.coreloss import BUILTIN_EDGES, edge
from rewards import evaluate_at

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.fixture(scope="module")
def em() -> CoreLossEmulator:
    return CoreLossEmulator(seed=3, edge_database="builtin")


def _bare_and_particle(em: CoreLossEmulator) -> tuple[np.ndarray, np.ndarray]:
    n = 48
    yy, xx = np.mgrid[0:n, 0:n]
    pts = np.stack([(yy.ravel() + 0.5) / n - 0.5, (xx.ravel() + 0.5) / n - 0.5], 1) * em.sample_extent_m
    t_ag = em.sample.silver_thickness_at(pts)
    return pts[np.argmin(t_ag)], pts[np.argmax(t_ag)]


def test_conf_builds_the_core_loss_emulator_with_the_runs_seed():
    cfg = OmegaConf.load(CONF / "driver" / "emulator_coreloss.yaml")
    plain = OmegaConf.to_container(cfg)
    assert plain.pop("_target_") == "drivers.emulator.CoreLossEmulator" and plain["seed"] == "${seed}"
    own, _ = keywords(CoreLossEmulator)
    shared = set(keywords(PlasmonEmulator)[0]) | {f.name for f in fields(ScanSettings)}
    assert list(plain)[1:len(own) + 1] == own and set(plain) <= set(own) | shared
    root = OmegaConf.create({"seed": 5, "driver": {**plain, "_target_": "drivers.emulator.CoreLossEmulator",
                                                   "edge_database": "builtin"}})
    driver = instantiate(root.driver)
    assert isinstance(driver, CoreLossEmulator) and isinstance(driver, Driver) and isinstance(driver, GroundTruth)
    axis = driver.energy_axis.values
    assert driver.seed == 5 and axis[0] == 200.0 and axis[-1] == pytest.approx(519.5)


def test_edge_onsets_come_from_exspys_database():
    pytest.importorskip("exspy.material")
    for (element, shell), (onset, shape) in BUILTIN_EDGES.items():
        e = edge(element, shell)
        assert e.source == "exspy" and e.onset_eV == onset and e.shape == shape
    with pytest.raises(InvalidArgument, match="database"):
        edge("C", "K", "nist")
    with pytest.raises(InvalidArgument):
        CoreLossEmulator(energy_offset_eV=0.0)


def test_edges_have_their_shapes_and_scale_with_thickness(em):
    e = em.energy_axis.values
    bare, particle = _bare_and_particle(em)
    s_bare, s_ag = em.expected_spectra(np.stack([bare, particle]), exposure_s=1.0)
    below, above = np.searchsorted(e, 282.0), np.searchsorted(e, 288.0)
    assert s_bare[above] > 3 * s_bare[below]  # C K: abrupt onset (sawtooth), jump ratio ~7 on the film
    basis = em._model.basis
    peak = e[np.argmax(basis[2])]
    assert 380.0 < peak < 440.0  # Ag M4,5: delayed maximum, tens of eV above the 367 eV onset
    assert basis[2][np.searchsorted(e, 368.0)] < 0.1 * basis[2].max()
    # the particle edge follows the Ag path, the support edge the film (less under a thick particle)
    m45 = slice(np.searchsorted(e, 390.0), np.searchsorted(e, 420.0))
    assert s_ag[m45].sum() > 5 * s_bare[m45].sum()
    coef = em._model.coefficients(np.stack([bare, particle]))
    t_c = em.sample.support_thickness_at(np.stack([bare, particle]))
    assert coef[1, 1] / t_c[1] < coef[0, 1] / t_c[0]
    # background: a power law E^-r on the bare film below the C K edge
    pre = (e > 210) & (e < 278)
    slope = np.polyfit(np.log(e[pre]), np.log(s_bare[pre]), 1)[0]
    assert slope == pytest.approx(-em.background_power, abs=1e-6)


def test_spectra_are_poisson_around_the_expected_spectrum(em):
    frame = em.acquire_overview()
    bare, _ = _bare_and_particle(em)
    em.set_probe(frame.frame_id, yx_m=tuple(bare))
    spectrum = em.acquire_spectrum(0.5)
    expected = em.expected_spectrum(bare, exposure_s=0.5)
    assert spectrum.axes[0].units == "eV" and np.all(spectrum.data == np.round(spectrum.data))
    z = (spectrum.data.sum() - expected.sum()) / np.sqrt(expected.sum())
    assert abs(z) < 5
    em.set_probe(frame.frame_id, yx_m=tuple(bare))
    np.testing.assert_array_equal(em.acquire_spectrum(0.5).data, spectrum.data)  # seeded by position


def test_ground_truth_uses_the_expected_spectra(em):
    from rewards.eels import EdgeIntensity

    reward = EdgeIntensity(284.0, [234.0, 279.0], 50.0)
    pts = np.stack(_bare_and_particle(em))
    truth = evaluate_at(reward, em.expected_spectra, em.signal_axis, pts)
    direct = [reward(s, em.energy_axis) for s in em.expected_spectra(pts)]
    np.testing.assert_allclose(truth, direct)
