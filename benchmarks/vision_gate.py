"""Vision on held-out emulator specimens: the quality gate (precision, recall, F(1/3), AUROC, inference
time) and the particle classifier (accuracy per particle).

    .venv/bin/python -m benchmarks.vision_gate --out benchmarks/results/vision_gate.json

Trains the gate of ``conf/gate/quality.yaml`` (4 training specimens, threshold chosen for F(1/3) on
a fifth) and scores it on specimens it never saw (``--test-seeds``), with labels from the emulator's
exact geometry ("hotspot": within 5 nm outside a rod tip or a triangle corner). Beta = 1/3 weighs
precision 9:1 over recall: a false positive costs a long acquisition. The particle classifier
(random forest of ``conf/gate/particle_class.yaml``) is trained on the particles of specimens
100-103 and scored on those of the test specimens (exact masks, true kinds).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.vision import (  # noqa: E402
    QualityGate,
    emulator_view,
    particle_dataset_from_emulator,
    train_gate_on_emulator,
    train_particle_classifier_on_emulator,
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--test-seeds", type=int, nargs="+", default=[300, 301, 302, 303, 304])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/vision_gate.json"))
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    gate = train_gate_on_emulator(QualityGate())  # the defaults of conf/gate/quality.yaml
    train_s = time.perf_counter() - t0
    rows = []
    for seed in args.test_seeds:
        view = emulator_view(seed)
        res = gate.evaluate(view.candidates.patches, view.labels("hotspot"))
        rows.append({"seed": seed, **res})
        print(f"specimen {seed}: precision {res['precision']:.3f} recall {res['recall']:.3f} "
              f"F(1/3) {res['f_beta']:.3f} AUROC {res['auroc']:.3f} ({int(res['n_passed'])} passed, "
              f"{int(res['n_positive'])} positive of {int(res['n'])})", flush=True)
    timing = gate.benchmark_inference()
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("precision", "recall", "f_beta", "auroc")}
    print(f"mean over {len(rows)} held-out specimens: " + ", ".join(f"{k} {v:.3f}" for k, v in mean.items()))
    print(f"training {train_s:.1f} s; one patch {timing['single_median_s'] * 1e3:.2f} ms (TTA on), "
          f"3,249 patches {timing['batch_s']:.3f} s")
    forest = train_particle_classifier_on_emulator()
    feats, kinds = particle_dataset_from_emulator(args.test_seeds)
    particles = forest.evaluate(feats, kinds)
    print(f"particle classifier on {particles['n']} held-out particles: accuracy {particles['accuracy']:.3f}, "
          f"recall per class {particles['recall']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"threshold": gate.threshold, "train_s": train_s, "rows": rows,
                                    "mean": mean, "inference": timing, "particles": particles}, indent=1))
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
