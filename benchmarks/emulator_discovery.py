"""Discovery on the emulators: methods x seeds, paired against a baseline, with honest intervals.

    .venv/bin/python -m benchmarks.emulator_discovery --steps 100 --seeds 0-9 \
        --methods agent structure coord_gp dkl random --out benchmarks/results/emulator_discovery.json

Each run is the normal experiment (``conf/config.yaml``) with the method's overrides (see
:data:`METHODS`; ``--preset pfm|fourd`` switches the emulator and reward). Per run: the top-1 %
discovery curve, its area (AUC: mean recall over steps 1..budget, in [0, 1]), steps to 25 % and 50 %
of the top 1 %, the final map R^2 and the share of the truth inside the last posterior's 95 %
intervals (coverage), and which surrogate view drove each decision. Per method: means with 95 %
percentile-bootstrap intervals over seeds (which stay inside [0, 1] for recall and AUC), the ratio
of means to the baseline with a paired bootstrap interval, and a paired two-sided Wilcoxon
signed-rank test on the AUC and on the top-1 % found. Random's expected curve is exact:
``E[recall after n draws] = n / N``.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

#: method name -> Hydra overrides (on top of conf/config.yaml and the preset).
METHODS: dict[str, list[str]] = {
    "agent": [],                                                     # the shipped default
    "structure": ["surrogate=structure"],                            # no pretraining: this overview only
    "structure_joint": ["surrogate=structure", "surrogate.structure_kernel=joint"],
    "agent_joint": ["surrogate.structure_kernel=joint"],
    "coord_gp": ["surrogate=coord_gp"],                              # classical BO
    "dkl": ["surrogate=dkl"],                                        # patch DKL (the previous default)
    "random": ["policy=random", "~surrogate"],
    # ablations of the default: which view contributes what
    "views_coords_pretrained": ["surrogate.views=[coords,pretrained]"],
    "views_coords_structure": ["surrogate.views=[coords,structure]"],
    "views_pretrained": ["surrogate.views=[pretrained]"],
    "views_structure": ["surrogate=structure", "surrogate.views=[structure]"],
    "no_calibration": ["surrogate.calibrate=false"],
    "views_all4": ["surrogate.views=[coords,structure,pretrained,combined]"],
    "views_coords_combined": ["surrogate.views=[coords,combined]"],
}
PRESETS: dict[str, list[str]] = {
    "emulator": [],
    "pfm": ["driver=pfm_emulator", "reward=loop_area", "experiment=pfm"],
    "fourd": ["driver=fourd_emulator", "reward=com_shift", "experiment=fourd"],
}


def _seeds(text: list[str]) -> list[int]:
    out: list[int] = []
    for t in text:
        if "-" in t[1:]:
            lo, hi = t.split("-", 1)
            out += list(range(int(lo), int(hi) + 1))
        else:
            out.append(int(t))
    return out


def run_one(method: str, seed: int, steps: int, preset: str, extra: list[str]) -> dict[str, Any]:
    """One experiment; returns its discovery curve and scores."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from hydra import compose, initialize_config_dir

    from agent.app import CONF_DIR, build_experiment
    from agent.metrics import r2_score, recall_curve, steps_to_recall, top_fraction_mask

    overrides = [*PRESETS[preset], *METHODS[method], f"seed={seed}", f"experiment.steps={steps}",
                 "experiment.progress=false", "experiment.plots=false", *extra]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    views: list[str] = []
    decision_s: list[float] = []

    def on_step(exp: Any, rows: Any) -> None:
        if exp.surrogate is not None and exp.last_posterior is not None:
            views.append(str(exp.surrogate.fit_summary().get("model", "")))
        for row in rows:
            t = row.t_fit_s + row.t_predict_s + row.t_select_s
            if math.isfinite(t):
                decision_s.append(float(t))

    with tempfile.TemporaryDirectory() as tmp:
        exp = build_experiment(cfg, Path(tmp) / "run")
        exp.on_step = on_step
        t0 = time.perf_counter()
        summary = exp.run()
        wall = time.perf_counter() - t0
        truth = np.asarray(exp.truth, dtype=np.float64)
        measured = np.asarray(exp.state.measured, dtype=np.int64)
        post = exp.last_posterior
    maximize = bool(cfg.experiment.maximize)
    curve = recall_curve(measured, truth, 0.01, maximize)
    top = top_fraction_mask(truth, 0.01, maximize)
    ok = np.isfinite(truth)
    r2 = coverage = math.nan
    if post is not None and not isinstance(post.mean, tuple):
        r2 = float(r2_score(post.mean[ok], truth[ok]))
        coverage = float(np.mean(np.abs(post.mean[ok] - truth[ok]) <= 1.959964 * post.std[ok]))
    s25 = steps_to_recall(measured, truth, 0.25, 0.01, maximize)
    s50 = steps_to_recall(measured, truth, 0.5, 0.01, maximize)
    return {
        "method": method, "seed": seed, "preset": preset, "steps": steps,
        "top1_total": int(top.sum()), "top1_found": int(round(curve[-1] * top.sum())) if len(curve) else 0,
        "auc": float(np.mean(curve)) if len(curve) else 0.0,
        "steps_to_25pct": None if s25 is None else int(s25),
        "steps_to_50pct": None if s50 is None else int(s50),
        "map_r2": r2, "coverage95": coverage,
        "views": dict(collections.Counter(views)),
        "median_t_decision_s": summary.get("median_t_decision_s"),
        # the last 20 decisions (n = steps - 20 .. steps): the cost at the largest training set
        "decision_s_last20_median": float(np.median(decision_s[-20:])) if decision_s else None,
        "decision_s_last20_mean": float(np.mean(decision_s[-20:])) if decision_s else None,
        "wall_s": wall, "curve": [float(c) for c in curve],
    }


