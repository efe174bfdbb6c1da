"""Scoring against a known truth (emulator or denoised replay): discovery, regret, map accuracy.

All functions take the truth as ``(n,)`` float64 over the candidate set and measured candidate
indices in the order they were measured. NaN truth values (a reward that failed on a pixel) are
never counted as targets.

:func:`write_metrics_csv` scores a whole run from its record into ``metrics.csv`` (every run
writes one; the benchmark's aggregator reads them).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .record_reader import RunData

__all__ = [
    "top_fraction_mask",
    "recall",
    "recall_curve",
    "simple_regret",
    "regret_curve",
    "r2_score",
    "pearson",
    "steps_to_recall",
    "discovery_auc",
    "METRIC_COLUMNS",
    "metrics_rows",
    "write_metrics_csv",
]


def _oriented(truth: np.ndarray, maximize: bool) -> np.ndarray:
    t = np.asarray(truth, dtype=np.float64)
    return t if maximize else -t


def top_fraction_mask(truth: np.ndarray, fraction: float, maximize: bool = True) -> np.ndarray:
    """(n,) bool: the best ``ceil(fraction * n_finite)`` candidates (at least one).

    Ties at the threshold are all included, so the mask can hold a few more than the count.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction={fraction} must lie in (0, 1]")
    t = _oriented(truth, maximize)
    finite = np.isfinite(t)
    n_top = max(1, int(np.ceil(fraction * finite.sum())))
    if finite.sum() == 0:
        return np.zeros_like(finite)
    threshold = np.sort(t[finite])[::-1][n_top - 1]
    return finite & (t >= threshold)


def recall(measured: np.ndarray, truth: np.ndarray, fraction: float = 0.01,
           maximize: bool = True) -> float:
    """Share of the true top-``fraction`` candidates among the (distinct) measured ones."""
    mask = top_fraction_mask(truth, fraction, maximize)
    idx = np.unique(np.asarray(measured, dtype=np.int64))
    return float(mask[idx].sum() / mask.sum())


def recall_curve(measured: np.ndarray, truth: np.ndarray, fraction: float = 0.01,
                 maximize: bool = True) -> np.ndarray:
    """(m,) recall after each of the ``m`` measurements, in measurement order."""
    mask = top_fraction_mask(truth, fraction, maximize)
    seen = np.zeros_like(mask)
    out = np.empty(len(measured), dtype=np.float64)
    found = 0
    for k, i in enumerate(np.asarray(measured, dtype=np.int64)):
        if mask[i] and not seen[i]:
            found += 1
        seen[i] = True
        out[k] = found / mask.sum()
    return out


def simple_regret(measured: np.ndarray, truth: np.ndarray, maximize: bool = True) -> float:
    """True best value minus the true value of the best measured candidate (>= 0)."""
    t = _oriented(truth, maximize)
    idx = np.asarray(measured, dtype=np.int64)
    if idx.size == 0:
        return float("nan")
    return float(np.nanmax(t) - np.nanmax(t[idx]))


def regret_curve(measured: np.ndarray, truth: np.ndarray, maximize: bool = True) -> np.ndarray:
    """(m,) simple regret after each measurement."""
    t = _oriented(truth, maximize)
    vals = t[np.asarray(measured, dtype=np.int64)]
    vals = np.where(np.isfinite(vals), vals, -np.inf)
    return np.nanmax(t) - np.maximum.accumulate(vals)


def r2_score(pred: np.ndarray, truth: np.ndarray) -> float:
    """Coefficient of determination of ``pred`` against ``truth`` over finite pairs (can be < 0)."""
    p, t = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    ok = np.isfinite(p) & np.isfinite(t)
    ss_tot = np.sum((t[ok] - t[ok].mean()) ** 2)
    if ss_tot == 0:
        return float("nan")
    return float(1.0 - np.sum((t[ok] - p[ok]) ** 2) / ss_tot)


def pearson(pred: np.ndarray, truth: np.ndarray) -> float:
    """Pearson correlation over finite pairs; NaN when either side is constant."""
    p, t = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    ok = np.isfinite(p) & np.isfinite(t)
    p, t = p[ok] - p[ok].mean(), t[ok] - t[ok].mean()
    denom = np.sqrt(np.sum(p * p) * np.sum(t * t))
    return float(np.sum(p * t) / denom) if denom > 0 else float("nan")


def steps_to_recall(measured: np.ndarray, truth: np.ndarray, level: float = 0.5,
                    fraction: float = 0.01, maximize: bool = True) -> int | None:
    """Number of measurements after which recall first reaches ``level``; None if never."""
    curve = recall_curve(measured, truth, fraction, maximize)
    hit = np.nonzero(curve >= level - 1e-12)[0]
    return int(hit[0]) + 1 if hit.size else None


