"""``autoscope-report RUN_DIR [RUN_DIR ...]``: a one-page HTML report of finished runs, from their files.

Every plot is rebuilt from ``record.h5`` (:class:`agent.result.RunResult`): no driver is built, no
model is fitted, torch is not even imported, so a report runs on any machine, offline, after the
instrument is gone. One page per call (``report.html``, images embedded): per run the config, the
stop reason, the best point with its spectrum and the reward's window, the maps on one colour scale
with units, the discovery curve; with several runs (or a multirun folder) a comparison first: a table
of each run's figures, the per-method means and the discovery curves on one plot.

Examples::

    autoscope-report outputs/2026-12-06/10-12-00
    autoscope-report multirun/2026-12-06/10-20-00            # every run below the folder
    autoscope-report RUN_A RUN_B RUN_C --out compare.html
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from . import metrics
from .plots import plot_run
from .record import RecordError
from .result import RunResult
from .summary import summarise

__all__ = ["RunFigures", "find_runs", "run_figures", "write_report", "main"]


class ReportError(RecordError):
    """No run to report on (a folder without ``record.h5`` below it); the message names the fix."""


def find_runs(paths: Sequence[str | Path]) -> list[Path]:
    """Run folders named by ``paths``: a folder holding ``record.h5``, or every such folder below
    one (a multirun); in the order given, each folder's runs sorted by name."""
    runs: list[Path] = []
    for p in map(Path, paths):
        if (p / "record.h5").is_file():
            found = [p]
        elif p.is_dir():
            found = sorted(f.parent for f in p.rglob("record.h5"))
        else:
            raise ReportError(f"{p} does not exist: give a run folder (with record.h5) or a multirun folder")
        if not found:
            raise ReportError(f"{p} holds no record.h5 (not a run, nor a folder of runs); give the folder "
                              f"an `autoscope` run wrote, e.g. outputs/<date>/<time>")
        runs.extend(f for f in found if f not in runs)
    return runs


@dataclass(frozen=True)
class RunFigures:
    """One run's comparison figures (NaN / None where the run has no truth)."""

    name: str
    method: str
    seed: int
    n_measured: int
    budget: int
    best_value: float
    recall_top1: float
    recall_top5: float
    auc_top1: float
    steps_to_50: int | None
    regret: float
    map_r2: float
    curve: np.ndarray  # (m,) recall of the top 1 % after each usable measurement


def run_figures(result: RunResult, summary: dict[str, Any], name: str) -> RunFigures:
    """The comparison figures of one run (from its record)."""
    truth = summary.get("truth") or {}
    budget = int(result.settings.get("steps") or max(result.n_rows, 1))
    scored = result.truth is not None and result.truth.ndim == 1 and result.measured.size > 0
    t = result.truth if scored and result.truth is not None else np.zeros(0)
    curve = metrics.recall_curve(result.measured, t, 0.01, result.maximize) if scored else np.zeros(0)
    surrogate = result.surrogate_name
    return RunFigures(
        name=name, method=result.policy_name + (f" + {surrogate}" if surrogate else ""),
        seed=result.seed, n_measured=int(summary["n_measured"]), budget=budget,
        best_value=_num(summary.get("best_value")),
        recall_top1=_num(truth.get("recall_top1")), recall_top5=_num(truth.get("recall_top5")),
        auc_top1=metrics.discovery_auc(result.measured, t, budget, 0.01, result.maximize) if scored else math.nan,
        steps_to_50=truth.get("steps_to_50pct_top1"), regret=_num(truth.get("simple_regret")),
        map_r2=_num(truth.get("map_r2")), curve=curve)


