"""``experiment.dashboard=true`` starts the dashboard beside the run (agent/app.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("dash", reason="the dashboard needs the `dash` extra: pip install -e '.[dash]'")


def test_experiment_dashboard_true_starts_the_dashboard_beside_the_run(tmp_path, monkeypatch):
    from hydra import compose, initialize_config_dir

    import agent.dashboard
    from agent.app import CONF_DIR, run_from_config

    started = []
    monkeypatch.setattr(agent.dashboard, "launch", lambda run_dir: started.append(run_dir))
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "policy=random", "experiment.steps=2", "experiment.plots=false", "experiment.progress=false"])
        assert cfg.experiment.dashboard is False  # off unless asked
        cfg = compose(config_name="config", overrides=[
            "policy=random", "experiment.steps=2", "experiment.plots=false", "experiment.progress=false",
            "experiment.dashboard=true"])
    run_from_config(cfg, tmp_path / "run")
    assert started == [tmp_path / "run"]
