"""``autoscope-bench-report MULTIRUN_DIR``: aggregate a benchmark sweep into tables and plots.

Reads every ``metrics.csv`` below the folder (one per run, see :mod:`.recorder`) and writes, in the
folder (or ``--out``):

* ``results.csv``: every run's rows (one per run and step) with a ``run`` column (the run folder);
* ``results.md``: per dataset, per method, the mean and 95 % Student-t interval over seeds of the
  final recall of the true top-1 % and top-5 %, the final simple regret, the final R^2 (the last
  finite value of the run), the number of measurements to reach 50 % top-1 % recall (over the runs
  that reached it; the cell says how many did), and the median decision time (fit + predict +
  select, pooled over every policy decision of every seed);
* ``discovery_<dataset>.png``: recall vs measurement per method, mean with a 95 % band.

Runs that failed (``failed.json``, see :mod:`.runner`) are counted per method.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .errors import MetricsFormatError, NoMetricsFound
from .plots import Curve, plot_discovery
from .recorder import METRIC_COLUMNS
from .stats import Interval, t_interval

__all__ = [
    "METHOD_ORDER",
    "CellSummary",
    "RunFinal",
    "Report",
    "curves",
    "final_of_run",
    "find_failed",
    "load_results",
    "main",
    "read_metrics",
    "render_markdown",
    "summarise_cells",
    "write_report",
    "write_results_csv",
]

#: Methods in the order tables and legends list them (others follow alphabetically).
METHOD_ORDER: tuple[str, ...] = ("random", "raster", "coord_gp_ei", "dkl_ei", "dkl_ucb")

_INT_COLUMNS = {"seed", "step", "n_measured", "index"}
_STR_COLUMNS = {"dataset", "method", "policy", "surrogate", "phase"}
_REQUIRED = ("dataset", "method", "seed", "step", "recall_top1", "recall_top5", "regret", "r2")
_LEVEL = 0.5  # recall level of the "steps to" column


# ---------------------------------------------------------------------------------- reading
def _parse(value: str, column: str, where: str) -> Any:
    if column in _STR_COLUMNS:
        return value
    if column not in METRIC_COLUMNS:  # a column added later: a number if it reads as one
        try:
            return float(value)
        except ValueError:
            return value
    try:
        if column in _INT_COLUMNS:
            return int(value)
        return float(value) if value not in ("", "None") else math.nan
    except ValueError as err:
        raise MetricsFormatError(f"{where}: column {column!r} holds {value!r}, not a number") from err


def read_metrics(path: str | Path, run: str | None = None) -> list[dict[str, Any]]:
    """Rows of one ``metrics.csv`` with typed values and a ``run`` label (default: its folder name).

    Raises:
        MetricsFormatError: a required column is missing or a number does not parse.
    """
    path = Path(path)
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in _REQUIRED if c not in header]
        if missing:
            raise MetricsFormatError(
                f"{path}: missing column(s) {missing}; a metrics.csv holds {', '.join(METRIC_COLUMNS)}"
            )
        rows = []
        for k, raw in enumerate(reader, start=2):
            row = {c: _parse(v, c, f"{path}:{k}") for c, v in raw.items() if c is not None}
            row["run"] = run if run is not None else path.parent.name
            rows.append(row)
    return rows


def _metric_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("metrics.csv") if p.is_file())


def load_results(root: str | Path) -> list[dict[str, Any]]:
    """Every row of every ``metrics.csv`` below ``root``; ``run`` is the run folder relative to root.

    Raises:
        NoMetricsFound: no ``metrics.csv`` below ``root``.
    """
    root = Path(root)
    if not root.is_dir():
        raise NoMetricsFound(f"{root} is not a folder; give the sweep folder (hydra.sweep.dir)")
    files = _metric_files(root)
    if not files:
        raise NoMetricsFound(
            f"no metrics.csv below {root}; give the sweep folder of `autoscope-bench --multirun` "
            f"(hydra.sweep.dir), whose run folders hold metrics.csv"
        )
    rows: list[dict[str, Any]] = []
    for path in files:
        rows.extend(read_metrics(path, run=str(path.parent.relative_to(root))))
    return rows


def find_failed(root: str | Path) -> list[dict[str, Any]]:
    """The labels and error of every ``failed.json`` below ``root`` (runs that raised)."""
    out = []
    for path in sorted(Path(root).rglob("failed.json")):
        try:
            info = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            info = {}
        labels = dict(info.get("labels") or {})
        labels.update(error=info.get("error", "unknown"), run=str(path.parent.relative_to(root)))
        out.append(labels)
    return out


def write_results_csv(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """``results.csv``: the rows with ``run`` first, then the metrics columns (extra ones last)."""
    path = Path(path)
    columns = ["run", *METRIC_COLUMNS]
    extra = sorted({c for r in rows for c in r} - set(columns))
    columns += extra
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for r in rows:
            writer.writerow(["nan" if isinstance(r.get(c), float) and math.isnan(r[c]) else r.get(c, "")
                             for c in columns])
    return path


# ---------------------------------------------------------------------------------- per run
@dataclass(frozen=True)
class RunFinal:
    """One run's final figures (the row with the largest step; R^2 the last finite one)."""

    run: str
    dataset: str
    method: str
    policy: str
    surrogate: str
    seed: int
    steps: int
    recall_top1: float
    recall_top5: float
    regret: float
    r2: float
    steps_to_50: int | None
    t_decisions_s: tuple[float, ...] = field(default=(), repr=False)


