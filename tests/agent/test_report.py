"""autoscope-report and RunResult: every plot and the summary from record.h5 alone (no driver, no fit)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import agent
from agent import report
from agent.plots import PLOT_NAMES, plot_run, shared_limits
from agent.result import RunResult
from agent.reward_info import legacy_reward_info
from agent.summary import summarise

_SMALL = ("experiment.steps=8", "experiment.n_init=4", "experiment.progress=false", "experiment.plots=false",
          "surrogate=coord_gp", "experiment.overview.shape_px=[96,96]")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    """Three small finished emulator runs in one multirun-like folder (seeds 0, 1; a random policy)."""
    root = tmp_path_factory.mktemp("multirun")
    out = []
    for k, extra in enumerate((("seed=0",), ("seed=1",), ("seed=0", "policy=random"))):
        out.append(agent.run_experiment(*_SMALL, *extra, out_dir=root / str(k)).path)
    return out


def _forbid_instrument_and_fit(monkeypatch) -> None:
    """Building any component (driver, surrogate) or fitting any surrogate fails the test."""
    import hydra.utils

    import agent.app
    from agent.surrogates import CoordinateGP

    def refuse(*_a, **_k):
        raise AssertionError("the report built a component or fitted a model")

    monkeypatch.setattr(hydra.utils, "instantiate", refuse)
    monkeypatch.setattr(agent.app, "build_experiment", refuse)
    monkeypatch.setattr(CoordinateGP, "fit", refuse)


def test_summary_from_the_record_equals_the_runs_own(runs, monkeypatch):
    _forbid_instrument_and_fit(monkeypatch)
    for run in runs:
        written = json.loads((run / "summary.json").read_text())
        again = summarise(RunResult.from_run_dir(run))
        for key in ("n_measured", "n_failed", "best_value", "best_index", "stop_reason", "truth", "policy"):
            assert again[key] == written[key], key


def test_report_of_three_runs_builds_no_driver_and_fits_nothing(runs, tmp_path, monkeypatch):
    _forbid_instrument_and_fit(monkeypatch)
    out = report.write_report(runs, tmp_path / "three.html")
    page = out.read_text()
    assert page.count("<section id=") == 3 and "Comparison of 3 runs" in page
    assert page.count("data:image/png;base64,") >= 3 * 5 + 1  # per run >= 5 plots, + the discovery curves
    assert "steps budget reached" in page and "BandIntensity" in page and "window(s) [(1.5, 2.4)] eV" in page


def test_report_of_a_multirun_folder_finds_every_run(runs, tmp_path):
    root = runs[0].parent
    assert report.find_runs([root]) == sorted(runs)
    assert report.main([str(root), "--out", str(tmp_path / "multi.html")]) == 0
    assert "Comparison of 3 runs" in (tmp_path / "multi.html").read_text()


def test_report_out_may_name_a_folder(runs, tmp_path):
    # `autoscope-report RUN RUN --out /tmp/rep` writes /tmp/rep/report.html (a file named "rep" before)
    assert report.main([str(runs[0]), str(runs[1]), "--out", str(tmp_path / "rep")]) == 0
    assert "Comparison of 2 runs" in (tmp_path / "rep" / "report.html").read_text()
    (tmp_path / "there").mkdir()
    assert report.write_report([runs[0]], tmp_path / "there") == tmp_path / "there" / "report.html"


def test_report_process_never_imports_torch_nor_a_driver(runs, tmp_path):
    """The strongest form of 'no driver, no torch fit': neither is even imported."""
    code = ("import sys; from agent.report import main; rc = main(sys.argv[1:]); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'botorch', 'gpytorch', 'hydra') "
            "or m.startswith(('drivers.emulator', 'drivers.safety', 'agent.surrogates', 'agent.loop'))]; "
            "print(bad); sys.exit(rc or bool(bad))")
    done = subprocess.run([sys.executable, "-c", code, *map(str, runs), "--out", str(tmp_path / "r.html")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_report_refuses_a_folder_without_runs(tmp_path, capsys):
    assert report.main([str(tmp_path)]) == 3
    assert "holds no record.h5" in capsys.readouterr().err


def test_plots_have_units_one_scale_and_the_window(runs, tmp_path):
    result = RunResult.from_run_dir(runs[0])
    names = {p.name for p in plot_run(result, tmp_path)}
    assert {"overview.png", "predicted_mean.png", "truth.png", "best_spectrum.png", "progress.png"} <= names
    assert names <= set(PLOT_NAMES)
    assert result.reward.windows == ((1.5, 2.4),) and result.reward.axis_units == "eV"
    lo, hi = shared_limits(result.per_candidate("mean"), result.truth)
    assert lo <= np.nanmin(result.truth) and hi >= np.nanmax(result.truth)


def test_gate_map_is_outlined(runs, tmp_path):
    """A run whose record holds /maps/gate gets the gate drawn (contour) on its overview and maps."""
    import dataclasses

    import matplotlib

    matplotlib.use("Agg")
    result = RunResult.from_run_dir(runs[0])
    gate = (np.arange(result.n_candidates) % 2 == 0).astype(float)
    gated = dataclasses.replace(result, maps={**result.maps, "gate": result.as_map(gate)})
    drawn: list[str] = []
    import matplotlib.axes

    real = matplotlib.axes.Axes.contour
    matplotlib.axes.Axes.contour = lambda self, *a, **k: drawn.append("gate") or real(self, *a, **k)
    try:
        plot_run(gated, tmp_path / "gated")
        n_gated = len(drawn)
        plot_run(result, tmp_path / "plain")
    finally:
        matplotlib.axes.Axes.contour = real
    assert n_gated >= 3 and len(drawn) == n_gated  # overview + mean + truth (+ std); none without a gate


def test_comparison_auc_carries_the_last_value_forward(runs):
    """The report's discovery AUC is agent.metrics.discovery_auc (the benchmark's definition): a
    run's recall curve [0, 0.5, 1] over a budget of 5 steps counts 1 for the 2 steps it did not take."""
    from agent import metrics

    truth = np.zeros(200)
    truth[[7, 9]] = 1.0  # the top 1 % of 200 candidates: 2
    assert metrics.discovery_auc(np.array([3, 7, 9]), truth, 5) == pytest.approx((0 + 0.5 + 1 + 1 + 1) / 5)
    result = RunResult.from_run_dir(runs[0])
    figs = report.run_figures(result, summarise(result), "r")
    assert figs.auc_top1 == pytest.approx(float(np.mean(figs.curve)))  # 8 of 8 steps taken


