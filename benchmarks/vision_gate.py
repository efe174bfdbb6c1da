"""Vision on held-out emulator specimens: the quality gate (precision, recall, F(1/3), AUROC, inference
time) against the geometry labels *and against the measured target*, and the particle classifier
(accuracy per particle).

    .venv/bin/python -m benchmarks.vision_gate --out benchmarks/results/vision_gate.json

Two gates of ``conf/gate/quality.yaml``, each trained on 4 specimens (100-103) with its threshold
chosen for F(1/3) on a fifth (200), scored on specimens neither saw (``--test-seeds``):

* ``geometry``: labels from the emulator's exact geometry ("hotspot": within 5 nm outside a rod tip
  or a triangle corner), the gate's original stand-in for "worth an expensive acquisition";
* ``reward_top``: labels from the default reward itself (``conf/reward/band_intensity.yaml``): the
  top 5 % of each specimen's candidates by the emulator's noise-free ground truth.

Both are scored against the *measured target* (the reward's top 5 % on each held-out specimen, the
same noise-free truth), the geometry gate also against its own geometry labels. ``geometry_label``
is the geometry rule itself used as a gate (a perfect geometry classifier): the precision ceiling of
any gate trained on geometry labels. Beta = 1/3 weighs precision 9:1 over recall: a false positive
costs a long acquisition. The particle classifier (random forest of
``conf/gate/particle_class.yaml``) is trained on the particles of specimens 100-103 and scored on
those of the test specimens (exact masks, true kinds).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.vision import (  # noqa: E402
    REWARD_TOP,
    QualityGate,
    emulator_view,
    fbeta_scores,
    particle_dataset_from_emulator,
    train_gate_on_emulator,
    train_particle_classifier_on_emulator,
)
from drivers.emulator.labels import top_labels  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("precision", "recall", "f_beta", "auroc")


def default_reward():
    """The default experiment's reward (conf/reward/band_intensity.yaml), built as the app does."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    return instantiate(OmegaConf.load(ROOT / "conf" / "reward" / "band_intensity.yaml"))


def _line(name: str, seed: int, res: dict) -> str:
    return (f"{name:>10} specimen {seed}: precision {res['precision']:.3f} recall {res['recall']:.3f} "
            f"F(1/3) {res['f_beta']:.3f} AUROC {res['auroc']:.3f} ({int(res['n_passed'])} passed, "
            f"{int(res['n_positive'])} positive of {int(res['n'])})")


def _mean(rows: list[dict]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in rows])) for k in METRICS}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--test-seeds", type=int, nargs="+", default=[300, 301, 302, 303, 304])
    ap.add_argument("--top-fraction", type=float, default=0.05)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/vision_gate.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    reward = default_reward()
    gates, train_s = {}, {}
    for name, kw in (("geometry", {}),
                     ("reward_top", {"rule": REWARD_TOP, "reward": reward,
                                     "top_fraction": args.top_fraction})):
        t0 = time.perf_counter()
        gates[name] = train_gate_on_emulator(QualityGate(), **kw)  # conf/gate/quality.yaml defaults
        train_s[name] = time.perf_counter() - t0
        print(f"{name} gate: threshold {gates[name].threshold:.3f}, own validation "
              f"{ {k: round(v, 3) for k, v in gates[name].val_metrics.items()} }, "
              f"{train_s[name]:.1f} s with its data", flush=True)
    rows: dict[str, list[dict]] = {"geometry_vs_geometry": [], "geometry_vs_target": [],
                                   "reward_top_vs_target": [], "geometry_label_vs_target": []}
    for seed in args.test_seeds:
        view = emulator_view(seed)
        target = top_labels(view.reward_truth(reward), args.top_fraction)
        geo = view.labels("hotspot")
        x = view.candidates.patches
        for key, gate, labels in (("geometry_vs_geometry", gates["geometry"], geo),
                                  ("geometry_vs_target", gates["geometry"], target),
                                  ("reward_top_vs_target", gates["reward_top"], target)):
            res = {"seed": seed, **gate.evaluate(x, labels)}
            rows[key].append(res)
            print(_line(key, seed, res), flush=True)
        s = fbeta_scores(geo, target, 1.0 / 3.0)
        rows["geometry_label_vs_target"].append({"seed": seed, **s, "auroc": float("nan"),
                                                 "n": float(geo.size), "n_passed": float(geo.sum()),
                                                 "n_positive": float(target.sum())})
    mean = {k: _mean(v) for k, v in rows.items()}
    for k, v in mean.items():
        print(f"mean {k} over {len(args.test_seeds)} held-out specimens: "
              + ", ".join(f"{m} {x:.3f}" for m, x in v.items()))
    timing = gates["geometry"].benchmark_inference()
    print(f"one patch {timing['single_median_s'] * 1e3:.2f} ms (TTA on), 3,249 patches "
          f"{timing['batch_s']:.3f} s")
    forest = train_particle_classifier_on_emulator()
    feats, kinds = particle_dataset_from_emulator(args.test_seeds)
    particles = forest.evaluate(feats, kinds)
    print(f"particle classifier on {particles['n']} held-out particles: accuracy {particles['accuracy']:.3f}, "
          f"recall per class {particles['recall']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "test_seeds": args.test_seeds, "top_fraction": args.top_fraction,
        "target": "top share of conf/reward/band_intensity.yaml's noise-free truth per held-out specimen",
        "threshold": {k: g.threshold for k, g in gates.items()},
        "validation": {k: g.val_metrics for k, g in gates.items()},
        "train_s": train_s, "rows": rows, "mean": mean,
        "inference": timing, "particles": particles}, indent=1))
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
