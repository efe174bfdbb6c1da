"""Aggregation of hand-made metrics.csv files: known means, bootstrap intervals, AUC, steps-to,
the paired Wilcoxon test against a baseline, random's exact expectation, dataset facts, plots."""

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


def _inside(iv, values) -> bool:
    return min(values) - 1e-12 <= iv.lo <= iv.mean <= iv.hi <= max(values) + 1e-12


def test_report_tables_hold_the_known_means_and_intervals(sweep: Path) -> None:
    report = write_report(sweep)
    assert report.n_runs == 7 and report.n_failed == 1
    cells = {(c.dataset, c.method): c for c in report.cells}
    assert list(cells) == [("dsA", "random"), ("dsA", "dkl_ei"), ("dsB", "random")]  # METHOD_ORDER
    dkl = cells[("dsA", "dkl_ei")]
    assert dkl.n_runs == 3 and dkl.n_failed == 1 and dkl.steps == 5
    # bootstrap intervals: the mean, and an interval made of resampled means (inside the data's range)
    assert dkl.recall_top1.mean == pytest.approx(0.4) and _inside(dkl.recall_top1, [0.2, 0.4, 0.6])
    assert dkl.recall_top1.lo < 0.4 < dkl.recall_top1.hi
    assert dkl.recall_top5.mean == pytest.approx(0.2)
    assert dkl.regret.mean == pytest.approx(1.0) and _inside(dkl.regret, [0.0, 1.0, 2.0])
    assert dkl.r2.mean == pytest.approx(0.4)  # last finite R^2 of each run: 0.3, 0.4, 0.5
    assert dkl.n_reached_50 == 1 and dkl.steps_to_50.mean == 4 and dkl.steps_to_50.n == 1
    assert dkl.median_t_decision_s == pytest.approx(0.2)  # policy rows only: 0.1, 0.2, 0.3 (x3 each)
    # AUC = mean recall over steps 1..5: [0,0,.1,.2,.2] -> 0.1, [0,0,.2,.4,.4] -> 0.2, [0,0,.3,.5,.6] -> 0.28
    assert dict(dkl.auc_by_seed) == pytest.approx({0: 0.1, 1: 0.2, 2: 0.28})
    assert dkl.auc_top1.mean == pytest.approx((0.1 + 0.2 + 0.28) / 3) and _inside(dkl.auc_top1, [0.1, 0.2, 0.28])
    # steps to 50 %: only seed 2 got there (step 4): the median over all three runs is beyond the budget
    assert dkl.to_50.n_reached == 1 and dkl.to_50.format() == "> 5 (1/3)"
    assert dkl.to_25.format() == "4 (2/3)"  # 25 %: seed 0 never (0.2), seed 1 at step 4, seed 2 at step 3
    rnd = cells[("dsA", "random")]
    assert rnd.n_reached_50 == 3 and rnd.steps_to_50.mean == pytest.approx(3.0)
    assert _inside(rnd.steps_to_50, [2, 3, 4])
    assert rnd.to_50.format() == "3 (3/3)"
    assert rnd.recall_top1.mean == 1.0 and rnd.recall_top1.half_width == 0.0
    assert rnd.r2.mean == pytest.approx(0.25)
    assert dict(rnd.auc_by_seed) == pytest.approx({0: 0.7, 1: 0.5, 2: 0.3})
    assert cells[("dsB", "random")].steps == 3
    # no coord_gp_ei in this sweep: no paired test
    assert all(c.vs_baseline is None for c in report.cells)

    md = report.results_md.read_text()
    assert "## dsA (5 measurements)" in md and "## dsB (3 measurements)" in md
    assert f"| dkl_ei | logei | dkl | 3 (+1 failed) | {dkl.auc_top1.format()} |" in md
    assert f"| {dkl.recall_top1.format()} | {dkl.recall_top5.format()} |" in md
    assert "| 4 (1/3) |" in md  # mean steps to 50 %: one run of three got there, at step 4
    assert "1 run(s) failed" in md and "RuntimeError" in md
    assert "Ranking by mean AUC: random (0.500) > dkl_ei (0.193)." in md

    with report.results_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 * 5 + 3  # one row per run and step
    assert rows[0]["run"] and set(METRIC_COLUMNS) <= set(rows[0])
    assert [p.name for p in report.plots] == ["discovery_dsA.png", "discovery_dsB.png"]
    assert all(p.stat().st_size > 5_000 for p in report.plots)


