"""``autoscope-bench-report MULTIRUN_DIR``: aggregate a benchmark sweep into tables and plots.

Reads every ``metrics.csv`` below the folder (one per run, see :mod:`.recorder`; the run's
``summary.json`` beside it gives the number of candidates) and writes, in the folder (or ``--out``):

* ``results.csv``: every run's rows (one per run and step) with a ``run`` column (the run folder);
* ``results.md``: per dataset, per method, over seeds:

  - the primary metric, the **area under the top-1 % discovery curve** (AUC: the mean recall of the
    true top 1 % over steps 1..budget, in [0, 1]; a run that stopped early keeps its last recall),
    with a percentile-bootstrap 95 % interval over seeds (fixed bootstrap seed: reproducible, and
    inside [0, 1]), and random search's exact expectation ``(budget + 1) / (2 N)``;
  - a paired comparison with the baseline ``coord_gp_ei`` on the same seeds: the mean paired AUC
    difference and the Wilcoxon signed-rank p (``n.s.`` when p >= 0.05);
  - the median number of measurements to reach 25 % and 50 % of the top 1 % (runs that never got
    there count as beyond the budget; the cell says how many got there);
  - the final recall of the top 1 % / top 5 %, simple regret and R^2 (the last finite value of the
    run), each with a bootstrap interval; the mean measurements to 50 % over the runs that got there
    (the column of earlier reports); the median decision time (fit + predict + select, pooled);
  - the dataset facts of ``dataset_facts.json`` when present (split-half reliability of the ground
    truth and the supervised ceiling, see :mod:`.ceiling`): a dataset whose truth is unreliable is
    flagged "truth unreliable: not ranked" and its methods are not ranked;
* ``discovery_<dataset>.png``: recall vs measurement per method, mean with a 95 % bootstrap band,
  and random's expected curve ``n / N`` (dashed).

Runs that failed (``failed.json``, see :mod:`.runner`) are counted per method.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import MetricsFormatError, NoMetricsFound
from .plots import Curve, plot_discovery
from .recorder import METRIC_COLUMNS
from .stats import (
    Interval,
    PairedTest,
    bootstrap_interval,
    paired_wilcoxon,
    random_expected_auc,
    random_expected_recall,
    random_reach_probability,
)

__all__ = [
    "BASELINE",
    "METHOD_ORDER",
    "auc_of_run",
    "load_facts",
    "steps_to_level",
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
METHOD_ORDER: tuple[str, ...] = ("random", "raster", "coord_gp_ei", "gpcam", "dkl_ei", "dkl_ucb", "gpax_ei",
                                 "structure_ei")
#: The method every other one is compared with (paired over seeds, Wilcoxon).
BASELINE = "coord_gp_ei"
#: Recall levels of the "steps to" columns.
LEVELS = (0.25, 0.5)

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
        run_rows = read_metrics(path, run=str(path.parent.relative_to(root)))
        info = _run_info(path.parent)
        for r in run_rows:
            r.update(info)
        rows.extend(run_rows)
    return rows


def _run_info(folder: Path) -> dict[str, Any]:
    """``n_candidates`` and ``n_top1`` of a run from its ``summary.json`` (empty when absent)."""
    try:
        summary = json.loads((folder / "summary.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    out: dict[str, Any] = {}
    if isinstance(summary.get("n_candidates"), int):
        out["n_candidates"] = int(summary["n_candidates"])
    top1 = (summary.get("truth") or {}).get("top1_total")
    if isinstance(top1, int):
        out["n_top1"] = int(top1)
    return out


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
    auc_top1: float = math.nan
    auc_top5: float = math.nan
    steps_to_25: int | None = None
    n_candidates: int | None = None
    n_top1: int | None = None


def _group_runs(rows: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        runs.setdefault(r["run"], []).append(r)
    for rs in runs.values():
        rs.sort(key=lambda r: r["step"])
    return runs


def auc_of_run(rows: Sequence[dict[str, Any]], budget: int | None = None, column: str = "recall_top1") -> float:
    """Area under one run's discovery curve: the mean of ``column`` over steps 1..``budget``
    (default: the run's last step), in [0, 1] for a recall.

    Between rows and after the run's last row the last value is carried forward (a run that stopped
    early keeps what it found); steps before its first row count as 0.
    """
    rs = sorted(rows, key=lambda r: r["step"])
    if not rs:
        return math.nan
    steps = np.asarray([r["step"] for r in rs], dtype=np.int64)
    vals = np.asarray([r[column] for r in rs], dtype=np.float64)
    b = int(budget) if budget is not None else int(steps.max())
    if b < 1:
        raise ValueError(f"budget={budget} must be >= 1 measurement")
    grid = np.arange(1, b + 1)
    pos = np.searchsorted(steps, grid, side="right") - 1
    curve = np.where(pos >= 0, vals[np.maximum(pos, 0)], 0.0)
    curve = np.where(np.isfinite(curve), curve, 0.0)
    return float(curve.mean())


def steps_to_level(rows: Sequence[dict[str, Any]], level: float, column: str = "recall_top1") -> int | None:
    """The first step at which ``column`` reached ``level`` (None if it never did)."""
    reached = [r["step"] for r in sorted(rows, key=lambda r: r["step"]) if r[column] >= level - 1e-12]
    return int(reached[0]) if reached else None


def final_of_run(rows: Sequence[dict[str, Any]], budget: int | None = None) -> RunFinal:
    """Final figures of one run's rows (sorted by step or not); ``budget``: the AUC's last step
    (default: the run's own last step)."""
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
        auc_top1=auc_of_run(rs, budget, "recall_top1"),
        auc_top5=auc_of_run(rs, budget, "recall_top5"),
        steps_to_25=steps_to_level(rs, LEVELS[0]),
        n_candidates=int(last["n_candidates"]) if isinstance(last.get("n_candidates"), (int, float))
        and math.isfinite(last["n_candidates"]) else None,
        n_top1=int(last["n_top1"]) if isinstance(last.get("n_top1"), (int, float))
        and math.isfinite(last["n_top1"]) else None,
    )


