"""A replay under the default experiment (written for the emulator): its recorded field, grid,
detectors and exposure are used where the experiment's do not apply (agent.preflight.fit_recording);
`autoscope driver=replay_ncem_eds reward=element_fraction` runs as written (skips without the data)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from agent.preflight import fit_recording
from agent.settings import ExperimentSettings, OverviewSettings
from drivers.emulator import PlasmonEmulator
from drivers.replay import ReplayDriver

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("AUTOSCOPE_DATA_DIR") or REPO / ".." / "shared" / "data")


def _replay(**options) -> ReplayDriver:
    rng = np.random.default_rng(0)
    cube = rng.poisson(3.0, size=(12, 10, 40)).astype(np.uint16)
    return ReplayDriver.from_arrays(cube.sum(axis=2).astype(np.float32), cube, 0.5 + 0.01 * np.arange(40),
                                    "X-ray energy", "keV", pixel_size_m=2e-9, recorded_exposure_s=1.0, **options)


def test_the_default_experiment_gets_the_recorded_field_grid_detectors_and_exposure():
    driver = _replay()
    default = ExperimentSettings.from_mapping(OmegaConf.load(REPO / "conf" / "experiment" / "default.yaml"))
    assert default.exposure_s == ExperimentSettings.exposure_s  # the file and the dataclass agree
    fitted = fit_recording(default, driver)
    assert fitted.overview.fov_m is None and fitted.overview.shape_px is None and fitted.overview.dwell_s is None
    assert fitted.detector == "spectrum" and fitted.overview.detector == "image"
    assert fitted.exposure_s == 1.0
    # what the loop then asks for is what the replay has
    frame = driver.acquire_overview(fitted.overview.fov_m, fitted.overview.shape_px, fitted.overview.dwell_s,
                                    fitted.overview.detector)
    assert frame.data.shape == (12, 10)
    # the rest is untouched
    assert (fitted.steps, fitted.candidates, fitted.n_init) == (default.steps, default.candidates, default.n_init)


def test_what_the_recording_can_honour_is_kept():
    driver = _replay()
    native = driver.native_fov_m
    s = ExperimentSettings(exposure_s=0.25, detector="spectrum",
                           overview=OverviewSettings(fov_m=native, shape_px=[12, 10], dwell_s=None, detector="image"))
    assert fit_recording(s, driver) is s  # nothing to replace: the same object
    other = ExperimentSettings(detector="BEPS")  # neither recorded nor the protocol default: preflight refuses it
    assert fit_recording(other, driver).detector == "BEPS"


def test_other_drivers_get_the_settings_unchanged():
    s = ExperimentSettings()
    assert fit_recording(s, PlasmonEmulator(seed=0, n_particles=3)) is s


@pytest.mark.parametrize("command", [["driver=replay_ncem_eds", "reward=element_fraction"], ["+dataset=ncem_eds"]])
def test_readme_replay_command_runs_as_written(command, tmp_path):
    if not (DATA / "ncem_idp_eds_0deg_bin4.npz").is_file():
        pytest.skip(f"recorded data ncem_idp_eds_0deg_bin4.npz not found in {DATA}")
    pytest.importorskip("exspy.material")
    code = "import sys; from agent.app import main; sys.argv[0] = 'autoscope'; main()"
    args = [*command, "experiment.steps=10", "experiment.n_init=5", "experiment.plots=false",
            "experiment.progress=false", f"hydra.run.dir={tmp_path / 'run'}"]
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import h5py

    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["n_failed"] < 0.5 * (summary["n_measured"] + summary["n_failed"])
    assert 0 < summary["best_value"] < 1  # not the pinned 1.0 of the linear background
    with h5py.File(tmp_path / "run" / "record.h5", "r") as h5:
        truth = h5["candidates/truth"][...]
    assert np.isfinite(truth).all() and np.ptp(truth) > 0.1
    assert np.mean(truth >= 1.0) < 0.01