def _group_runs(rows: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        runs.setdefault(r["run"], []).append(r)
    for rs in runs.values():
        rs.sort(key=lambda r: r["step"])
    return runs


def final_of_run(rows: Sequence[dict[str, Any]]) -> RunFinal:
    """Final figures of one run's rows (sorted by step or not)."""
    rs = sorted(rows, key=lambda r: r["step"])
    last = rs[-1]
    r2 = [r["r2"] for r in rs if isinstance(r.get("r2"), float) and math.isfinite(r["r2"])]
    reached = [r["step"] for r in rs if r["recall_top1"] >= _LEVEL - 1e-12]
    times = tuple(float(r["t_decision_s"]) for r in rs
                  if r.get("phase", "policy") == "policy" and math.isfinite(r.get("t_decision_s", math.nan)))
    return RunFinal(
        run=str(last["run"]),
        dataset=str(last["dataset"]),
        method=str(last["method"]),
        policy=str(last.get("policy", "")),
        surrogate=str(last.get("surrogate", "")),
        seed=int(last["seed"]),
        steps=int(last["step"]),
        recall_top1=float(last["recall_top1"]),
        recall_top5=float(last["recall_top5"]),
        regret=float(last["regret"]),
        r2=r2[-1] if r2 else math.nan,
        steps_to_50=int(reached[0]) if reached else None,
        t_decisions_s=times,
    )


# ---------------------------------------------------------------------------------- per cell
@dataclass(frozen=True)
class CellSummary:
    """One (dataset, method) cell: intervals over seeds of the final figures."""

    dataset: str
    method: str
    policy: str
    surrogate: str
    n_runs: int
    steps: int
    recall_top1: Interval
    recall_top5: Interval
    regret: Interval
    r2: Interval
    steps_to_50: Interval
    n_reached_50: int
    median_t_decision_s: float
    n_failed: int = 0


def _method_key(method: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), method)


def summarise_cells(finals: Sequence[RunFinal], failed: Sequence[dict[str, Any]] = (),
                    confidence: float = 0.95) -> list[CellSummary]:
    """One :class:`CellSummary` per (dataset, method, policy, surrogate), datasets alphabetical,
    methods in :data:`METHOD_ORDER` (a method swept over several policies or surrogates, e.g.
    ``method=dkl_ei policy=logei,ucb``, gets one cell per pair)."""
    cells: dict[tuple[str, str, str, str], list[RunFinal]] = {}
    for f in finals:
        cells.setdefault((f.dataset, f.method, f.policy, f.surrogate), []).append(f)
    n_failed: dict[tuple[str, str, str, str], int] = {}
    for info in failed:
        key = tuple(str(info.get(k, "?")) for k in ("dataset", "method", "policy", "surrogate"))
        n_failed[key] = n_failed.get(key, 0) + 1  # type: ignore[index]
    out = []
    for key in sorted(set(cells) | set(n_failed), key=lambda k: (k[0], _method_key(k[1]), k[2], k[3])):
        fs = cells.get(key, [])
        times = np.asarray([t for f in fs for t in f.t_decisions_s], dtype=np.float64)
        reached = [f.steps_to_50 for f in fs if f.steps_to_50 is not None]
        out.append(CellSummary(
            dataset=key[0],
            method=key[1],
            policy=key[2],
            surrogate=key[3],
            n_runs=len(fs),
            steps=max((f.steps for f in fs), default=0),
            recall_top1=t_interval([f.recall_top1 for f in fs], confidence),
            recall_top5=t_interval([f.recall_top5 for f in fs], confidence),
            regret=t_interval([f.regret for f in fs], confidence),
            r2=t_interval([f.r2 for f in fs], confidence),
            steps_to_50=t_interval(reached, confidence),
            n_reached_50=len(reached),
            median_t_decision_s=float(np.median(times)) if times.size else math.nan,
            n_failed=n_failed.get(key, 0),
        ))
    return out


