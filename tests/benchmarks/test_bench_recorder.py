"""Per-step scoring (MetricsRecorder) on a fake experiment, settings validation, failure handling."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from omegaconf import OmegaConf

from agent.record import StepRow
from agent.surrogates.protocol import SurrogateBase
from benchmarks.bench import BenchConfigError, BenchSettings, MetricsRecorder, RunLabels, run_benchmark
from benchmarks.bench.recorder import METRIC_COLUMNS
from policies.posterior import Posterior

LABELS = RunLabels("toy", "m", "p", "s", 3)


class CountingSurrogate(SurrogateBase):
    """Predicts the mean of its targets everywhere except the training points (exact there)."""

    input_kind = "coords"

    def __init__(self) -> None:
        self.fits: list[int] = []

    def fit(self, X: np.ndarray, y: np.ndarray) -> CountingSurrogate:
        self.fits.append(len(y))
        self._X, self._y = X, y
        return self

    def posterior(self, X: np.ndarray) -> Posterior:
        mean = np.full(len(X), float(np.mean(self._y)))
        return Posterior(mean=mean, std=np.ones(len(X)))


def _fake_exp(truth: np.ndarray, model_free: bool, steps: int) -> SimpleNamespace:
    n = truth.size
    exp = SimpleNamespace(
        truth=truth,
        candidates=SimpleNamespace(n=n),
        settings=SimpleNamespace(maximize=True, steps=steps),
        state=SimpleNamespace(measured=[], y=[], failed=[]),
        policy=SimpleNamespace(needs_model=not model_free),
        last_posterior=None,
        surrogate=CountingSurrogate(),
    )
    exp.surrogate_inputs = lambda: np.arange(n, dtype=np.float64)[:, None]
    return exp


def _measure(exp: SimpleNamespace, rec: MetricsRecorder, step: int, index: int, value: float,
             phase: str = "policy", t: float = 0.01) -> None:
    if math.isfinite(value):
        exp.state.measured.append(index)
        exp.state.y.append(value)
    else:
        exp.state.failed.append(index)
    row = StepRow(step=step, index=index, phase=phase, yx_px=(0, index), yx_m=(0.0, float(index)),
                  reward=value, t_fit_s=t, t_predict_s=t, t_select_s=t)
    rec(exp, [row])


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_model_based_rows_score_recall_regret_and_the_decision_posterior(tmp_path: Path) -> None:
    truth = np.arange(100, dtype=np.float64)  # top 1 %: {99}; top 5 %: {95..99}
    exp = _fake_exp(truth, model_free=False, steps=4)
    rec = MetricsRecorder(tmp_path / "metrics.csv", LABELS)
    _measure(exp, rec, 0, 10, 10.5, phase="seed", t=float("nan"))
    exp.last_posterior = Posterior(mean=truth + 1.0, std=np.ones(100))  # R^2 = 1 - 100 / var(truth)*100
    _measure(exp, rec, 1, 97, 96.0)
    _measure(exp, rec, 2, 50, float("nan"))  # a failed reward: recall unchanged
    _measure(exp, rec, 3, 99, 99.2)
    rec.close()
    rows = _rows(tmp_path / "metrics.csv")
    assert list(rows[0]) == list(METRIC_COLUMNS)
    assert [r["step"] for r in rows] == ["1", "2", "3", "4"]
    assert [r["n_measured"] for r in rows] == ["1", "2", "2", "3"]
    assert [float(r["recall_top1"]) for r in rows] == [0.0, 0.0, 0.0, 1.0]
    assert [float(r["recall_top5"]) for r in rows] == [0.0, 0.2, 0.2, 0.4]
    assert [float(r["regret"]) for r in rows] == [89.0, 2.0, 2.0, 0.0]
    assert rows[0]["r2"] == "nan" and rows[0]["t_decision_s"] == "nan"
    r2 = 1.0 - 100.0 / np.sum((truth - truth.mean()) ** 2)
    assert float(rows[1]["r2"]) == pytest.approx(r2)
    assert float(rows[1]["t_decision_s"]) == pytest.approx(0.03)
    assert rows[2]["value"] == "nan" and float(rows[2]["truth"]) == 50.0
    assert rows[3]["dataset"] == "toy" and rows[3]["seed"] == "3" and rows[3]["phase"] == "policy"
    assert exp.surrogate.fits == []  # a model-based policy is never refitted by the benchmark


def test_model_free_rows_fit_the_surrogate_every_r2_every_and_at_the_end(tmp_path: Path) -> None:
    truth = np.linspace(0.0, 1.0, 50)
    exp = _fake_exp(truth, model_free=True, steps=7)
    rec = MetricsRecorder(tmp_path / "metrics.csv", LABELS, r2_every=3)
    for k, i in enumerate([5, 10, 15, 20, 25, 30, 49]):
        _measure(exp, rec, k, i, float(truth[i]))
    rec.close()
    rows = _rows(tmp_path / "metrics.csv")
    assert exp.surrogate.fits == [3, 6, 7]  # every 3rd measurement, plus the last one
    finite = [k for k, r in enumerate(rows) if r["r2"] != "nan"]
    assert finite == [2, 5, 6]
    # the fake predicts the mean of the measured targets everywhere -> R^2 = -(bias^2)/var
    y = truth[[5, 10, 15]]
    expected = 1.0 - np.sum((truth - y.mean()) ** 2) / np.sum((truth - truth.mean()) ** 2)
    assert float(rows[2]["r2"]) == pytest.approx(expected)
    assert float(rows[6]["recall_top1"]) == 1.0 and float(rows[6]["regret"]) == 0.0


def test_recorder_refuses_runs_without_truth_and_reused_folders(tmp_path: Path) -> None:
    exp = _fake_exp(np.arange(5.0), model_free=False, steps=2)
    exp.truth = None
    rec = MetricsRecorder(tmp_path / "metrics.csv", LABELS)
    with pytest.raises(BenchConfigError, match="GroundTruth"):
        _measure(exp, rec, 0, 1, 1.0)
    rec.close()
    assert (tmp_path / "metrics.csv").read_text().startswith("dataset,method")
    with pytest.raises(BenchConfigError, match="fresh output folder"):
        MetricsRecorder(tmp_path / "metrics.csv", LABELS)


def test_bench_settings_validation_names_the_field() -> None:
    s = BenchSettings.from_mapping({"dataset": "kpfm", "method": "random"})
    assert (s.r2_every, s.threads, s.fail_fast, s.report) == (5, 1, False, True)
    with pytest.raises(BenchConfigError, match=r"bench\.r2_every=0"):
        BenchSettings.from_mapping({"dataset": "kpfm", "method": "random", "r2_every": 0})
    with pytest.raises(BenchConfigError, match=r"bench\.colour is not a setting"):
        BenchSettings.from_mapping({"dataset": "kpfm", "method": "random", "colour": 1})
    with pytest.raises(BenchConfigError, match=r"bench\.method is not set"):
        BenchSettings.from_mapping({"dataset": "kpfm", "method": "???"})
    with pytest.raises(BenchConfigError, match="`bench` node"):
        BenchSettings.from_mapping(None)


def _broken_cfg(fail_fast: bool):
    return OmegaConf.create({
        "seed": 0,
        "bench": {"dataset": "nowhere", "method": "random", "fail_fast": fail_fast},
        "driver": {"_target_": "drivers.replay.ReplayDriver", "path": "no_such_recording.npz"},
        "reward": {"_target_": "rewards.kpfm.ContactPotential"},
        "policy": {"_target_": "policies.RandomPolicy"},
        "surrogate": None,
        "experiment": {"steps": 3, "n_init": 1, "progress": False, "plots": False},
    })


def test_a_failing_run_writes_failed_json_or_raises_with_fail_fast(tmp_path: Path) -> None:
    out = run_benchmark(_broken_cfg(False), tmp_path / "run")
    assert out["failed"] is True and "no_such_recording" in out["error"]
    info = json.loads((tmp_path / "run" / "failed.json").read_text())
    assert info["labels"]["dataset"] == "nowhere" and info["labels"]["policy"] == "randompolicy"
    assert (tmp_path / "run" / "metrics.csv").read_text().strip() == ",".join(METRIC_COLUMNS)
    with pytest.raises(Exception, match="no_such_recording"):
        run_benchmark(_broken_cfg(True), tmp_path / "run2")