# ---------------------------------------------------------------------------------- per cell
@dataclass(frozen=True)
class StepsTo:
    """Measurements until a recall level: the median over all runs (a run that never got there
    counts as beyond the budget) and how many got there."""

    median: float
    n_reached: int
    n_runs: int
    budget: int

    def format(self) -> str:
        if self.n_runs == 0:
            return "n/a"
        if self.n_reached == 0:
            return f"never (0/{self.n_runs})"
        m = f"> {self.budget}" if not math.isfinite(self.median) else f"{self.median:.3g}"
        return f"{m} ({self.n_reached}/{self.n_runs})"


def steps_summary(values: Sequence[int | None], budget: int) -> StepsTo:
    """:class:`StepsTo` of per-run first steps (None = never within ``budget``)."""
    v = np.asarray([math.inf if x is None else float(x) for x in values], dtype=np.float64)
    n_reached = int(np.isfinite(v).sum())
    if v.size == 0:
        return StepsTo(math.nan, 0, 0, budget)
    ordered = np.sort(v)
    mid = (v.size - 1) / 2.0
    lo, hi = ordered[int(math.floor(mid))], ordered[int(math.ceil(mid))]
    median = math.inf if not (math.isfinite(lo) and math.isfinite(hi)) else 0.5 * (lo + hi)
    return StepsTo(median, n_reached, int(v.size), budget)


@dataclass(frozen=True)
class CellSummary:
    """One (dataset, method) cell: intervals over seeds of the final figures.

    Recall, regret and R^2 intervals are percentile-bootstrap intervals over seeds (inside the range
    of the data); ``steps_to_50`` is the mean over the runs that got there (``n_reached_50`` of them).
    """

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
    auc_top1: Interval = field(default_factory=lambda: Interval(math.nan, math.nan, math.nan, 0))
    auc_top5: Interval = field(default_factory=lambda: Interval(math.nan, math.nan, math.nan, 0))
    to_25: StepsTo | None = None
    to_50: StepsTo | None = None
    vs_baseline: PairedTest | None = None
    auc_by_seed: tuple[tuple[int, float], ...] = field(default=(), repr=False)


def _method_key(method: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), method)


