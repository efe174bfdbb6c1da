"""reward=edge_intensity on the core-loss emulator (issue 14, item 6): the shipped conf's windows lie
on the emulator's axis, and the background-subtracted edge recovers the edge the emulator put in."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from drivers.emulator import CoreLossEmulator
from rewards import evaluate_at

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.fixture(scope="module")
def setup():
    em = CoreLossEmulator(seed=1, edge_database="builtin")
    n = 40
    yy, xx = np.mgrid[0:n, 0:n]
    pts = np.stack([(yy.ravel() + 0.5) / n - 0.5, (xx.ravel() + 0.5) / n - 0.5], 1) * em.sample_extent_m
    return em, pts


def test_the_edge_intensity_conf_fits_the_emulator_axis(setup):
    em, _ = setup
    reward = OmegaConf.load(CONF / "reward" / "edge_intensity.yaml")
    driver = OmegaConf.load(CONF / "driver" / "emulator_coreloss.yaml")
    lo = driver.energy_offset_eV
    hi = lo + driver.dispersion_eV * (driver.n_channels - 1)
    assert lo < reward.pre_edge_eV[0] and reward.edge_onset_eV + reward.integration_width_eV < hi
    assert em.edges[0].onset_eV == reward.edge_onset_eV  # the support's C K edge


def test_carbon_edge_intensity_is_the_carbon_signal_the_emulator_put_in(setup):
    em, pts = setup
    reward = instantiate(OmegaConf.load(CONF / "reward" / "edge_intensity.yaml"))
    truth = evaluate_at(reward, partial(em.expected_spectra, exposure_s=1.0), em.signal_axis, pts)
    # the C K single-scattering integral over the window, from the model's own rows
    e = em.energy_axis.values
    coef = em._model.coefficients(pts)
    win = (e >= 284.0) & (e <= 334.0)
    # counts per channel summed, times the channel width: the reward's counts x eV
    inserted = em.electrons(1.0) * coef[:, 1] * em._model.basis[1][win].sum() * em.dispersion_eV
    assert np.isfinite(truth).all() and np.ptp(truth) > 0.2 * truth.mean()  # not constant
    assert np.corrcoef(truth, inserted)[0, 1] > 0.999
    np.testing.assert_allclose(truth, inserted, rtol=0.03)


def test_silver_edge_tracks_the_particles(setup):
    from rewards.eels import EdgeIntensity

    em, pts = setup
    reward = EdgeIntensity(367.0, [320.0, 362.0], 50.0)
    truth = evaluate_at(reward, em.expected_spectra, em.signal_axis, pts)
    t_ag = em.sample.silver_thickness_at(pts)
    assert np.corrcoef(truth, t_ag)[0, 1] > 0.98
    assert truth[t_ag > 10e-9].min() > 10 * max(np.abs(truth[t_ag == 0]).max(), 1.0)
