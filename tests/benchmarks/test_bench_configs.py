"""Every dataset and method config composes; each dataset's truth map is finite and well ranked."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from agent.app import CONF_DIR
from agent.candidates import make_candidates
from agent.metrics import top_fraction_mask
from agent.settings import ExperimentSettings
from benchmarks.bench import BenchSettings
from rewards import evaluate_at

torch.set_num_threads(1)

DATA = Path(os.environ.get("AUTOSCOPE_DATA_DIR", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"))
DATASETS = sorted(p.stem for p in (CONF_DIR / "dataset").glob("*.yaml"))
METHODS = {
    "random": ("policies.RandomPolicy", "agent.surrogates.DKLSurrogate"),
    "raster": ("policies.Raster", "agent.surrogates.DKLSurrogate"),
    "coord_gp_ei": ("policies.LogEI", "agent.surrogates.CoordinateGP"),
    "dkl_ei": ("policies.LogEI", "agent.surrogates.DKLSurrogate"),
    "dkl_ucb": ("policies.UCB", "agent.surrogates.DKLSurrogate"),
    "gpcam": ("policies.UCB", "agent.surrogates.gpcam_gp.GpcamGP"),
    "gpax_ei": ("policies.LogEI", "agent.surrogates.gpax_vidkl.GpaxViDKL"),
}


def _compose(*overrides: str, hydra_node: bool = False):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("bench", overrides=list(overrides), return_hydra_config=hydra_node)


def test_every_recorded_set_has_a_dataset_config() -> None:
    from drivers.replay import DATASET_ALIASES

    assert sorted(DATASET_ALIASES) == DATASETS


@pytest.mark.parametrize("method", sorted(METHODS))
def test_method_configs_pair_policy_and_surrogate(method: str) -> None:
    cfg = _compose(f"method={method}", "dataset=kpfm", "seed=7")
    policy, surrogate = METHODS[method]
    assert cfg.policy._target_ == policy and cfg.surrogate._target_ == surrogate
    assert cfg.bench.method == method and cfg.surrogate.seed == 7
    assert cfg.experiment.plots is False and cfg.experiment.progress is False
    assert BenchSettings.from_mapping(cfg.bench).method == method


def test_peer_methods_use_the_peers_own_settings() -> None:
    gpcam = _compose("method=gpcam", "dataset=kpfm")
    assert gpcam.policy.beta == 9.0  # sqrt(9) = 3 std: gpCAM's built-in "ucb"
    assert gpcam.surrogate.noise_variance is None  # gpCAM's default noise


def test_structure_method_runs_without_the_pretrained_model() -> None:
    text = (CONF_DIR / "method" / "structure_ei.yaml").read_text()
    assert "override /surrogate: structure" in text and "override /policy: logei" in text
    if not (CONF_DIR / "surrogate" / "structure.yaml").is_file():
        pytest.skip("conf/surrogate/structure.yaml (the structure surrogate) is not there yet")
    cfg = _compose("method=structure_ei", "dataset=kpfm")
    assert cfg.bench.method == "structure_ei" and cfg.surrogate.pretrained is None


def test_budgets_are_five_to_ten_percent_of_the_candidates() -> None:
    sizes = {"bruker_mineral_eds": 900, "bruker_p45_eds": 1900, "bruker_tem_eds": 1024, "jeol_eds": 1024,
             "kpfm": 400, "ncem_eds": 1024, "pto_beps": 2500}
    for dataset, n in sizes.items():
        steps = _compose(f"dataset={dataset}", "method=random").experiment.steps
        assert 0.05 * n <= steps <= 0.10 * n, (dataset, steps, n)


def test_launcher_and_report_callback_configs() -> None:
    local = _compose(hydra_node=True).hydra
    assert local.launcher._target_.endswith("JoblibLauncher") and local.launcher.n_jobs == 2
    assert local.callbacks.report._target_ == "benchmarks.bench.callback.ReportCallback"
    subdir = OmegaConf.to_container(local.sweep, resolve=False)["subdir"]
    assert subdir == "${hydra.job.num}_${bench.dataset}_${bench.method}_s${seed}"
    cluster = _compose("hydra/launcher=cluster", hydra_node=True).hydra.launcher
    assert cluster._target_.endswith("SlurmLauncher")
    assert cluster.partition == "CHANGE_ME" and cluster.cpus_per_task == 1 and cluster.timeout_min == 60


@pytest.mark.parametrize("dataset", DATASETS)
def test_dataset_composes_and_its_truth_map_is_finite(dataset: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _compose(f"dataset={dataset}", "method=random")
    assert cfg.bench.dataset == dataset
    settings = ExperimentSettings.from_mapping(cfg.experiment)
    ov = settings.overview
    assert ov.fov_m is None and ov.shape_px is None and ov.dwell_s is None
    assert settings.exposure_s == cfg.driver.recorded_exposure_s
    assert 2 <= settings.n_init < settings.steps
    path = DATA / str(cfg.driver.path)
    if not path.is_file():
        pytest.skip(f"recorded data {path} not present")
    monkeypatch.setenv("AUTOSCOPE_DATA_DIR", str(DATA))
    driver = instantiate(cfg.driver)
    reward = instantiate(cfg.reward)
    overview = driver.acquire_overview(None, None, None)
    c = settings.candidates
    cand = make_candidates(overview, c.window_px, c.stride_px, c.margin_px, c.normalise)
    ny, nx = overview.data.shape
    assert cand.n == math.ceil(ny / c.stride_px) * math.ceil(nx / c.stride_px)
    assert 5 * settings.steps <= cand.n  # the budget measures at most a fifth of the grid
    truth = evaluate_at(reward, driver.expected_spectra, driver.signal_axis, cand.yx_m)
    finite = np.isfinite(truth)
    assert finite.mean() >= 0.95, f"{dataset}: only {finite.mean():.1%} of the truth map is finite"
    assert np.std(truth[finite]) > 0
    # a sensible ranking: the top 1 % is (nearly) the nominal count, not a plateau of ties
    nominal = math.ceil(0.01 * finite.sum())
    assert top_fraction_mask(truth, 0.01).sum() <= 2 * nominal
    assert top_fraction_mask(truth, 0.05).sum() <= 2 * math.ceil(0.05 * finite.sum())
    driver.close()
