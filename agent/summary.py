"""End of a run: final maps, ``summary.json`` and the plots."""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from . import metrics

if TYPE_CHECKING:
    from .loop import Experiment

__all__ = ["finish_run", "summarise"]

log = logging.getLogger(__name__)


def _median(values: np.ndarray) -> float | None:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else None


def final_posterior(exp: "Experiment"):
    """Refit on every target and predict over all candidates (for maps and scoring)."""
    if exp.surrogate is None or len(exp.state.y) < 2:
        return None
    from policies.posterior import MultiPosterior

    X = exp.surrogate_inputs()
    idx = np.asarray(exp.state.measured, dtype=np.int64)
    y = exp.targets()
    marginals = []
    for j, model in enumerate(exp.models()):
        model.fit(X[idx], y if y.ndim == 1 else y[:, j])
        marginals.append(model.posterior(X))
    return marginals[0] if len(marginals) == 1 else MultiPosterior(tuple(marginals))


def summarise(exp: "Experiment", posterior=None) -> dict[str, Any]:
    """The run's summary as a JSON-ready dict (see README for every key)."""
    rec = exp.record
    assert rec is not None and exp.candidates is not None
    s = exp.settings
    idx = np.asarray(exp.state.measured, dtype=np.int64)
    y = exp.targets()
    t = {name: rec.column(name) for name in ("t_acquire_s", "t_fit_s", "t_predict_s", "t_select_s")}
    decision = t["t_fit_s"] + t["t_predict_s"] + t["t_select_s"]
    out: dict[str, Any] = {
        "n_measured": int(idx.size),
        "n_failed": len(exp.state.failed),
        "n_candidates": exp.candidates.n,
        "stop_reason": exp.state.stop_reason,
        "maximize": s.maximize,
        "best_value": None,
        "best_index": None,
        "best_yx_m": None,
        "median_t_acquire_s": _median(t["t_acquire_s"]),
        "median_t_fit_s": _median(t["t_fit_s"]),
        "median_t_predict_s": _median(t["t_predict_s"]),
        "median_t_select_s": _median(t["t_select_s"]),
        "median_t_decision_s": _median(decision),
        "wall_time_s": time.perf_counter() - exp._t_start,
        "instrument_time_s": _instrument_time(exp, rec.column("clock_s")),
        "total_dose_e": float(np.nansum(rec.column("dose_e"))) if len(rec) else 0.0,
        "n_degenerate_steps": exp.state.n_degenerate,
        "policy": type(exp.policy).__name__,
        "surrogate": type(exp.surrogate).__name__ if exp.surrogate is not None else None,
        "seed": exp.seed,
    }
    if y.ndim == 2:
        out["objectives"] = _objectives_summary(exp, idx, y, posterior)
        return out
    if idx.size:
        k = int(np.argmax(y) if s.maximize else np.argmin(y))
        out.update(best_value=float(y[k]), best_index=int(idx[k]),
                   best_yx_m=[float(v) for v in exp.candidates.yx_m[idx[k]]])
    truth = exp.truth
    if truth is not None and idx.size:
        top1 = metrics.top_fraction_mask(truth, 0.01, s.maximize)
        out["truth"] = {
            "top1_total": int(top1.sum()),
            "top1_found": int(top1[np.unique(idx)].sum()),
            "recall_top1": metrics.recall(idx, truth, 0.01, s.maximize),
            "recall_top5": metrics.recall(idx, truth, 0.05, s.maximize),
            "expected_recall_top1_random": float(min(1.0, idx.size / exp.candidates.n)),
            "simple_regret": metrics.simple_regret(idx, truth, s.maximize),
            "steps_to_50pct_top1": metrics.steps_to_recall(idx, truth, 0.5, 0.01, s.maximize),
        }
        if posterior is not None:
            out["truth"]["map_pearson"] = metrics.pearson(posterior.mean, truth)
            out["truth"]["map_r2"] = metrics.r2_score(posterior.mean, truth)
    return out


def _objectives_summary(exp: "Experiment", idx: np.ndarray, y: np.ndarray, posterior) -> dict[str, Any]:
    """Pareto set and hypervolume of a vector-reward run (two objectives for the volumes)."""
    from policies.pareto import default_reference, hypervolume_2d, pareto_mask

    sign = 1.0 if exp.settings.maximize else -1.0
    front = pareto_mask(sign * y)
    out: dict[str, Any] = {"k": int(y.shape[1]), "pareto_indices": [int(i) for i in idx[front]],
                           "pareto_values": y[front].tolist()}
    truth = exp.truth
    if y.shape[1] == 2:
        ok = truth is not None and truth.ndim == 2 and np.isfinite(truth).all(axis=1).any()
        ref = default_reference(sign * (truth if ok else y))
        out["reference_point"] = (sign * ref).tolist()
        out["hypervolume"] = hypervolume_2d(sign * y, ref)
        if ok:
            measured_truth = truth[idx]
            out["hypervolume_truth_of_measured"] = hypervolume_2d(sign * measured_truth, ref)
            out["hypervolume_truth_all"] = hypervolume_2d(sign * truth, ref)
            out["hypervolume_ratio"] = out["hypervolume_truth_of_measured"] / out["hypervolume_truth_all"]
    return out


def _last_finite(values: np.ndarray) -> float | None:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v[-1]) if v.size else None


def _instrument_time(exp: "Experiment", clock_s: np.ndarray) -> float | None:
    """Instrument clock from the start of the run (the first overview) to the last measurement.

    Drivers stamp frames with their own clock: an emulator's counts from its construction, Nion
    Swift's and the remote servers' are epoch seconds (a raw last stamp read ``1.8e9 s``)."""
    last = _last_finite(clock_s)
    if last is None:
        return None
    meta = dict(exp.overview.metadata) if exp.overview is not None else {}
    for key in ("start_time_s", "time_s"):
        try:
            origin = float(meta.get(key))
        except (TypeError, ValueError):
            continue
        if np.isfinite(origin) and origin <= last:
            return last - origin
    return last


def finish_run(exp: "Experiment") -> dict[str, Any]:
    """Write the final maps, ``summary.json`` and (if enabled) the plots; return the summary."""
    rec = exp.record
    assert rec is not None and exp.candidates is not None
    posterior = None
    try:
        posterior = final_posterior(exp)
    except Exception as err:  # noqa: BLE001 - the run's data is safe; report and carry on
        log.error("final fit failed (%s); summary without maps", err)
        rec.event("final_fit_failed", message=repr(err))
    if posterior is not None:
        rec.write_maps(mean=exp.candidates.as_map(posterior.mean), std=exp.candidates.as_map(posterior.std))
    posterior_1 = posterior.marginals[0] if hasattr(posterior, "marginals") else posterior
    summary = summarise(exp, posterior)
    (exp.out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    if exp.settings.plots:
        from .plots import plot_run

        try:
            plot_run(exp, posterior_1, exp.out_dir / "plots")
        except Exception as err:  # noqa: BLE001 - a plot must never cost the run its summary
            log.error("plotting failed: %s", err)
            rec.event("plot_failed", message=repr(err))
    return summary
