"""The full agent loop on Nion's simulated instrument, and through a real server over loopback."""

from __future__ import annotations

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from agent.app import CONF_DIR, run_from_config
from agent.record import Record

FAST = ["surrogate.max_iter=30", "experiment.progress=false",
        "experiment.plots=false"]


def _cfg(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=[*FAST, *overrides])


@pytest.mark.slow
def test_agent_loop_on_nion_usim(tmp_path):
    cfg = _cfg("driver=nion_usim", "reward.window_eV=[10,30]", "experiment.steps=7", "experiment.n_init=4",
               "experiment.overview.fov_m=1e-7", "experiment.overview.shape_px=[64,64]",
               "experiment.overview.dwell_s=2e-6", "experiment.candidates.window_px=8",
               "experiment.candidates.stride_px=4", "experiment.candidates.margin_px=4")
    summary = run_from_config(cfg, tmp_path / "nion")
    assert summary["n_measured"] == 7
    with Record.open(tmp_path / "nion" / "record.h5") as rec:
        spectra = rec.column("spectrum")
        assert spectra.shape[0] == 7 and np.all(spectra.sum(axis=1) > 0)
        assert np.all(np.isfinite(rec.column("reward")))
        assert (rec.column("phase") == "policy").sum() == 3
    audit = (tmp_path / "nion" / "audit.jsonl").read_text()
    assert audit.count('"verb": "acquire_spectrum"') >= 7


def test_agent_loop_through_a_loopback_server(tmp_path):
    from drivers.remote.testing import ServerProcess

    with ServerProcess(["driver=emulator", "seed=2"], module="agent.serve") as server:
        cfg = _cfg("driver=remote", f"driver.uri={server.uri}", "seed=2", "experiment.steps=8",
                   "experiment.n_init=4")
        summary = run_from_config(cfg, tmp_path / "remote")
    assert summary["n_measured"] == 8
    with Record.open(tmp_path / "remote" / "record.h5") as rec:
        assert rec.column("spectrum").shape == (8, 1024)
        # the spectra that crossed the wire equal a local emulator's at the same positions
        from drivers.emulator import PlasmonEmulator

        local = PlasmonEmulator(seed=2)
        ov = local.acquire_overview(2e-7, (256, 256), 2e-6)
        frac = (rec.column("yx_px") + 0.5) / 256.0
        for k in range(3):
            local.set_probe(ov.frame_id, yx_frac=tuple(frac[k]))
            assert np.array_equal(local.acquire_spectrum(0.05).data, rec.column("spectrum")[k])