def discovery_auc(measured: np.ndarray, truth: np.ndarray, budget: int | None = None,
                  fraction: float = 0.01, maximize: bool = True) -> float:
    """Area under the discovery curve: mean recall of the true top-``fraction`` over measurements
    1..``budget`` (default: all measured), the last value carried forward past the run's end; in [0, 1].
    The benchmark aggregator's ``auc_of_run`` on a run's ``recall_top1`` column gives the same."""
    curve = recall_curve(measured, truth, fraction, maximize)
    b = int(budget) if budget is not None else curve.size
    if b < 1:
        raise ValueError(f"budget={budget} must be >= 1 measurement")
    if curve.size == 0:
        return 0.0
    padded = np.concatenate([curve[:b], np.full(max(0, b - curve.size), curve[-1])])
    return float(padded.mean())


# ---------------------------------------------------------------------------- metrics.csv of any run
#: Columns of ``metrics.csv``, in order (every run's, and the benchmark's live recorder's).
METRIC_COLUMNS: tuple[str, ...] = (
    "dataset", "method", "policy", "surrogate", "seed", "step", "n_measured", "index", "phase",
    "value", "truth", "recall_top1", "recall_top5", "regret", "r2", "t_decision_s",
)

#: beside ``metrics.csv`` when :func:`write_metrics_csv` wrote it (a benchmark's live file has none)
_FROM_RECORD = ".metrics_from_record"


def _component(config: dict, group: str) -> str:
    node = config.get(group)
    if not isinstance(node, dict):
        return "none"
    return str(node.get("_target_", "")).rsplit(".", 1)[-1].lower() or "custom"


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "nan" if not np.isfinite(value) else repr(value)
    return str(value)


def _scores(measured: np.ndarray, truth: np.ndarray | None, fractions: tuple[float, float],
            maximize: bool) -> dict[str, float]:
    if truth is None or measured.size == 0:
        return {"recall_top1": 0.0, "recall_top5": 0.0, "regret": float("nan")}
    return {"recall_top1": recall(measured, truth, fractions[0], maximize),
            "recall_top5": recall(measured, truth, fractions[1], maximize),
            "regret": simple_regret(measured, truth, maximize)}


def metrics_rows(data: RunData, fractions: tuple[float, float] = (0.01, 0.05)) -> list[dict[str, object]]:
    """One scored row per record row, with the benchmark recorder's columns and definitions.

    From the record alone: ``recall_top1``/``recall_top5``/``regret`` against the record's truth
    (NaN without one); ``r2`` only on the last row, from the final ``mean`` map (the record keeps no
    per-step posterior; the benchmark's live recorder scores every step); ``t_decision_s`` the
    fit + predict + select time. With a vector reward every figure scores the first objective.
    Labels come from the record's config (``seed`` -1 and component ``none`` where it has none).
    """
    cfg = data.config
    experiment = cfg.get("experiment")
    maximize = bool(experiment.get("maximize", True)) if isinstance(experiment, dict) else True
    policy, surrogate = _component(cfg, "policy"), _component(cfg, "surrogate")
    method = policy if surrogate == "none" else f"{policy}+{surrogate}"
    labels = {"dataset": _component(cfg, "driver"), "method": method, "policy": policy,
              "surrogate": surrogate, "seed": int(cfg.get("seed", -1))}  # -1: no config
    truth = None
    if data.truth is not None:
        truth = np.asarray(data.truth, np.float64).reshape(len(data.truth), -1)[:, 0]
    r = data.rows
    finite = np.isfinite(r["reward"])
    measured_all = r["index"][finite].astype(np.int64)
    t_parts = np.stack([r["t_fit_s"], r["t_predict_s"], r["t_select_s"]], axis=1)
    out: list[dict[str, object]] = []
    n_measured = 0
    for k in range(data.n_rows):
        n_measured += int(finite[k])
        measured = measured_all[:n_measured]
        r2 = float("nan")
        if k == data.n_rows - 1 and truth is not None and "mean" in data.maps:
            r2 = r2_score(np.asarray(data.maps["mean"]).reshape(-1), truth)
        parts = t_parts[k]
        out.append({
            **labels,
            "step": int(r["step"][k]) + 1, "n_measured": n_measured, "index": int(r["index"][k]),
            "phase": str(r["phase"][k]), "value": float(r["reward"][k]),
            "truth": float(truth[int(r["index"][k])]) if truth is not None else float("nan"),
            **_scores(measured, truth, fractions, maximize),
            "r2": r2,
            "t_decision_s": float(np.nansum(parts)) if np.isfinite(parts).any() else float("nan"),
        })
    return out


def write_metrics_csv(run_dir: str | Path, data: RunData | None = None) -> Path | None:
    """Write ``run_dir/metrics.csv`` from the record (atomically; rewritten on every call, e.g. after
    a resume). A ``metrics.csv`` this function did not write (a benchmark's live
    ``MetricsRecorder``, which scores R^2 at every step) is left alone: returns None then."""
    from .record_reader import read_run

    run_dir = Path(run_dir)
    path, marker = run_dir / "metrics.csv", run_dir / _FROM_RECORD
    if path.exists() and not marker.exists():
        return None
    rows = metrics_rows(data if data is not None else read_run(run_dir))
    marker.touch()
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(METRIC_COLUMNS)
        for row in rows:
            w.writerow([_fmt(row[c]) for c in METRIC_COLUMNS])
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path
