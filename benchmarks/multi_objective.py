"""Two objectives on the emulator: EHVI and the scalarised option against random, by hypervolume.

    .venv/bin/python benchmarks/multi_objective.py --steps 40 --seeds 0 1 2 3 4 \
        --out benchmarks/results/multi_objective.json

Each run is the normal experiment with ``reward=two_bands`` (corner/edge dipole band and face band,
both maximised, one DKL surrogate per objective). Score: the hypervolume of the *true* (noise-free)
objective values at the measured candidates over the hypervolume of all candidates' true values
(``summary.objectives.hypervolume_ratio``; 1 = the whole true Pareto front was measured).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # `python benchmarks/multi_objective.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.emulator_discovery import run_one  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--methods", nargs="+", default=["dkl:ehvi", "dkl:scalarised", "none:random"],
                    help="surrogate:policy pairs (surrogate none for model-free policies)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/multi_objective.json"))
    args = ap.parse_args(argv)
    rows = []
    for method in args.methods:
        surrogate, policy = method.split(":")
        for seed in args.seeds:
            s = run_one(surrogate, policy, seed, args.steps, ["reward=two_bands"])
            o = s["objectives"]
            row = {"method": method, "seed": seed, "hypervolume_ratio": o.get("hypervolume_ratio"),
                   "pareto_measured": len(o.get("pareto_indices", [])), "wall_s": s["wall_s"],
                   "median_t_decision_s": s["median_t_decision_s"]}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\n{'method':16s} {'HV ratio mean':>13s} {'min':>6s} {'max':>6s}  per seed")
    summary = {}
    for method in args.methods:
        hv = np.array([r["hypervolume_ratio"] for r in rows if r["method"] == method], dtype=float)
        summary[method] = {"mean": float(hv.mean()), "min": float(hv.min()), "max": float(hv.max()),
                           "per_seed": hv.tolist()}
        print(f"{method:16s} {hv.mean():13.3f} {hv.min():6.3f} {hv.max():6.3f}  "
              + " ".join(f"{v:.3f}" for v in hv))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"steps": args.steps, "seeds": args.seeds, "rows": rows,
                                    "summary": summary}, indent=1))
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
