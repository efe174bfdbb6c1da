"""A run's ``summary.json``: counts, best point, median timings, and the scores against a known truth.

Everything is computed from a :class:`agent.result.RunResult` (the record), never from the loop's
objects: the same summary comes out at the end of a run and from ``autoscope-report`` later.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics
from .result import RunResult

__all__ = ["summarise", "write_summary"]

_TIMINGS = ("t_acquire_s", "t_fit_s", "t_predict_s", "t_select_s")


def _median(values: np.ndarray) -> float | None:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else None


def summarise(result: RunResult) -> dict[str, Any]:
    """The run's summary as a JSON-ready dict (see README, "What a run writes", for every key)."""
    cols = result.columns
    idx, y = result.measured, result.targets
    t = {name: np.asarray(cols[name], dtype=np.float64) for name in _TIMINGS}
    decision = t["t_fit_s"] + t["t_predict_s"] + t["t_select_s"]
    dose = np.asarray(cols["dose_e"], dtype=np.float64)
    out: dict[str, Any] = {
        "n_measured": int(idx.size),
        "n_failed": result.n_failed,
        "n_candidates": result.n_candidates,
        "stop_reason": result.stop_reason,
        "maximize": result.maximize,
        "best_value": None,
        "best_index": None,
        "best_yx_m": None,
        **{f"median_{name}": _median(t[name]) for name in _TIMINGS},
        "median_t_decision_s": _median(decision),
        "wall_time_s": result.wall_time_s,
        "instrument_time_s": _instrument_time(result),
        "total_dose_e": float(np.nansum(dose)) if dose.size else 0.0,
        "n_degenerate_steps": result.n_degenerate,
        "policy": result.policy_name,
        "surrogate": result.surrogate_name,
        "seed": result.seed,
        "reward": {"name": result.reward.name, "units": result.reward.units},
    }
    if y.ndim == 2:
        out["objectives"] = _objectives_summary(result, idx, y)
        return out
    row = result.best_row
    if row is not None:
        best = int(cols["index"][row])
        out.update(best_value=float(cols["reward"][row]), best_index=best,
                   best_yx_m=[float(v) for v in result.candidate_yx_m[best]])
    truth, maximize = result.truth, result.maximize
    if truth is not None and truth.ndim == 1 and idx.size:
        top1 = metrics.top_fraction_mask(truth, 0.01, maximize)
        out["truth"] = {
            "top1_total": int(top1.sum()),
            "top1_found": int(top1[np.unique(idx)].sum()),
            "recall_top1": metrics.recall(idx, truth, 0.01, maximize),
            "recall_top5": metrics.recall(idx, truth, 0.05, maximize),
            "expected_recall_top1_random": float(min(1.0, idx.size / result.n_candidates)),
            "simple_regret": metrics.simple_regret(idx, truth, maximize),
            "steps_to_50pct_top1": metrics.steps_to_recall(idx, truth, 0.5, 0.01, maximize),
        }
        mean = result.per_candidate("mean")
        if mean is not None and mean.ndim == 1:
            out["truth"]["map_pearson"] = metrics.pearson(mean, truth)
            out["truth"]["map_r2"] = metrics.r2_score(mean, truth)
    return out


def _objectives_summary(result: RunResult, idx: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Pareto set and hypervolume of a vector-reward run (two objectives for the volumes)."""
    from policies.pareto import default_reference, hypervolume_2d, pareto_mask

    sign = 1.0 if result.maximize else -1.0
    front = pareto_mask(sign * y)
    out: dict[str, Any] = {"k": int(y.shape[1]), "pareto_indices": [int(i) for i in idx[front]],
                           "pareto_values": y[front].tolist()}
    truth = result.truth
    if y.shape[1] == 2:
        ok = truth is not None and truth.ndim == 2 and bool(np.isfinite(truth).all(axis=1).any())
        ref = default_reference(sign * (truth if ok and truth is not None else y))
        out["reference_point"] = (sign * ref).tolist()
        out["hypervolume"] = hypervolume_2d(sign * y, ref)
        if ok and truth is not None:
            out["hypervolume_truth_of_measured"] = hypervolume_2d(sign * truth[idx], ref)
            out["hypervolume_truth_all"] = hypervolume_2d(sign * truth, ref)
            out["hypervolume_ratio"] = out["hypervolume_truth_of_measured"] / out["hypervolume_truth_all"]
    return out


def _last_finite(values: np.ndarray) -> float | None:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v[-1]) if v.size else None


def _instrument_time(result: RunResult) -> float | None:
    """Instrument clock from the start of the run (the first overview) to the last measurement.

    Drivers stamp frames with their own clock: an emulator's counts from its construction, Nion
    Swift's and the remote servers' are epoch seconds (a raw last stamp read ``1.8e9 s``)."""
    last = _last_finite(result.columns["clock_s"])
    if last is None:
        return None
    meta = dict(result.overview.metadata)
    for key in ("start_time_s", "time_s"):
        try:
            origin = float(meta.get(key))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if np.isfinite(origin) and origin <= last:
            return last - origin
    return last


def write_summary(result: RunResult, out_dir: str | Path) -> dict[str, Any]:
    """Write ``summary.json`` into ``out_dir`` and return it."""
    summary = summarise(result)
    Path(out_dir, "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    return summary