def bootstrap_mean(values: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """Mean and 95 % percentile-bootstrap interval over the entries of ``values`` (the bench
    harness's :func:`benchmarks.bench.stats.bootstrap_interval`, as a JSON-ready triple)."""
    from benchmarks.bench.stats import bootstrap_interval

    iv = bootstrap_interval(values, seed=seed)
    return iv.mean, iv.lo, iv.hi


def paired(a: np.ndarray, b: np.ndarray, n_boot: int = 10000, seed: int = 0) -> dict[str, float]:
    """Paired comparison of ``a`` against ``b`` (same seeds): ratio of means with a paired
    bootstrap interval and a two-sided Wilcoxon signed-rank p."""
    from benchmarks.bench.stats import paired_wilcoxon

    a, b = np.asarray(a, float), np.asarray(b, float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, (n_boot, a.size))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = a[idx].mean(1) / b[idx].mean(1)
        ratio = a.mean() / b.mean() if b.mean() != 0 else math.inf
    ratios = ratios[np.isfinite(ratios)]
    diff = a - b
    p = paired_wilcoxon(dict(enumerate(a)), dict(enumerate(b))).p
    lo, hi = ((float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))) if ratios.size
              else (math.nan, math.nan))
    return {"ratio": float(ratio), "ratio_lo": lo, "ratio_hi": hi, "mean_diff": float(diff.mean()), "wilcoxon_p": p}


def summarise(rows: list[dict[str, Any]], baseline: str) -> dict[str, Any]:
    """Per-method statistics and paired comparisons against ``baseline``."""
    by = collections.defaultdict(dict)
    for r in rows:
        by[r["method"]][r["seed"]] = r
    out: dict[str, Any] = {}
    for m, runs in by.items():
        seeds = sorted(runs)
        stats: dict[str, Any] = {"n": len(seeds)}
        for key in ("top1_found", "auc", "map_r2", "coverage95", "steps_to_50pct", "steps_to_25pct"):
            vals = np.array([np.nan if runs[s][key] is None else runs[s][key] for s in seeds], float)
            stats[key] = bootstrap_mean(vals)
            if key.startswith("steps_to"):
                stats[key + "_reached"] = int(np.isfinite(vals).sum())
        if baseline in by and m != baseline:
            common = [s for s in seeds if s in by[baseline]]
            for key in ("top1_found", "auc"):
                a = np.array([runs[s][key] for s in common], float)
                b = np.array([by[baseline][s][key] for s in common], float)
                stats[f"vs_{baseline}_{key}"] = paired(a, b)
        out[m] = stats
    return out


def _fmt(t: tuple[float, float, float], digits: int = 3) -> str:
    m, lo, hi = t
    return "n/a" if not math.isfinite(m) else f"{m:.{digits}g} [{lo:.{digits}g}, {hi:.{digits}g}]"