def _num(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and value is not None else math.nan


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.{digits}g}"
    return html.escape(str(value))


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _run_section(result: RunResult, summary: dict[str, Any], name: str, plot_dir: Path) -> str:
    paths = {p.name: p for p in plot_run(result, plot_dir)}
    best = "no usable measurement"
    if summary.get("best_value") is not None:
        yx = np.asarray(summary["best_yx_m"]) * 1e9
        best = (f"{result.reward.label} = {summary['best_value']:.4g} at candidate {summary['best_index']} "
                f"(y = {yx[0]:.1f} nm, x = {yx[1]:.1f} nm)")
    truth = summary.get("truth") or {}
    facts = [
        ("stop reason", summary.get("stop_reason") or "not stopped (running or killed)"),
        ("measured", f"{summary['n_measured']} usable, {summary['n_failed']} failed, "
                     f"of {summary['n_candidates']} candidates"),
        ("policy / surrogate", f"{summary.get('policy')} / {summary.get('surrogate')}"),
        ("reward", result.reward.label + (f", window(s) {list(result.reward.windows)} "
                                          f"{result.reward.axis_units}" if result.reward.windows else "")),
        ("best", best),
        ("top 1 % found", f"{truth['top1_found']}/{truth['top1_total']} (recall {_fmt(truth.get('recall_top1'))}, "
                          f"random expects {_fmt(truth.get('expected_recall_top1_random'))})" if truth else "-"),
        ("map Pearson r / R^2", f"{_fmt(truth.get('map_pearson'))} / {_fmt(truth.get('map_r2'))}" if truth else "-"),
        ("median decision time", f"{_fmt(summary.get('median_t_decision_s'))} s"),
        ("wall / instrument time",
         f"{_fmt(summary.get('wall_time_s'))} s / {_fmt(summary.get('instrument_time_s'))} s"),
        ("total dose", f"{_fmt(summary.get('total_dose_e'))} e"),
    ]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts)
    order = ("best_spectrum.png", "overview.png", "predicted_mean.png", "truth.png", "uncertainty.png",
             "progress.png", "pareto.png")
    images = "".join(_img(paths[n]) for n in order if n in paths)
    events: dict[str, int] = {}
    for ev in result.events:
        events[str(ev.get("kind"))] = events.get(str(ev.get("kind")), 0) + 1
    config = yaml.safe_dump(result.config, sort_keys=False) if result.config else "(no config recorded)"
    return (f'<section id="{html.escape(name)}"><h2>{html.escape(name)}</h2><table>{rows}</table>'
            f'<div class="plots">{images}</div>'
            f"<p>events: {html.escape(', '.join(f'{k} x{v}' for k, v in sorted(events.items())) or 'none')}</p>"
            f"<details><summary>configuration</summary><pre>{html.escape(config)}</pre></details></section>")


def _comparison(figs: list[RunFigures], n_candidates: int) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    head = ("run", "method", "seed", "measured", "best", "recall top 1 %", "recall top 5 %",
            "discovery AUC (top 1 %)", "steps to 50 % of top 1 %", "simple regret", "map R^2")
    body = "".join(
        "<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in (
            f.name, f.method, f.seed, f.n_measured, f.best_value, f.recall_top1, f.recall_top5,
            f.auc_top1, f.steps_to_50, f.regret, f.map_r2)) + "</tr>" for f in figs)
    methods: dict[str, list[RunFigures]] = {}
    for f in figs:
        methods.setdefault(f.method, []).append(f)
    budget = max(f.budget for f in figs)
    random_auc = (budget + 1) / (2 * n_candidates) if n_candidates else math.nan
    def mean_of(values: list[float]) -> float:
        finite = [v for v in values if np.isfinite(v)]
        return float(np.mean(finite)) if finite else math.nan

    mean_rows = "".join(
        f"<tr><td>{html.escape(m)}</td><td>{len(fs)}</td><td>{_fmt(mean_of([f.auc_top1 for f in fs]))}</td>"
        f"<td>{_fmt(mean_of([f.recall_top1 for f in fs]))}</td>"
        f"<td>{_fmt(mean_of([f.best_value for f in fs]))}</td></tr>" for m, fs in methods.items())
    fig, axis = plt.subplots(figsize=(7, 4.5))
    for k, (m, fs) in enumerate(methods.items()):
        for j, f in enumerate(fs):
            if f.curve.size:
                axis.plot(np.arange(1, f.curve.size + 1), f.curve, color=f"C{k}", alpha=0.8, lw=1.0,
                          label=m if j == 0 else None)
    steps = np.arange(1, budget + 1)
    axis.plot(steps, np.minimum(1.0, steps / max(n_candidates, 1)), "k--", lw=0.8, label="random (expected)")
    axis.set(xlabel="measurement", ylabel="recall of the true top 1 %", title="Discovery, every run",
             ylim=(0, 1.02))
    axis.legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    curves = f'<img alt="discovery" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'
    return (f"<section><h2>Comparison of {len(figs)} runs</h2><table><tr>"
            + "".join(f"<th>{h}</th>" for h in head) + f"</tr>{body}</table>"
            f"<h3>Per method (mean over its runs; random search expects a discovery AUC of "
            f"{_fmt(random_auc)} over {budget} steps)</h3>"
            f"<table><tr><th>method</th><th>runs</th><th>discovery AUC</th><th>recall top 1 %</th>"
            f"<th>best</th></tr>{mean_rows}</table>{curves}</section>")


