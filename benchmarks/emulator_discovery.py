"""Discovery on the emulator: policies x surrogates x seeds, top-1 % found and map accuracy.

    .venv/bin/python benchmarks/emulator_discovery.py --steps 60 --seeds 0 1 2 \
        --methods dkl:logei dkl_cnn:logei coord_gp:logei none:random --out benchmarks/results/emulator_discovery.json

Each run is the normal experiment (``conf/config.yaml``) with the overrides given; prints a table
and saves every run's summary as JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir

from agent.app import CONF_DIR, build_experiment


def run_one(surrogate: str, policy: str, seed: int, steps: int, extra: list[str]) -> dict:
    overrides = [f"policy={policy}", f"seed={seed}", f"experiment.steps={steps}",
                 "experiment.progress=false", "experiment.plots=false", *extra]
    overrides.append("~surrogate" if surrogate == "none" else f"surrogate={surrogate}")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    with tempfile.TemporaryDirectory() as tmp:
        exp = build_experiment(cfg, Path(tmp) / "run")
        t0 = time.perf_counter()
        summary = exp.run()
        summary["wall_s"] = time.perf_counter() - t0
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--methods", nargs="+", default=["dkl:logei", "none:random"],
                    help="surrogate:policy pairs (surrogate 'none' for model-free policies)")
    ap.add_argument("--extra", nargs="*", default=[], help="more Hydra overrides")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/emulator_discovery.json"))
    args = ap.parse_args()
    rows = []
    for method in args.methods:
        surrogate, policy = method.split(":")
        for seed in args.seeds:
            s = run_one(surrogate, policy, seed, args.steps, args.extra)
            t = s.get("truth", {})
            rows.append({"method": method, "seed": seed, "top1_found": t.get("top1_found"),
                         "top1_total": t.get("top1_total"), "recall_top5": t.get("recall_top5"),
                         "map_pearson": t.get("map_pearson"), "map_r2": t.get("map_r2"),
                         "median_t_decision_s": s["median_t_decision_s"], "wall_s": s["wall_s"]})
            print(json.dumps(rows[-1]))
    print(f"\n{'method':20s} {'top-1% found':>14s} {'top-5% recall':>14s} {'map r':>8s} {'decision s':>11s}")
    for method in args.methods:
        sel = [r for r in rows if r["method"] == method]
        found = np.mean([r["top1_found"] for r in sel])
        total = np.mean([r["top1_total"] for r in sel])
        r5 = np.mean([r["recall_top5"] for r in sel])
        pr = np.nanmean([r["map_pearson"] if r["map_pearson"] is not None else np.nan for r in sel])
        dt = np.nanmedian([r["median_t_decision_s"] or np.nan for r in sel])
        print(f"{method:20s} {found:7.2f}/{total:<6.1f} {r5:14.3f} {pr:8.3f} {dt:11.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"steps": args.steps, "seeds": args.seeds, "runs": rows}, indent=2))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