def print_table(stats: dict[str, Any], baseline: str, total: int) -> None:
    found_header = f"top-1 % found (of {total})"
    print(f"\n{'method':26s} {found_header:>24s} {'AUC':>22s} {'map R^2':>22s} "
          f"{'coverage95':>22s} {'steps to 50%':>14s} {'vs ' + baseline + ' (found)':>34s}")
    for m, s in stats.items():
        cmp = s.get(f"vs_{baseline}_top1_found")
        cmp_txt = "" if cmp is None else (f"x{cmp['ratio']:.2f} [{cmp['ratio_lo']:.2f}, {cmp['ratio_hi']:.2f}] "
                                          f"p={cmp['wilcoxon_p']:.2g}")
        s50 = s["steps_to_50pct"]
        s50_txt = (f"{s50[0]:.0f} ({s['steps_to_50pct_reached']}/{s['n']})" if math.isfinite(s50[0])
                   else f"never (0/{s['n']})")
        print(f"{m:26s} {_fmt(s['top1_found']):>24s} {_fmt(s['auc']):>22s} {_fmt(s['map_r2']):>22s} "
              f"{_fmt(s['coverage95']):>22s} {s50_txt:>14s} {cmp_txt:>34s}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--seeds", nargs="+", default=["0-9"], help="seeds or ranges: 0-9 or 0 1 2")
    ap.add_argument("--methods", nargs="+", default=["agent", "structure", "coord_gp", "random"],
                    choices=sorted(METHODS))
    ap.add_argument("--baseline", default="coord_gp")
    ap.add_argument("--preset", default="emulator", choices=sorted(PRESETS))
    ap.add_argument("--extra", nargs="*", default=[], help="more Hydra overrides for every run")
    ap.add_argument("--jobs", type=int, default=2, help="runs in parallel (processes, 1 torch thread each)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/emulator_discovery.json"))
    ap.add_argument("--reuse", type=Path, default=None,
                    help="an earlier JSON of this script (same steps and preset): its runs of methods not "
                         "run now join the table (for baselines whose code did not change)")
    args = ap.parse_args()
    seeds = _seeds(args.seeds)
    jobs = [(m, s) for m in args.methods for s in seeds]
    reused: list[dict[str, Any]] = []
    if args.reuse is not None:
        old = json.loads(args.reuse.read_text())
        if old["steps"] != args.steps or old["preset"] != args.preset:
            raise SystemExit(f"--reuse {args.reuse}: made with steps={old['steps']} preset={old['preset']}")
        reused = [r for r in old["runs"] if r["method"] not in args.methods and r["seed"] in seeds]
        print(f"reusing {len(reused)} runs of {sorted({r['method'] for r in reused})} from {args.reuse}")
    print(f"{len(jobs)} runs ({len(args.methods)} methods x {len(seeds)} seeds, {args.steps} steps, "
          f"preset {args.preset}) on {args.jobs} processes", flush=True)
    t0 = time.perf_counter()
    rows = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_one, m, s, args.steps, args.preset, args.extra) for m, s in jobs]
        for f in futures:
            r = f.result()
            rows.append(r)
            print(json.dumps({k: v for k, v in r.items() if k != "curve"}), flush=True)
    rows += reused
    stats = summarise(rows, args.baseline)
    total = int(np.median([r["top1_total"] for r in rows]))
    print_table(stats, args.baseline, total)
    print(f"\nrandom's expected top-1 % found after {args.steps} steps: n/N x {total}; "
          f"wall {time.perf_counter() - t0:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": "python -m benchmarks.emulator_discovery " + " ".join(
        [f"--steps {args.steps}", "--seeds " + " ".join(args.seeds), "--methods " + " ".join(args.methods),
         *([f"--reuse {args.reuse}"] if args.reuse else []),
         f"--baseline {args.baseline}", f"--preset {args.preset}"]
        + (["--extra " + " ".join(args.extra)] if args.extra else [])),
        "steps": args.steps, "seeds": seeds, "preset": args.preset, "baseline": args.baseline,
        "reused_methods": sorted({r["method"] for r in reused}), "stats": stats, "runs": rows},
        indent=1, default=str))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