def test_a_legacy_record_s_reward_info_reads_windows_and_wrappers_from_the_config():
    # records written before the rewards declared name/units/windows (e.g. /tmp/base) are described
    # from their reward's config node
    reward_info = legacy_reward_info
    info = reward_info({"_target_": "rewards.Negate", "reward": {"_target_": "rewards.bands.PeakRatio",
                        "window_a": [1, 2], "window_b": [3, 4], "units": "eV"}})
    assert info.name == "Negate(PeakRatio)" and info.windows == ((1.0, 2.0), (3.0, 4.0))
    edge = reward_info({"_target_": "rewards.eels.EdgeIntensity", "edge_onset_eV": 284.0,
                        "pre_edge_eV": [234, 279], "integration_width_eV": 50.0})
    assert edge.windows == ((234.0, 279.0), (284.0, 334.0))
    assert edge.units == "spectrum units x axis units" and info.units == "ratio"
    band = reward_info({"_target_": "rewards.bands.BandIntensity", "window_eV": [1.5, 2.4], "units": "eV"})
    assert band.label == "BandIntensity (spectrum units x eV)"
    assert reward_info({"_target_": "mine.fun", "_partial_": True}).label == "fun"  # a user function: no units


def test_a_mid_run_reward_switch_is_summarised_and_plotted_under_the_new_reward(tmp_path):
    """`autoscope-ctl RUN set reward.window_eV=[2.0,2.8]` mid-run: the loop rescores every spectrum;
    the summary and the best-spectrum window rebuilt from the record follow the new reward."""
    from agent.control import parse, send
    from rewards import BandIntensity, evaluate

    out = tmp_path / "switched"

    def switch_once(update) -> None:
        if update.n_done == 3:
            send(out, parse("set", ["reward.window_eV=[2.0,2.8]"]))

    run = agent.run_experiment(*_SMALL, out_dir=out, on_step=switch_once)
    result = RunResult.from_run_dir(run.path)
    assert result.reward.windows == ((2.0, 2.8),)
    expected = evaluate(BandIntensity([2.0, 2.8]), result.columns["spectrum"], result.signal_axis)
    assert np.allclose(result.columns["reward"], expected)
    assert run.summary["best_value"] == pytest.approx(float(np.max(expected)))  # written by the loop
    assert summarise(result)["best_value"] == run.summary["best_value"]
