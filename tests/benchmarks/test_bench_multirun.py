"""A small ``autoscope-bench --multirun`` completes and its end-of-sweep report is written.

Runs ``python -m benchmarks.bench.app`` (the ``autoscope-bench`` entry point) in a subprocess on the
smallest recorded set with 6 measurements per run; skipped when the recorded data is absent. The
jobs run on Hydra's basic (in-process) launcher: two loky workers each importing torch and botorch
cost 30-40 s more on the shared 2-core machine; the joblib launcher config is checked by
composition in test_bench_configs.py and ran the full benchmark.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("AUTOSCOPE_DATA_DIR", REPO / ".." / "shared" / "data"))
KPFM = "nanonis_kpfm_grid_20x20.npz"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_small_multirun_completes_and_writes_the_report(tmp_path: Path) -> None:
    if not (DATA / KPFM).is_file():
        pytest.skip(f"recorded data {DATA / KPFM} not present")
    sweep = tmp_path / "sweep"
    env = dict(os.environ, AUTOSCOPE_DATA_DIR=str(DATA), OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    cmd = [
        sys.executable, "-m", "benchmarks.bench.app", "--multirun",
        "dataset=kpfm", "method=random,dkl_ei", "seed=1",
        "experiment.steps=6", "experiment.n_init=3", "bench.r2_every=2",
        "surrogate.n_iter_init=40", "surrogate.n_iter_warm=10",  # a tiny, quick DKL
        f"hydra.sweep.dir={sweep}", "hydra/launcher=basic",
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=170)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = sorted(p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert [p.name for p in runs] == ["0_kpfm_random_s1", "1_kpfm_dkl_ei_s1"]
    for run in runs:
        assert not (run / "failed.json").exists(), (run / "failed.json").read_text()
        for name in ("config.yaml", "record.h5", "journal.jsonl", "summary.json", "metrics.csv"):
            assert (run / name).is_file(), f"{run.name} lacks {name}"
        rows = _rows(run / "metrics.csv")
        assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
        assert {r["dataset"] for r in rows} == {"kpfm"} and {r["seed"] for r in rows} == {"1"}
        rec1 = [float(r["recall_top1"]) for r in rows]
        regret = [float(r["regret"]) for r in rows]
        assert all(0.0 <= v <= 1.0 for v in rec1) and rec1 == sorted(rec1)
        assert all(v >= 0.0 for v in regret) and regret == sorted(regret, reverse=True)
        assert all(math.isfinite(float(r["truth"])) for r in rows)
        r2 = [float(r["r2"]) for r in rows]
        if run.name.endswith("random_s1"):
            assert {r["policy"] for r in rows} == {"random"} and {r["surrogate"] for r in rows} == {"dkl"}
            # model-free: scoring fits at 2, 4 and 6 measurements only
            assert [k for k, v in enumerate(r2) if math.isfinite(v)] == [1, 3, 5]
            assert all(r["t_decision_s"] == "nan" or float(r["t_decision_s"]) < 0.5 for r in rows)
        else:
            assert {r["policy"] for r in rows} == {"logei"}
            assert all(math.isnan(v) for v in r2[:3])  # the seed design has no model
            assert all(math.isfinite(v) for v in r2[3:])  # the posterior of every decision
            assert all(float(r["t_decision_s"]) > 0 for r in rows[3:])
    md = (sweep / "results.md").read_text()
    assert "## kpfm (6 measurements)" in md and "| random | random | dkl | 1 |" in md
    assert "| dkl_ei | logei | dkl | 1 |" in md
    assert len(_rows(sweep / "results.csv")) == 12
    assert (sweep / "discovery_kpfm.png").stat().st_size > 5_000