def test_paired_wilcoxon_against_a_baseline_in_the_report(sweep: Path) -> None:
    from scipy import stats

    report = write_report(sweep, plots=False, baseline="random")
    dkl = next(c for c in report.cells if c.method == "dkl_ei")
    diffs = [0.1 - 0.7, 0.2 - 0.5, 0.28 - 0.3]  # per seed, dkl_ei minus random
    assert dkl.vs_baseline.n == 3 and dkl.vs_baseline.mean_diff == pytest.approx(np.mean(diffs))
    assert dkl.vs_baseline.p == pytest.approx(stats.wilcoxon(diffs).pvalue) == pytest.approx(0.25)
    assert not dkl.vs_baseline.significant
    md = report.results_md.read_text()
    assert "-0.31, p=0.25 n.s." in md and "| random | random | dkl | 3 | " in md and "| baseline |" in md


def test_random_expectation_is_exact(sweep: Path) -> None:
    from scipy import stats

    from benchmarks.bench.stats import random_expected_auc, random_expected_recall, random_reach_probability

    n_cand, k = 200, 7
    for n in (1, 13, 60):  # E[found] / k of the hypergeometric == n / N for any k
        assert random_expected_recall(n, n_cand) == pytest.approx(stats.hypergeom(n_cand, k, n).mean() / k)
    assert random_expected_auc(60, n_cand) == pytest.approx(61 / 400)
    # Monte Carlo check of P(at least half of the top k within 60 draws)
    rng = np.random.default_rng(0)
    hits = np.array([(rng.permutation(n_cand)[:60] < k).sum() >= 4 for _ in range(20_000)])
    assert random_reach_probability(0.5, 60, n_cand, k) == pytest.approx(hits.mean(), abs=0.01)
    # the report reads the candidate counts from each run's summary.json
    for run in sweep.iterdir():
        if (run / "metrics.csv").exists():
            (run / "summary.json").write_text(json.dumps({"n_candidates": 50, "truth": {"top1_total": 1}}))
    md = write_report(sweep, plots=False).results_md.read_text()
    assert f"Random search (exact): AUC {random_expected_auc(5, 50):.3f}" in md
    assert "| dsA | 5 | 0.060 |" in md  # (5 + 1) / (2 * 50)


def test_an_unfinished_run_is_left_out(sweep: Path) -> None:
    # a run killed at step 3 of 5 (no summary.json) does not count as a finished run with recall 0
    _write_run(sweep / "9_a_dkl_ei_s7", "dsA", "dkl_ei", 7, [0.0] * 3, [0.0] * 3, [1.0] * 3, [0.1] * 3, 0.1)
    report = write_report(sweep, plots=False)
    assert report.n_runs == 7 and next(c for c in report.cells if c.method == "dkl_ei").n_runs == 3
    assert "1 incomplete run(s) left out" in report.results_md.read_text()
    (sweep / "9_a_dkl_ei_s7" / "summary.json").write_text("{}")  # finished early (e.g. a stop): it counts
    assert write_report(sweep, plots=False).n_runs == 8


def test_dataset_facts_flag_an_unreliable_truth(sweep: Path, tmp_path: Path) -> None:
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"datasets": {
        "dsA": {"n_candidates": 50, "reliability": {"spearman": 0.2, "top1_overlap": 0.1, "threshold": 0.3,
                                                   "unreliable": True, "n_top": 1},
                "ceiling": {"r2": 0.15, "fold_r2": [0.1, 0.2]}},
        "dsB": {"n_candidates": 9, "reliability": {"spearman": 0.9, "top1_overlap": 1.0, "threshold": 0.3,
                                                  "unreliable": False, "n_top": 1},
                "ceiling": {"r2": 0.8, "fold_r2": [0.8]}},
    }}))
    md = write_report(sweep, plots=False, facts=facts).results_md.read_text()
    assert "| dsA | 50 | 1 | 0.20 | 0.10 | **truth unreliable: not ranked** | 0.15 | 0.10, 0.20 |" in md
    assert "| dsB | 9 | 1 | 0.90 | 1.00 | reliable | 0.80 | 0.80 |" in md
    assert "**Truth unreliable: not ranked.**" in md and "dsA (truth unreliable: not ranked)" in md
    assert "Ranking by mean AUC" not in md  # dsA is flagged, dsB has one method