def _fmt_time(t: float) -> str:
    if not math.isfinite(t):
        return "n/a"
    return f"{t * 1e3:.2g} ms" if t < 0.1 else f"{t:.3g} s"


def render_markdown(cells: Sequence[CellSummary], source: str = "", notes: Sequence[str] = ()) -> str:
    """``results.md`` text: a legend, then one table per dataset."""
    lines = ["# autoscope offline benchmark", ""]
    if source:
        lines += [f"Source: `{source}`; generated {_dt.datetime.now().isoformat(timespec='seconds')}.", ""]
    lines += [
        "Each cell: mean [95 % Student-t interval] over seeds of the value after the last measurement. "
        "Recall: share of the true top-1 % / top-5 % candidates measured (truth = the reward on the "
        "denoised data). Regret: true best minus the true value of the best measured candidate "
        "(reward units). R^2: the surrogate's map against the truth over every candidate (for "
        "random/raster the benchmark's surrogate fitted on their points, see README). Steps to 50 %: "
        "measurements until half of the top-1 % was found, over the runs that got there (k/n). "
        "Decision: median fit + predict + select time per decision. The intervals are symmetric "
        "t-intervals and can pass 0 or 1 with few seeds.",
        "",
    ]
    for note in notes:
        lines += [note, ""]
    for dataset in dict.fromkeys(c.dataset for c in cells):
        rows = [c for c in cells if c.dataset == dataset]
        steps = max(c.steps for c in rows)
        lines += [f"## {dataset} ({steps} measurements)", "",
                  "| method | policy | surrogate | runs | recall top-1 % | recall top-5 % | simple regret "
                  "| R^2 | steps to 50 % top-1 | decision |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for c in rows:
            runs = f"{c.n_runs}" + (f" (+{c.n_failed} failed)" if c.n_failed else "")
            reach = (f"{c.steps_to_50.format()} ({c.n_reached_50}/{c.n_runs})" if c.n_reached_50
                     else f"never (0/{c.n_runs})")
            lines.append(
                f"| {c.method} | {c.policy} | {c.surrogate} | {runs} | {c.recall_top1.format()} | "
                f"{c.recall_top5.format()} | {c.regret.format()} | {c.r2.format()} | {reach} | "
                f"{_fmt_time(c.median_t_decision_s)} |"
            )
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- curves
def _labels(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str, str, str], str]:
    """Legend label of each (dataset, method, policy, surrogate): the method, or
    ``method:policy/surrogate`` where a method ran with several pairs on one dataset."""
    combos: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for r in rows:
        combos.setdefault((str(r["dataset"]), str(r["method"])), set()).add(
            (str(r.get("policy", "")), str(r.get("surrogate", ""))))
    out = {}
    for (dataset, method), pairs in combos.items():
        for policy, surrogate in pairs:
            label = method if len(pairs) == 1 else f"{method}:{policy}/{surrogate}"
            out[(dataset, method, policy, surrogate)] = label
    return out


