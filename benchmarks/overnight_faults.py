"""An unlucky night on the real stack: the emulator behind the fault injector, DKL + log-EI, a long run.

    .venv/bin/python -m benchmarks.overnight_faults --steps 300 --out benchmarks/results/overnight_faults.json

``driver=emulator_faulty`` (drivers.faults.FaultInjector around the plasmon emulator, virtual clock)
with the rates below, the safety layer, the default surrogate and policy, pipelining on. Reports what
was injected (per kind), what the agent recorded (fault events per error type, candidates given up),
and checks that nothing was lost or let through: journal rows == record rows == measured + failed,
every kept spectrum finite, of the right length and below saturation.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hydra import compose, initialize_config_dir  # noqa: E402

from agent.app import CONF_DIR, build_experiment  # noqa: E402
from agent.journal import read_journal  # noqa: E402
from agent.record import Record  # noqa: E402

RATES = {"timeout": 0.05, "nan": 0.03, "wrong_shape": 0.03, "saturated": 0.03, "connection_lost": 0.02}


def _injector(driver):
    while driver is not None and not hasattr(driver, "injected"):
        driver = getattr(driver, "inner", None)
    return driver


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/overnight_faults.json"))
    args = ap.parse_args(argv)
    overrides = ["driver=emulator_faulty", f"seed={args.seed}", f"experiment.steps={args.steps}",
                 "experiment.pipeline=true", "experiment.progress=false", "experiment.plots=false",
                 "experiment.retry_backoff_s=0.0", *(f"driver.{k}={v}" for k, v in RATES.items())]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        exp = build_experiment(cfg, run)
        t0 = time.perf_counter()
        summary = exp.run()
        wall = time.perf_counter() - t0
        exp.driver.close()
        injected = dict(_injector(exp.driver).injected)
        with Record.open(run / "record.h5") as rec:
            events = rec.events()
            spectra = rec.column("spectrum")
            n_rows = len(rec)
        n_journal = len(read_journal(run / "journal.jsonl"))
    faults = collections.Counter(e["error"] for e in events if e["kind"] == "fault")
    given_up = sum(1 for e in events if e["kind"] == "measurement_failed")
    reward_failed = sum(1 for e in events if e["kind"] == "reward_failed")
    sat = float(cfg.driver.saturation_counts)
    checks = {
        "every_injected_fault_recorded": sum(faults.values()) == sum(injected.values()),
        "journal_rows_equal_record_rows": n_journal == n_rows,
        "budget_accounted": summary["n_measured"] + summary["n_failed"] == args.steps,
        "kept_spectra_finite": bool(np.all(np.isfinite(spectra))),
        "kept_spectra_unsaturated": bool(np.all(spectra < sat)),
        "kept_spectra_full_length": spectra.shape[1] == 1024,
    }
    out = {"steps": args.steps, "rates": RATES, "wall_s": wall, "injected": injected,
           "recorded_faults": dict(faults), "candidates_given_up": given_up, "reward_failed": reward_failed,
           "n_measured": summary["n_measured"], "n_failed": summary["n_failed"], "record_rows": n_rows,
           "journal_rows": n_journal, "checks": checks, "top1_found": summary.get("truth", {}).get("top1_found")}
    print(json.dumps({k: v for k, v in out.items()}, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"saved {args.out}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