def test_auc_and_steps_to_level() -> None:
    from benchmarks.bench.aggregate import auc_of_run, steps_summary, steps_to_level

    rows = [{"step": s, "recall_top1": v} for s, v in [(1, 0.0), (2, 0.0), (3, 0.5), (4, 0.5), (5, 1.0)]]
    assert auc_of_run(rows) == pytest.approx(0.4)
    assert auc_of_run(rows, budget=7) == pytest.approx((0 + 0 + 0.5 + 0.5 + 1 + 1 + 1) / 7)  # carried forward
    assert auc_of_run(rows[::2], budget=5) == pytest.approx((0 + 0 + 0.5 + 0.5 + 1) / 5)  # gaps carried
    assert auc_of_run([{"step": 3, "recall_top1": 1.0}], budget=4) == pytest.approx(0.5)  # 0 before the first row
    assert steps_to_level(rows, 0.5) == 3 and steps_to_level(rows, 0.25) == 3 and steps_to_level(rows[:2], 0.5) is None
    assert steps_summary([3, None, 5, None, 4], 10).format() == "5 (3/5)"
    assert steps_summary([3, None, None], 10).format() == "> 10 (1/3)"
    assert steps_summary([None, None], 10).format() == "never (0/2)"
    assert steps_summary([2, 4], 10).median == 3.0


def test_bootstrap_interval_stays_in_range_and_is_reproducible() -> None:
    from benchmarks.bench.stats import bootstrap_band, bootstrap_interval

    recalls = [0.0, 0.0, 0.0, 0.1, 0.0]  # a t-interval would pass below 0 here
    t = t_interval(recalls)
    assert t.lo < 0.0
    b = bootstrap_interval(recalls)
    assert b.lo >= 0.0 and b.hi <= 0.1 and b.mean == pytest.approx(0.02)
    assert bootstrap_interval(recalls) == b  # fixed seed
    assert bootstrap_interval([1.0, 1.0, 1.0]).half_width == 0.0
    assert bootstrap_interval([0.3]).format() == "0.3" and bootstrap_interval([]).format() == "n/a"
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_interval([1.0, 2.0], confidence=95)
    mat = np.array([[0.0, 0.5, 1.0], [0.0, 0.0, 0.5], [0.0, 0.0, np.nan]])
    mean, lo, hi = bootstrap_band(mat)
    np.testing.assert_allclose(mean, [0.0, 1 / 6, 0.75])
    assert np.all(lo >= 0.0) and np.all(hi <= 1.0) and np.all(lo <= mean + 1e-12) and np.all(hi >= mean - 1e-12)


def test_paired_wilcoxon_edge_cases() -> None:
    from benchmarks.bench.stats import paired_wilcoxon

    up = paired_wilcoxon({s: 0.5 + 0.01 * s for s in range(10)}, {s: 0.1 for s in range(10)})
    assert up.n == 10 and up.p == pytest.approx(2 / 2**10) and up.significant
    assert up.format() == "+0.45, p=0.002"  # mean diff 0.445; exact p = 2 / 2^10
    same = paired_wilcoxon({0: 0.3, 1: 0.4}, {0: 0.3, 1: 0.4})
    assert same.p == 1.0 and same.format() == "+0.00, p=1 n.s."
    only = paired_wilcoxon({0: 0.3, 5: 0.1}, {0: 0.2, 7: 0.9})  # one shared seed: no test
    assert only.n == 1 and math.isnan(only.p) and "no test" in only.format()
    assert paired_wilcoxon({}, {0: 1.0}).format() == "n/a"


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