_STYLE = ("body{font-family:sans-serif;max-width:1400px;margin:auto;padding:1em}"
          "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;"
          "text-align:left;font-size:13px}.plots img{width:32%;min-width:380px;vertical-align:top}"
          "pre{font-size:12px;background:#f6f6f6;padding:.5em}")


def write_report(paths: Sequence[str | Path], out: str | Path | None = None) -> Path:
    """Write the HTML report of the runs named by ``paths`` (see :func:`find_runs`) and return its
    path. ``out``: the ``.html`` file, or a folder to write ``report.html`` into (made if missing);
    default: ``report.html`` in the run folder (one run) or in the common folder of the runs."""
    import tempfile

    runs = find_runs(paths)
    if out is None:
        base = runs[0] if len(runs) == 1 else Path(*_common(runs))
        out = base / "report.html"
    out = Path(out)
    if out.is_dir() or out.suffix.lower() not in (".html", ".htm"):
        out = out / "report.html"
    names = _names(runs)
    sections: list[str] = []
    figs: list[RunFigures] = []
    n_cand = 0
    with tempfile.TemporaryDirectory(prefix="autoscope-report-") as tmp:
        for run, name in zip(runs, names):
            result = RunResult.from_run_dir(run)
            summary = summarise(result)
            n_cand = max(n_cand, result.n_candidates)
            figs.append(run_figures(result, summary, name))
            sections.append(_run_section(result, summary, name, Path(tmp) / f"run{len(sections)}"))
        comparison = _comparison(figs, n_cand) if len(runs) > 1 else ""
    title = f"autoscope report: {names[0]}" if len(runs) == 1 else f"autoscope report: {len(runs)} runs"
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p>rebuilt from the records alone (no instrument, no model fit), "
            f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}</p>{comparison}{''.join(sections)}"
            f"</body></html>")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def _common(runs: list[Path]) -> tuple[str, ...]:
    parts = [r.resolve().parts for r in runs]
    common: list[str] = []
    for level in zip(*parts):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return tuple(common) or (".",)


def _names(runs: list[Path]) -> list[str]:
    """Short unique names: each run's path below the runs' common folder (its own name for one)."""
    if len(runs) == 1:
        return [runs[0].resolve().name]
    root = Path(*_common(runs))
    return [str(r.resolve().relative_to(root)) or r.name for r in runs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autoscope-report", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run folders (with record.h5) or multirun folders")
    parser.add_argument("--out", default=None, help="the .html file to write, or a folder for report.html "
                                                    "(default: report.html in the run folder, or in the runs' "
                                                    "common folder)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    try:
        path = write_report(args.runs, args.out)
    except RecordError as err:
        print(f"autoscope-report: {err}", file=sys.stderr)
        return 3
    print(f"[autoscope-report] {path} ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
