"""Detector duty cycle on the real-time emulator: sequential vs pipelined decisions.

    .venv/bin/python benchmarks/duty_cycle.py --exposure-s 0.2 --steps 45 \
        --out benchmarks/results/duty_cycle.json

The emulator runs with ``clock=real`` (it really sleeps for every exposure, readout and settle), so
wall time is what an instrument would see. Duty cycle = (spectra x exposure) / wall time of the
policy phase (after the seed points, which need no decision); the instrument's own overheads
(readout, probe settling) count against it. ``instrument_busy`` = time inside the driver's
set_probe + acquire_spectrum calls / the same wall time: 1 means the instrument never waited for
the agent. Variants: sequential (decide, then
acquire), pipelined (decide the next point while the detector acquires), pipelined with batches of q
points per decision.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

from agent.app import CONF_DIR, build_experiment


def run_variant(pipeline: bool, q: int, exposure_s: float, steps: int, n_init: int, seed: int) -> dict:
    overrides = [f"experiment.steps={steps}", f"experiment.n_init={n_init}", f"experiment.exposure_s={exposure_s}",
                 f"experiment.pipeline={str(pipeline).lower()}", f"experiment.q={q}", "driver.clock=real",
                 "experiment.progress=false", "experiment.plots=false", f"seed={seed}"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    marks: dict[str, float] = {}

    def on_step(exp, rows):
        if "policy_start" not in marks and exp.n_done >= n_init:
            marks["policy_start"] = time.perf_counter()
            marks["policy_start_n"] = exp.n_done
        marks["end"] = time.perf_counter()
        marks["end_n"] = exp.n_done

    spans: list[tuple[float, float]] = []

    def on_acquired(acq):  # set_probe + acquire_spectrum of one candidate, perf_counter seconds
        spans.append(acq.span_s)

    with tempfile.TemporaryDirectory() as tmp:
        exp = build_experiment(cfg, Path(tmp) / "run")
        exp.on_step = on_step
        exp.on_acquired = on_acquired
        summary = exp.run()
    n = marks["end_n"] - marks["policy_start_n"]
    t_start, t_end = marks["policy_start"], marks["end"]
    wall = t_end - t_start
    busy = sum(max(0.0, min(b, t_end) - max(a, t_start)) for a, b in spans)
    return {"pipeline": pipeline, "q": q, "exposure_s": exposure_s, "spectra": n, "wall_s": wall,
            "duty_cycle": n * exposure_s / wall, "instrument_busy": busy / wall,
            "median_t_decision_s": summary["median_t_decision_s"],
            "top1_found": summary.get("truth", {}).get("top1_found")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--exposure-s", type=float, default=0.2)
    ap.add_argument("--steps", type=int, default=45)
    ap.add_argument("--n-init", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", nargs="+", default=["seq:1", "pipe:1", "pipe:2", "pipe:4"],
                    help="mode:q pairs, mode seq or pipe")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/duty_cycle.json"))
    args = ap.parse_args()
    rows = []
    for v in args.variants:
        mode, q = v.split(":")
        r = run_variant(mode == "pipe", int(q), args.exposure_s, args.steps, args.n_init, args.seed)
        rows.append(r)
        print(json.dumps(r), flush=True)
    print(f"\n{'variant':10s} {'spectra':>8s} {'wall s':>8s} {'duty':>7s} {'busy':>7s} {'decision s':>11s}")
    for r in rows:
        name = f"{'pipe' if r['pipeline'] else 'seq'} q={r['q']}"
        print(f"{name:10s} {r['spectra']:8d} {r['wall_s']:8.1f} {r['duty_cycle']:7.1%} {r['instrument_busy']:7.1%} "
              f"{r['median_t_decision_s']:11.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "exposure_s": args.exposure_s}, indent=2))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
