"""Smoke test of the latency benchmark on tiny sizes, plus its helpers (grids, statistics)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # the benchmarks folder is not an installed package
    sys.path.insert(0, str(REPO))

from benchmarks import latency  # noqa: E402
from benchmarks._common import (  # noqa: E402
    BenchDataError,
    grid_for,
    make_bench_data,
    pearson,
    r2_score,
    slope_per_step,
)

torch.set_num_threads(1)


def _gpax_importable() -> bool:
    try:
        import gpax  # noqa: F401
    except Exception:  # noqa: BLE001 - any failure means the gpax parts cannot run here
        return False
    return True


def test_grids_give_exactly_the_benchmark_candidate_counts() -> None:
    assert grid_for(57) == (4, 15) and grid_for(127) == (2, 1) and grid_for(256) == (1, 0)
    for side in (57, 12):
        data = make_bench_data(side, source="synthetic", seed=1)
        assert data.n == side * side and data.candidates.grid_shape == (side, side)
    with pytest.raises(BenchDataError, match="n_side"):
        grid_for(300)


def test_statistics_helpers() -> None:
    t = np.array([0.0, 1.0, 2.0, 3.0])
    assert r2_score(t, t) == 1.0 and r2_score(t, np.full(4, 1.5)) == 0.0
    assert pearson(t, 2 * t + 1) == pytest.approx(1.0)
    assert slope_per_step([5.0, 7.0, 9.0, 11.0]) == pytest.approx(2.0)
    assert np.isnan(slope_per_step([1.0]))


def test_bench_data_is_normalised_and_measurements_are_noisy() -> None:
    data = make_bench_data(12, source="synthetic", seed=2, noise_std=0.05)
    assert data.truth.min() == 0.0 and data.truth.max() == 1.0
    y = data.measure(np.arange(data.n), np.random.default_rng(0))
    assert 0.03 < np.std(y - data.truth) < 0.07
    mm = data.patches_minmax()
    assert mm.shape == data.patches.shape and mm.min() == 0.0 and mm.max() == 1.0


def test_quick_mode_on_tiny_sizes_writes_the_documented_json(tmp_path: Path) -> None:
    out = tmp_path / "latency.json"
    rc = latency.main(["--quick", "--sizes", "10", "--train", "8,12", "--repeats", "2", "--long-steps", "3",
                       "--no-reference", "--no-gpax-vidkl", "--out", str(out)])
    assert rc == 0
    res = json.loads(out.read_text())
    assert set(latency.RESULT_KEYS) <= set(res)
    assert res["meta"]["quick"] is True and res["meta"]["threads"]["torch_threads"] == 1
    assert [s["n_candidates"] for s in res["sizes"]] == [100]
    rows = res["autoscope"]
    assert [(r["n_candidates"], r["n_train"]) for r in rows] == [(100, 8), (100, 12)]
    for row in rows:
        assert set(latency.ENTRY_KEYS) <= set(row)
        # refit_every=5 (the shipped default): 2 repeats x a cycle of 5 decisions on n-4..n points
        assert row["refit_every"] == 5
        assert len(row["fit_s"]) == 10 and all(v > 0 for v in row["total_s"])
        med, mean = row["median"], row["mean"]
        assert med["total_s"] == pytest.approx(np.median(row["total_s"]))
        assert mean["total_s"] == pytest.approx(np.mean(row["total_s"]))
        assert med["total_s"] >= med["fit_s"]
        assert row["from_scratch"] == [False] * 10  # the timed refits are warm starts
        # exactly one optimising refit per cycle (the last), conditioning only before it
        assert row["iterations"] == [0, 0, 0, 0, 50] * 2
    long_run = res["memory"]["autoscope_long_run"]
    assert long_run["steps"] == 3 and len(long_run["rss_mb"]) == 3
    assert res["memory"]["autoscope_peak_rss_mb"] > 0
    assert res["reference"] == [] and res["gpax_vidkl"] == [] and res["ratios"] == []
    assert res["targets"]["peak_lt_2gb"] in (True, False)
    assert res["targets"]["speedup_3249x200"] is None  # not measured at these sizes


@pytest.mark.slow
@pytest.mark.skipif(not _gpax_importable(), reason="gpax 0.1.9 (jax 0.9.2, numpyro 0.20.0) is not importable")
def test_tiny_run_with_the_reference(tmp_path: Path) -> None:
    out = tmp_path / "latency.json"
    rc = latency.main(["--quick", "--sizes", "10", "--train", "8", "--repeats", "1", "--long-steps", "0",
                       "--no-gpax-vidkl", "--reference-sizes", "10", "--reference-train", "8",
                       "--reference-growth-steps", "1", "--reference-x32", "--out", str(out)])
    assert rc == 0
    res = json.loads(out.read_text())
    (ref,) = res["reference"]
    assert set(latency.ENTRY_KEYS) <= set(ref) and ref["x64"] is False
    assert "latent_spread" in ref and len(ref["lengthscale"]) == 2
    (ratio,) = res["ratios"]
    assert ratio["reference_over_autoscope"] == pytest.approx(
        ref["median"]["total_s"] / res["autoscope"][0]["mean"]["total_s"])
    assert ratio["r2_reference"] == ref["r2"] and res["gpax_vidkl"] == []
    growth = res["memory"]["reference_growth"]
    assert len(growth["no_clear"]["rss_mb"]) == 1 and len(growth["clear_caches"]["rss_mb"]) == 1
    assert res["meta"]["reference_first_call_s"] > 0