def summarise_cells(finals: Sequence[RunFinal], failed: Sequence[dict[str, Any]] = (),
                    confidence: float = 0.95, baseline: str = BASELINE) -> list[CellSummary]:
    """One :class:`CellSummary` per (dataset, method, policy, surrogate), datasets alphabetical,
    methods in :data:`METHOD_ORDER` (a method swept over several policies or surrogates, e.g.
    ``method=dkl_ei policy=logei,ucb``, gets one cell per pair). Every cell of a dataset that also
    ran ``baseline`` gets a paired Wilcoxon test of its AUC against the baseline's, seed by seed."""
    cells: dict[tuple[str, str, str, str], list[RunFinal]] = {}
    for f in finals:
        cells.setdefault((f.dataset, f.method, f.policy, f.surrogate), []).append(f)
    n_failed: dict[tuple[str, str, str, str], int] = {}
    for info in failed:
        key = tuple(str(info.get(k, "?")) for k in ("dataset", "method", "policy", "surrogate"))
        n_failed[key] = n_failed.get(key, 0) + 1  # type: ignore[index]
    budget = {d: max(f.steps for f in finals if f.dataset == d) for d in {f.dataset for f in finals}}
    base_auc: dict[str, dict[int, float]] = {}
    for (dataset, method, _, _), fs in cells.items():
        if method == baseline:
            base_auc.setdefault(dataset, {}).update({f.seed: f.auc_top1 for f in fs})
    out = []
    for key in sorted(set(cells) | set(n_failed), key=lambda k: (k[0], _method_key(k[1]), k[2], k[3])):
        fs = cells.get(key, [])
        times = np.asarray([t for f in fs for t in f.t_decisions_s], dtype=np.float64)
        reached = [f.steps_to_50 for f in fs if f.steps_to_50 is not None]
        b = budget.get(key[0], 0)
        auc = {f.seed: f.auc_top1 for f in fs}
        test = None
        if key[1] != baseline and key[0] in base_auc and fs:
            test = paired_wilcoxon(auc, base_auc[key[0]])
        out.append(CellSummary(
            dataset=key[0],
            method=key[1],
            policy=key[2],
            surrogate=key[3],
            n_runs=len(fs),
            steps=max((f.steps for f in fs), default=0),
            recall_top1=bootstrap_interval([f.recall_top1 for f in fs], confidence),
            recall_top5=bootstrap_interval([f.recall_top5 for f in fs], confidence),
            regret=bootstrap_interval([f.regret for f in fs], confidence),
            r2=bootstrap_interval([f.r2 for f in fs], confidence),
            steps_to_50=bootstrap_interval(reached, confidence),
            n_reached_50=len(reached),
            median_t_decision_s=float(np.median(times)) if times.size else math.nan,
            n_failed=n_failed.get(key, 0),
            auc_top1=bootstrap_interval([f.auc_top1 for f in fs], confidence),
            auc_top5=bootstrap_interval([f.auc_top5 for f in fs], confidence),
            to_25=steps_summary([f.steps_to_25 for f in fs], b),
            to_50=steps_summary([f.steps_to_50 for f in fs], b),
            vs_baseline=test,
            auc_by_seed=tuple(sorted(auc.items())),
        ))
    return out


@dataclass(frozen=True)
class RandomExpectation:
    """Random search's exact expectation on one dataset (uniform draws without replacement)."""

    dataset: str
    n_candidates: int
    n_top1: int
    budget: int
    auc_top1: float
    p_reach_25: float
    p_reach_50: float


def random_expectations(finals: Sequence[RunFinal]) -> dict[str, RandomExpectation]:
    """Per dataset, from the runs' candidate counts (``summary.json``) and the budget."""
    out: dict[str, RandomExpectation] = {}
    for dataset in sorted({f.dataset for f in finals}):
        fs = [f for f in finals if f.dataset == dataset]
        ns = [f.n_candidates for f in fs if f.n_candidates]
        ks = [f.n_top1 for f in fs if f.n_top1]
        if not ns:
            continue
        n, budget = int(max(set(ns), key=ns.count)), max(f.steps for f in fs)
        k = int(max(set(ks), key=ks.count)) if ks else max(1, math.ceil(0.01 * n))
        out[dataset] = RandomExpectation(
            dataset, n, k, budget, random_expected_auc(budget, n),
            random_reach_probability(LEVELS[0], budget, n, k), random_reach_probability(LEVELS[1], budget, n, k),
        )
    return out


# ---------------------------------------------------------------------------------- facts
#: Where ``python -m benchmarks.bench.ceiling`` writes the dataset facts (repository-relative).
FACTS_FILE = Path("benchmarks") / "results" / "dataset_facts.json"