def curves(rows: Sequence[dict[str, Any]], column: str = "recall_top1") -> dict[str, dict[str, Curve]]:
    """``{dataset: {label: (steps (m,), values (n_runs, m))}}`` of ``column`` vs step.

    The label is the method (``method:policy/surrogate`` where one method ran with several pairs).
    Each run's value is carried forward between its rows (steps it skipped) and is NaN after its
    last step, so runs of different lengths share one step axis.
    """
    labels = _labels(rows)
    out: dict[str, dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]]] = {}
    for rs in _group_runs(rows).values():
        steps = np.asarray([r["step"] for r in rs], dtype=np.int64)
        vals = np.asarray([r[column] for r in rs], dtype=np.float64)
        first = rs[0]
        key = (str(first["dataset"]), str(first["method"]), str(first.get("policy", "")),
               str(first.get("surrogate", "")))
        out.setdefault(key[0], {}).setdefault((key[1], labels[key]), []).append((steps, vals))
    result: dict[str, dict[str, Curve]] = {}
    for dataset in sorted(out):
        result[dataset] = {}
        for method, label in sorted(out[dataset], key=lambda k: (_method_key(k[0]), k[1])):
            runs = out[dataset][(method, label)]
            grid = np.arange(1, max(int(s.max()) for s, _ in runs) + 1, dtype=np.int64)
            mat = np.full((len(runs), grid.size), np.nan)
            for k, (s, v) in enumerate(runs):
                pos = np.searchsorted(s, grid, side="right") - 1  # last row at or before each step
                ok = (pos >= 0) & (grid <= s.max())
                mat[k, ok] = v[pos[ok]]
            result[dataset][label] = (grid, mat)
    return result


# ---------------------------------------------------------------------------------- report
@dataclass(frozen=True)
class Report:
    """What :func:`write_report` wrote."""

    results_csv: Path
    results_md: Path
    plots: tuple[Path, ...]
    cells: tuple[CellSummary, ...]
    n_runs: int
    n_failed: int


def write_report(root: str | Path, out_dir: str | Path | None = None, plots: bool = True,
                 confidence: float = 0.95, notes: Sequence[str] = ()) -> Report:
    """Aggregate the sweep folder ``root`` into ``results.csv``, ``results.md`` and the PNGs.

    ``notes``: extra lines for the top of ``results.md`` (the command, the wall time...).

    Raises:
        NoMetricsFound: no run below ``root`` wrote a ``metrics.csv``.
    """
    root = Path(root)
    rows = load_results(root)
    out = Path(out_dir) if out_dir is not None else root
    out.mkdir(parents=True, exist_ok=True)
    failed = find_failed(root)
    runs = _group_runs(rows)
    finals = [final_of_run(rs) for rs in runs.values()]
    cells = summarise_cells(finals, failed, confidence)
    notes = list(notes)
    if failed:
        notes.append(f"{len(failed)} run(s) failed: " + "; ".join(f"`{f['run']}` ({f['error']})" for f in failed))
    csv_path = write_results_csv(rows, out / "results.csv")
    md_path = out / "results.md"
    md_path.write_text(render_markdown(cells, str(root), notes))
    pngs: list[Path] = []
    if plots:
        top1, top5 = curves(rows, "recall_top1"), curves(rows, "recall_top5")
        for dataset in top1:
            panels = {"recall of the true top 1 %": top1[dataset], "recall of the true top 5 %": top5[dataset]}
            pngs.append(plot_discovery(dataset, panels, out / f"discovery_{dataset}.png"))
    return Report(csv_path, md_path, tuple(pngs), tuple(cells), len(runs), len(failed))


def main(argv: list[str] | None = None) -> int:
    """Console entry point (``autoscope-bench-report MULTIRUN_DIR [--out DIR] [--no-plots] [--note TEXT]``)."""
    ap = argparse.ArgumentParser(
        prog="autoscope-bench-report",
        description="Aggregate an autoscope-bench sweep: results.csv, results.md, discovery_<dataset>.png.",
    )
    ap.add_argument("multirun_dir", type=Path, help="the sweep folder (hydra.sweep.dir) holding the runs")
    ap.add_argument("--out", type=Path, default=None, help="where to write (default: the sweep folder)")
    ap.add_argument("--no-plots", action="store_true", help="skip the discovery PNGs")
    ap.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    ap.add_argument("--note", action="append", default=[],
                    help="a line for the top of results.md (repeatable), e.g. the command and wall time")
    ns = ap.parse_args(argv)
    try:
        report = write_report(ns.multirun_dir, ns.out, plots=not ns.no_plots, confidence=ns.confidence,
                              notes=ns.note)
    except (NoMetricsFound, MetricsFormatError, ValueError) as err:
        print(f"autoscope-bench-report: {err}", file=sys.stderr)
        return 2
    print(f"[autoscope-bench-report] {report.n_runs} runs ({report.n_failed} failed) -> "
          f"{report.results_md}, {report.results_csv}, {len(report.plots)} plot(s)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
