"""The notebook API: run_experiment, Run.load, on_step, and ask/tell (Session) against the CLI loop."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate

import agent
from agent.api import RunFinished, Session, compose
from agent.record import RecordError
from drivers.errors import InvalidArgument

_QUIET = ("experiment.progress=false", "experiment.plots=false")
_SMALL = ("experiment.steps=8", "experiment.n_init=4", *_QUIET, "surrogate=coord_gp",
          "experiment.overview.shape_px=[96,96]")


def _positions(run_dir: Path) -> list[int]:
    rows = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines() if line.strip()]
    return [r["index"] for r in rows if "index" in r and "step" in r]


class _Microscope:
    """The user's own instrument in these tests: the emulator of the same config, driven by hand."""

    def __init__(self, *overrides: str) -> None:
        cfg = compose(*overrides)
        self.s = cfg.experiment
        self.em = instantiate(cfg.driver)
        ov = self.s.overview
        self.overview = self.em.acquire_overview(ov.fov_m, tuple(ov.shape_px), ov.dwell_s, ov.detector)

    def measure(self, yx_frac: tuple[float, float]):
        self.em.set_probe(self.overview.frame_id, yx_frac=yx_frac)
        frame = self.em.acquire_spectrum(self.s.exposure_s, self.s.detector)
        return frame.data, frame.signal_axis, {"dose_e": frame.metadata["dose_e"], "time_s": frame.metadata["time_s"]}


def _drive(session: Session, scope: _Microscope, n: int | None = None) -> None:
    k = 0
    while not session.done and (n is None or k < n):
        (s,) = session.suggest()
        spectrum, axis, md = scope.measure(s.yx_frac)
        session.observe(s, spectrum, axis, **md)
        k += 1


@pytest.mark.slow
def test_ask_tell_reproduces_the_cli_positions(tmp_path):
    """25 steps, default config, seed 0: the `autoscope` console script and a user driving the same
    emulator through suggest/observe measure the same candidates in the same order."""
    overrides = ("experiment.steps=25", *_QUIET, "seed=0")
    cli = tmp_path / "cli"
    code = "import sys; from agent.app import main; sys.argv = ['autoscope'] + sys.argv[1:]; main()"
    subprocess.run([sys.executable, "-c", code, *overrides, f"hydra.run.dir={cli}"], check=True, timeout=600,
                   capture_output=True)
    scope = _Microscope(*overrides)
    session = Session.start(scope.overview, *overrides, out_dir=tmp_path / "asktell", spectrum_units="eV")
    _drive(session, scope)
    run = session.finish()
    assert _positions(run.path) == _positions(cli) and len(_positions(cli)) == 25
    cli_summary = json.loads((cli / "summary.json").read_text())
    assert run.summary["best_value"] == cli_summary["best_value"]
    assert run.summary["stop_reason"] == cli_summary["stop_reason"] == "steps budget reached"


def test_a_killed_session_resumes_with_every_observation(tmp_path):
    scope = _Microscope(*_SMALL)
    whole = Session.start(scope.overview, *_SMALL, out_dir=tmp_path / "whole")
    _drive(whole, scope)
    expected = _positions(whole.finish().path)

    scope = _Microscope(*_SMALL)
    first = Session.start(scope.overview, *_SMALL, out_dir=tmp_path / "killed")
    _drive(first, scope, n=5)
    first.experiment.close()  # the notebook's kernel dies: files closed as by a kill, nothing finished
    again = Session.resume(tmp_path / "killed")
    assert again.experiment.n_done == 5
    _drive(again, scope)
    run = again.finish()
    assert _positions(run.path) == expected
    assert run.summary["n_measured"] == 8


def test_suggest_gives_metres_pixels_and_reason_and_refuses_after_the_budget(tmp_path):
    scope = _Microscope(*_SMALL)
    with Session.start(scope.overview, *_SMALL, out_dir=tmp_path / "s") as session:
        (s,) = session.suggest()
        cand = session.experiment.candidates
        assert s.reason == "seed" and s.yx_px == tuple(cand.yx_px[s.index])
        assert np.allclose(s.yx_m, cand.yx_m[s.index]) and all(abs(v) < 1e-6 for v in s.yx_m)  # metres
        axis = scope.measure(s.yx_frac)[1]
        with pytest.raises(InvalidArgument, match="has 1024 values"):
            session.observe(s, np.ones(4), axis)
        bad = session.observe(s, np.full(axis.size, np.nan), axis)
        assert bad is None  # refused spectrum: a failed measurement, as in the CLI
        _drive(session, scope)
        with pytest.raises(RunFinished):
            session.suggest()
    summary = agent.Run.load(tmp_path / "s").summary
    assert summary["n_failed"] == 1 and summary["n_measured"] == 7


def test_run_experiment_with_safety_on_step_and_reload(tmp_path):
    updates = []
    run = agent.run_experiment(*_SMALL, out_dir=tmp_path / "r", on_step=updates.append)
    assert (run.path / "audit.jsonl").exists()  # the safety layer was on
    assert [u.n_done for u in updates] == list(range(1, 9))
    assert updates[-1].mean is not None and updates[-1].mean.shape == updates[-1].grid_yx_m.shape[:2]
    again = agent.Run.load(run.path)
    assert again.summary == run.summary and again.record.n_rows == 8
    signal = again.to_hyperspy()  # through autoscope-export: navigation = measurement
    assert signal.axes_manager.navigation_size == 8 and signal.axes_manager.signal_axes[0].units == "eV"
    shown = again.plot(tmp_path / "plots")
    assert {p.name for p in shown} >= {"overview.png", "best_spectrum.png"} and "<img" in shown._repr_html_()


def test_run_load_refuses_a_folder_without_a_record(tmp_path):
    with pytest.raises(RecordError, match="holds no record.h5"):
        agent.Run.load(tmp_path)


def test_package_exports_the_api_names_not_its_modules():
    # agent.api is split into modules (compose_config, run_folder, asktell, user_instrument): the
    # package's names are still the functions and classes, never a submodule of the same name
    import agent.api
    import agent.asktell  # noqa: F401 - imported so that a clash would show
    import agent.compose_config  # noqa: F401

    assert callable(agent.compose) and agent.compose is agent.api.compose
    assert agent.Session is agent.api.Session and agent.Run is agent.api.Run
    assert set(agent.__all__) <= set(dir(agent.api)) | {"RunResult"}


def test_a_session_started_before_the_module_split_resumes(tmp_path):
    # sessions started when UserInstrument lived in agent.api name that target in config.yaml
    scope = _Microscope(*_SMALL)
    first = Session.start(scope.overview, *_SMALL, out_dir=tmp_path / "old")
    _drive(first, scope, n=3)
    first.experiment.close()
    cfg = tmp_path / "old" / "config.yaml"
    text = cfg.read_text()
    assert "agent.user_instrument.UserInstrument" in text
    cfg.write_text(text.replace("agent.user_instrument.UserInstrument", "agent.api.UserInstrument"))
    again = Session.resume(tmp_path / "old")
    assert again.experiment.n_done == 3
    again.experiment.close()