def load_facts(*candidates: str | Path | None) -> dict[str, dict[str, Any]]:
    """``{dataset: facts}`` from the first existing ``dataset_facts.json`` among ``candidates`` (files
    or folders holding one), else from :data:`FACTS_FILE` under the repository root; {} if none."""
    repo = Path(__file__).resolve().parents[2]
    paths: list[Path] = []
    for c in candidates:
        if c is None:
            continue
        c = Path(c)
        paths.append(c / "dataset_facts.json" if c.is_dir() else c)
    paths.append(repo / FACTS_FILE)
    for path in paths:
        if path.is_file():
            try:
                data = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            return dict(data.get("datasets", data))
    return {}


def _unreliable(facts: dict[str, Any]) -> bool:
    return bool((facts.get("reliability") or {}).get("unreliable", False))


def _fmt_time(t: float) -> str:
    if not math.isfinite(t):
        return "n/a"
    return f"{t * 1e3:.2g} ms" if t < 0.1 else f"{t:.3g} s"


def _fmt_num(x: Any, digits: int = 2) -> str:
    return f"{x:.{digits}f}" if isinstance(x, (int, float)) and math.isfinite(x) else "n/a"


def _facts_lines(facts: dict[str, dict[str, Any]], datasets: Sequence[str]) -> list[str]:
    if not any(d in facts for d in datasets):
        return []
    lines = [
        "## Dataset facts: reliability of the ground truth and the supervised ceiling", "",
        "Split-half reliability: the recorded data split into two independent halves (EDS counts: binomial "
        "thinning with p = 0.5; float cubes: see `benchmarks/bench/reliability.py`), each denoised as the "
        "dataset config says, the reward evaluated on both; Spearman rho of the two truth maps over the "
        "candidates and the overlap of their top-1 % sets (|A and B| / max(|A|, |B|): 1 = the same candidates). "
        "A top-1 % "
        "overlap below the threshold flags the dataset \"truth unreliable: not ranked\". Ceiling: R^2 of a "
        "gradient-boosted model trained on ALL candidates (coordinates + multi-scale structure-image "
        "features), scored on held-out spatial blocks (blocked cross-validation). "
        "Source: `benchmarks/results/dataset_facts.json` (`python -m benchmarks.bench.ceiling`).", "",
        "| dataset | candidates | top-1 % | Spearman (halves) | top-1 % overlap | truth | ceiling R^2 (blocked CV) | "
        "R^2 per fold |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for d in datasets:
        f = facts.get(d)
        if not f:
            continue
        rel, ceil = f.get("reliability") or {}, f.get("ceiling") or {}
        verdict = "**truth unreliable: not ranked**" if _unreliable(f) else "reliable"
        folds = ceil.get("fold_r2") or []
        lines.append(
            f"| {d} | {f.get('n_candidates', 'n/a')} | {rel.get('n_top', 'n/a')} | {_fmt_num(rel.get('spearman'))} | "
            f"{_fmt_num(rel.get('top1_overlap'))} | {verdict} | {_fmt_num(ceil.get('r2'))} | "
            f"{', '.join(_fmt_num(v) for v in folds) or 'n/a'} |"
        )
    lines.append("")
    return lines


def _summary_lines(cells: Sequence[CellSummary], rand: dict[str, RandomExpectation],
                   facts: dict[str, dict[str, Any]], baseline: str) -> list[str]:
    datasets = list(dict.fromkeys(c.dataset for c in cells))
    methods = sorted({c.method for c in cells}, key=_method_key)
    if not datasets:
        return []
    lines = [
        "## Summary: area under the top-1 % discovery curve (AUC)", "",
        f"Mean [95 % percentile-bootstrap interval over seeds]; below each, the mean paired difference "
        f"with `{baseline}` over the same seeds and the Wilcoxon signed-rank p (n.s.: p >= 0.05). "
        f"\"random (expected)\": the exact expectation of uniform random search, (budget + 1) / (2 N).", "",
        "| dataset | budget | random (expected) | " + " | ".join(methods) + " |",
        "|---|---|---|" + "---|" * len(methods),
    ]
    by = {(c.dataset, c.method): c for c in cells}
    for d in datasets:
        r = rand.get(d)
        flag = " (truth unreliable: not ranked)" if _unreliable(facts.get(d, {})) else ""
        budget = max(c.steps for c in cells if c.dataset == d)
        row = [f"{d}{flag}", str(budget), _fmt_num(r.auc_top1, 3) if r else "n/a"]
        for m in methods:
            c = by.get((d, m))
            if c is None:
                row.append("")
                continue
            cell = c.auc_top1.format()
            if c.vs_baseline is not None:
                cell += f"<br>{c.vs_baseline.format()}"
            row.append(cell)
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    return lines


def render_markdown(cells: Sequence[CellSummary], source: str = "", notes: Sequence[str] = (),
                    random_expected: dict[str, RandomExpectation] | None = None,
                    facts: dict[str, dict[str, Any]] | None = None, baseline: str = BASELINE) -> str:
    """``results.md`` text: a legend, the AUC summary, the dataset facts, then one table per dataset."""
    rand = random_expected or {}
    facts = facts or {}
    lines = ["# autoscope offline benchmark", ""]
    if source:
        lines += [f"Source: `{source}`; generated {_dt.datetime.now().isoformat(timespec='seconds')}.", ""]
    lines += [
        "Primary metric: AUC, the area under the top-1 % discovery curve (mean recall of the true top 1 % "
        "over steps 1..budget, in [0, 1]; truth = the reward on the denoised data). Each cell: mean [95 % "
        "percentile-bootstrap interval over seeds, 10,000 resamples, fixed seed] (intervals stay inside "
        "the range of the data). vs " + baseline + ": mean paired AUC difference over the same seeds and "
        "the Wilcoxon signed-rank p (n.s.: p >= 0.05). Steps to 25 % / 50 %: median measurements until "
        "25 % / 50 % of the top 1 % was found, over all runs (runs that never got there count as beyond "
        "the budget: '> budget' when most never did), with how many got there. Final recall top-1 % / "
        "top-5 %, simple regret (true best minus the true value of the best measured candidate, reward "
        "units) and R^2 (the surrogate's map against the truth over every candidate; for random/raster the "
        "benchmark's surrogate fitted on their points): after the last measurement. Mean steps to 50 %: "
        "over the runs that got there (k/n). Decision: median fit + predict + select time per decision.",
        "",
    ]
    for note in notes:
        lines += [note, ""]
    lines += _summary_lines(cells, rand, facts, baseline)
    datasets = list(dict.fromkeys(c.dataset for c in cells))
    lines += _facts_lines(facts, datasets)
    for dataset in datasets:
        rows = [c for c in cells if c.dataset == dataset]
        steps = max(c.steps for c in rows)
        f = facts.get(dataset, {})
        lines += [f"## {dataset} ({steps} measurements)", ""]
        if _unreliable(f):
            rel = f.get("reliability") or {}
            lines += [f"**Truth unreliable: not ranked.** The split halves' top-1 % sets overlap "
                      f"{_fmt_num(rel.get('top1_overlap'))} (threshold {_fmt_num(rel.get('threshold'))}): the "
                      f"discovery figures below measure noise in the truth as much as search.", ""]
        r = rand.get(dataset)
        if r is not None:
            lines += [f"{r.n_candidates:,} candidates, {r.n_top1} in the top 1 %. Random search (exact): AUC "
                      f"{r.auc_top1:.3f}, P(25 % within {r.budget}) = {r.p_reach_25:.2f}, P(50 %) = "
                      f"{r.p_reach_50:.2f}.", ""]
        lines += ["| method | policy | surrogate | runs | AUC top-1 % | vs " + baseline + " | steps to 25 % "
                  "| steps to 50 % | recall top-1 % | recall top-5 % | simple regret | R^2 | mean steps to 50 % "
                  "top-1 | decision |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for c in rows:
            runs = f"{c.n_runs}" + (f" (+{c.n_failed} failed)" if c.n_failed else "")
            reach = (f"{c.steps_to_50.format()} ({c.n_reached_50}/{c.n_runs})" if c.n_reached_50
                     else f"never (0/{c.n_runs})")
            vs = c.vs_baseline.format() if c.vs_baseline is not None else ("baseline" if c.method == baseline else "")
            lines.append(
                f"| {c.method} | {c.policy} | {c.surrogate} | {runs} | {c.auc_top1.format()} | {vs} | "
                f"{c.to_25.format() if c.to_25 else 'n/a'} | {c.to_50.format() if c.to_50 else 'n/a'} | "
                f"{c.recall_top1.format()} | {c.recall_top5.format()} | {c.regret.format()} | {c.r2.format()} | "
                f"{reach} | {_fmt_time(c.median_t_decision_s)} |"
            )
        lines.append("")
        if not _unreliable(f) and len(rows) > 1:
            ranked = sorted((c for c in rows if c.auc_top1.n), key=lambda c: -c.auc_top1.mean)
            if ranked:
                lines += ["Ranking by mean AUC: " + " > ".join(f"{c.method} ({c.auc_top1.mean:.3f})" for c in ranked)
                          + ".", ""]
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
                 confidence: float = 0.95, notes: Sequence[str] = (),
                 facts: str | Path | None = None, baseline: str = BASELINE) -> Report:
    """Aggregate the sweep folder ``root`` into ``results.csv``, ``results.md`` and the PNGs.

    ``notes``: extra lines for the top of ``results.md`` (the command, the wall time...).
    ``facts``: a ``dataset_facts.json`` (default: one in ``root``, else
    ``benchmarks/results/dataset_facts.json`` when present). ``baseline``: the method every other
    one is compared with (paired Wilcoxon on the AUC).

    Raises:
        NoMetricsFound: no run below ``root`` wrote a ``metrics.csv``.
    """
    root = Path(root)
    rows = load_results(root)
    out = Path(out_dir) if out_dir is not None else root
    out.mkdir(parents=True, exist_ok=True)
    failed = find_failed(root)
    runs = _group_runs(rows)
    budget: dict[str, int] = {}
    for rs in runs.values():
        d = str(rs[-1]["dataset"])
        budget[d] = max(budget.get(d, 0), int(rs[-1]["step"]))
    # a run still going (or killed) has no summary.json and stopped short of the budget: left out
    incomplete = sorted(name for name, rs in runs.items()
                        if int(rs[-1]["step"]) < budget[str(rs[-1]["dataset"])]
                        and not (root / name / "summary.json").is_file())
    for name in incomplete:
        del runs[name]
    rows = [r for r in rows if r["run"] not in set(incomplete)]
    finals = [final_of_run(rs, budget[str(rs[-1]["dataset"])]) for rs in runs.values()]
    cells = summarise_cells(finals, failed, confidence, baseline)
    rand = random_expectations(finals)
    dataset_facts = load_facts(facts, root)
    notes = list(notes)
    if failed:
        notes.append(f"{len(failed)} run(s) failed: " + "; ".join(f"`{f['run']}` ({f['error']})" for f in failed))
    if incomplete:
        notes.append(f"{len(incomplete)} incomplete run(s) left out (no summary.json, short of the budget): "
                     + ", ".join(f"`{n}`" for n in incomplete))
    csv_path = write_results_csv(rows, out / "results.csv")
    md_path = out / "results.md"
    md_path.write_text(render_markdown(cells, str(root), notes, rand, dataset_facts, baseline))
    pngs: list[Path] = []
    if plots:
        top1, top5 = curves(rows, "recall_top1"), curves(rows, "recall_top5")
        for dataset in top1:
            panels = {"recall of the true top 1 %": top1[dataset], "recall of the true top 5 %": top5[dataset]}
            r = rand.get(dataset)
            reference = None
            if r is not None:
                grid = np.arange(0, budget[dataset] + 1)
                reference = (grid, random_expected_recall(grid, r.n_candidates))
            pngs.append(plot_discovery(dataset, panels, out / f"discovery_{dataset}.png", reference=reference))
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
    ap.add_argument("--facts", type=Path, default=None,
                    help="dataset_facts.json (default: in the sweep folder, else benchmarks/results/)")
    ap.add_argument("--baseline", default=BASELINE, help=f"method the others are compared with (default {BASELINE})")
    ap.add_argument("--note", action="append", default=[],
                    help="a line for the top of results.md (repeatable), e.g. the command and wall time")
    ns = ap.parse_args(argv)
    try:
        report = write_report(ns.multirun_dir, ns.out, plots=not ns.no_plots, confidence=ns.confidence,
                              notes=ns.note, facts=ns.facts, baseline=ns.baseline)
    except (NoMetricsFound, MetricsFormatError, ValueError) as err:
        print(f"autoscope-bench-report: {err}", file=sys.stderr)
        return 2
    print(f"[autoscope-bench-report] {report.n_runs} runs ({report.n_failed} failed) -> "
          f"{report.results_md}, {report.results_csv}, {len(report.plots)} plot(s)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
