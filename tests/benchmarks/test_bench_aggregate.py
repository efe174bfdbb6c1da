"""Aggregation of hand-made metrics.csv files: known means, t-intervals, steps-to-50 %, plots."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks.bench import (
    METRIC_COLUMNS,
    MetricsFormatError,
    NoMetricsFound,
    band,
    curves,
    load_results,
    t_interval,
    write_report,
)
from benchmarks.bench.aggregate import main as report_main

T_975_DF2 = 4.302652729911275  # Student t quantile 0.975, 2 degrees of freedom
T_975_DF1 = 12.706204736174705  # ... 1 degree of freedom


def _write_run(folder: Path, dataset: str, method: str, seed: int, recall1: list[float],
               recall5: list[float], regret: list[float], r2: list[float], t_dec: float) -> None:
    folder.mkdir(parents=True)
    with (folder / "metrics.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(METRIC_COLUMNS)
        for k in range(len(recall1)):
            phase = "seed" if k < 2 else "policy"
            w.writerow([dataset, method, "logei" if method != "random" else "random", "dkl", seed, k + 1,
                        k + 1, 10 * k, phase, 0.5, 0.6, recall1[k], recall5[k], regret[k], r2[k],
                        "nan" if phase == "seed" else t_dec])


@pytest.fixture()
def sweep(tmp_path: Path) -> Path:
    """Two methods x three seeds on one dataset, plus a second dataset, plus one failed run."""
    root = tmp_path / "sweep"
    nan = float("nan")
    # method "dkl_ei": final recall_top1 0.2, 0.4, 0.6 ; reaches 0.5 only in seed 2 at step 4
    finals1 = [0.2, 0.4, 0.6]
    for seed, f1 in enumerate(finals1):
        r1 = [0.0, 0.0, f1 / 2, f1 if seed < 2 else 0.5, f1]
        r5 = [0.0, 0.1, 0.1, 0.2, 0.1 * (seed + 1)]  # final 0.1, 0.2, 0.3
        reg = [3.0, 2.0, 1.0, 1.0, float(seed)]  # final 0, 1, 2
        r2 = [nan, nan, 0.1, 0.3 + 0.1 * seed, nan]  # last finite 0.3, 0.4, 0.5
        _write_run(root / f"{seed}_a_dkl_ei", "dsA", "dkl_ei", seed, r1, r5, reg, r2, t_dec=0.1 * (seed + 1))
    # method "random": every seed reaches 0.5 at step 2, 3, 4; final recall 1.0
    for seed in range(3):
        r1 = [0.0] * 5
        for k in range(seed + 1, 5):
            r1[k] = 0.5 if k == seed + 1 else 1.0
        _write_run(root / f"{3 + seed}_a_random", "dsA", "random", seed, r1, [0.5] * 5, [0.0] * 5,
                   [nan, nan, nan, nan, 0.25], t_dec=0.001)
    # a shorter run on a second dataset (3 steps)
    _write_run(root / "6_b_random", "dsB", "random", 0, [0.0, 1.0, 1.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.0],
               [nan, nan, 0.9], t_dec=0.002)
    failed = root / "7_a_dkl_ei_s3"
    failed.mkdir()
    (failed / "failed.json").write_text(json.dumps({"error": "RuntimeError", "message": "boom",
                                                   "labels": {"dataset": "dsA", "method": "dkl_ei", "policy": "logei",
                                                              "surrogate": "dkl", "seed": 3}}))
    return root


def test_t_interval_known_values() -> None:
    iv = t_interval([0.2, 0.4, 0.6, float("nan")])
    half = T_975_DF2 * 0.2 / math.sqrt(3)
    assert iv.n == 3 and iv.mean == pytest.approx(0.4)
    assert iv.lo == pytest.approx(0.4 - half) and iv.hi == pytest.approx(0.4 + half)
    assert iv.format() == f"0.4 [{0.4 - half:.3g}, {0.4 + half:.3g}]"
    two = t_interval([1.0, 3.0])
    assert two.half_width == pytest.approx(T_975_DF1 * math.sqrt(2) / math.sqrt(2))
    one = t_interval([5.0])
    assert one.n == 1 and one.mean == 5.0 and math.isnan(one.lo) and one.format() == "5"
    assert t_interval([]).format() == "n/a"
    assert t_interval([2.0, 2.0, 2.0]).half_width == 0.0
    with pytest.raises(ValueError, match="confidence"):
        t_interval([1.0, 2.0], confidence=95)


def test_report_tables_hold_the_known_means_and_intervals(sweep: Path) -> None:
    report = write_report(sweep)
    assert report.n_runs == 7 and report.n_failed == 1
    cells = {(c.dataset, c.method): c for c in report.cells}
    assert list(cells) == [("dsA", "random"), ("dsA", "dkl_ei"), ("dsB", "random")]  # METHOD_ORDER
    dkl = cells[("dsA", "dkl_ei")]
    half = T_975_DF2 * 0.2 / math.sqrt(3)
    assert dkl.n_runs == 3 and dkl.n_failed == 1 and dkl.steps == 5
    assert dkl.recall_top1.mean == pytest.approx(0.4) and dkl.recall_top1.hi == pytest.approx(0.4 + half)
    assert dkl.recall_top5.mean == pytest.approx(0.2)
    assert dkl.regret.mean == pytest.approx(1.0) and dkl.regret.lo == pytest.approx(1.0 - T_975_DF2 / math.sqrt(3))
    assert dkl.r2.mean == pytest.approx(0.4)  # last finite R^2 of each run: 0.3, 0.4, 0.5
    assert dkl.n_reached_50 == 1 and dkl.steps_to_50.mean == 4 and dkl.steps_to_50.n == 1
    assert dkl.median_t_decision_s == pytest.approx(0.2)  # policy rows only: 0.1, 0.2, 0.3 (x3 each)
    rnd = cells[("dsA", "random")]
    assert rnd.n_reached_50 == 3 and rnd.steps_to_50.mean == pytest.approx(3.0)
    assert rnd.steps_to_50.hi == pytest.approx(3.0 + T_975_DF2 * 1.0 / math.sqrt(3))
    assert rnd.recall_top1.mean == 1.0 and rnd.recall_top1.half_width == 0.0
    assert rnd.r2.mean == pytest.approx(0.25)
    assert cells[("dsB", "random")].steps == 3

    md = report.results_md.read_text()
    assert "## dsA (5 measurements)" in md and "## dsB (3 measurements)" in md
    assert f"| dkl_ei | logei | dkl | 3 (+1 failed) | 0.4 [{0.4 - half:.3g}, {0.4 + half:.3g}] |" in md
    assert "| 4 (1/3) |" in md  # steps to 50 %: one run of three got there, at step 4
    assert "1 run(s) failed" in md and "RuntimeError" in md

    with report.results_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 * 5 + 3  # one row per run and step
    assert rows[0]["run"] and set(METRIC_COLUMNS) <= set(rows[0])
    assert [p.name for p in report.plots] == ["discovery_dsA.png", "discovery_dsB.png"]
    assert all(p.stat().st_size > 5_000 for p in report.plots)


def test_curves_align_runs_and_band_is_a_t_interval(sweep: Path) -> None:
    rows = load_results(sweep)
    cv = curves(rows, "recall_top1")
    steps, mat = cv["dsA"]["dkl_ei"]
    assert steps.tolist() == [1, 2, 3, 4, 5] and mat.shape == (3, 5)
    np.testing.assert_allclose(mat[:, -1], [0.2, 0.4, 0.6])
    mean, lo, hi = band(mat)
    assert mean[-1] == pytest.approx(0.4) and hi[-1] - mean[-1] == pytest.approx(T_975_DF2 * 0.2 / math.sqrt(3))
    # a run shorter than the others is NaN after its end; gaps between rows carry forward
    short = [{"run": "x", "dataset": "d", "method": "m", "step": s, "recall_top1": v}
             for s, v in [(1, 0.0), (3, 0.5)]]
    long = [{"run": "y", "dataset": "d", "method": "m", "step": s, "recall_top1": 0.25} for s in range(1, 6)]
    _, m = curves(short + long)["d"]["m"]
    np.testing.assert_allclose(m[0], [0.0, 0.0, 0.5, np.nan, np.nan])
    mean, lo, hi = band(m)
    assert mean[4] == 0.25 and lo[4] == hi[4] == 0.25  # one run left: no band
    # one method run with two policies: two curves, labelled method:policy/surrogate
    two = [dict(r, policy="ucb", surrogate="dkl") for r in short] + [dict(r, policy="logei", surrogate="dkl")
                                                                     for r in long]
    assert sorted(curves(two)["d"]) == ["m:logei/dkl", "m:ucb/dkl"]


def test_report_errors_name_the_problem(tmp_path: Path, capsys) -> None:
    with pytest.raises(NoMetricsFound, match="no metrics.csv"):
        load_results(tmp_path)
    bad = tmp_path / "run0"
    bad.mkdir()
    (bad / "metrics.csv").write_text("dataset,method,seed,step\nd,m,0,1\n")
    with pytest.raises(MetricsFormatError, match="recall_top1"):
        load_results(tmp_path)
    assert report_main([str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_report_cli_writes_to_out(sweep: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "published"
    assert report_main([str(sweep), "--out", str(out), "--no-plots", "--note", "Command: `x --multirun`"]) == 0
    assert (out / "results.md").exists() and (out / "results.csv").exists()
    assert "\nCommand: `x --multirun`\n" in (out / "results.md").read_text()
    assert not list(out.glob("*.png"))
    assert "7 runs (1 failed)" in capsys.readouterr().out
