"""ReplayDriver on the recorded sets in shared/data and their Hydra configs (skip when absent)."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from drivers import Driver, Frame
from drivers.replay import DATASET_ALIASES, DATASETS, ReplayDriver
from rewards import evaluate_at

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("AUTOSCOPE_DATA_DIR") or REPO / ".." / "shared" / "data")
CONFS = sorted((REPO / "conf" / "driver").glob("replay_*.yaml"))


def _needs(name: str) -> Path:
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"recorded data {name} not found in {DATA}")
    return path


@pytest.mark.parametrize("name", DATASETS)
def test_every_recorded_set_replays(name):
    path = _needs(name)
    driver = ReplayDriver.from_npz(path)
    assert isinstance(driver, Driver)
    with np.load(path, allow_pickle=False) as npz:
        image, cube, axis = npz["image"], npz["cube"], npz["axis"]
        units = str(npz["axis_units"])
    frame = driver.acquire_overview()
    assert isinstance(frame, Frame)
    np.testing.assert_array_equal(frame.data, image)
    assert frame.axes[0].units == "m" and frame.axes[0].scale > 0
    state = driver.set_probe(frame.frame_id, yx_frac=(0.5, 0.25))
    spectrum = driver.acquire_spectrum()
    row, col = state.yx_px
    np.testing.assert_array_equal(spectrum.data, cube[row, col].astype(np.float64))
    np.testing.assert_array_equal(spectrum.axes[0].values, axis.astype(np.float64))
    assert spectrum.axes[0].units == units
    assert driver.counts == (cube.dtype.kind == "u")


def test_configs_cover_every_dataset_and_every_argument():
    assert {p.stem for p in CONFS} == {f"replay_{short}" for short in DATASET_ALIASES}
    params = set(inspect.signature(ReplayDriver.__init__).parameters) - {"self"}
    for conf in CONFS:
        cfg = OmegaConf.load(conf)
        assert cfg._target_ == "drivers.replay.ReplayDriver"
        assert set(cfg.keys()) - {"_target_"} == params, conf.name
        assert OmegaConf.to_container(cfg)["seed"] == "${seed}"
        assert cfg.path == DATASET_ALIASES[conf.stem.removeprefix("replay_")]


@pytest.mark.parametrize("conf", CONFS, ids=[p.stem for p in CONFS])
def test_config_instantiates_and_scores(conf):
    cfg = OmegaConf.create({"seed": 11, "driver": OmegaConf.load(conf)})
    _needs(cfg.driver.path)
    driver = instantiate(cfg.driver)
    assert isinstance(driver, ReplayDriver) and driver.seed == 11
    frame = driver.acquire_overview()
    driver.set_probe(frame.frame_id, yx_m=(0.0, 0.0))
    spectrum = driver.acquire_spectrum()
    truth = evaluate_at(lambda s, a: float(np.mean(s)), driver.expected_spectra, driver.signal_axis,
                        [spectrum.metadata["probe_yx_m"]])
    denoised = driver.denoised_cube()
    row, col = spectrum.metadata["probe_yx_px"]
    assert truth[0] == pytest.approx(float(np.mean(denoised[row, col].astype(np.float64))))
    assert denoised.shape == driver.recording.cube.shape
