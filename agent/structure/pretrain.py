"""``autoscope-pretrain``: build a structure -> property model file from emulator specimens or runs.

    autoscope-pretrain --out models/band.pt --emulator-seeds 1000-1031          # the default config
    autoscope-pretrain --out models/band.pt --emulator-seeds 1000-1015 reward.window_eV=[1.8,2.6]
    autoscope-pretrain --out models/mine.pt --runs outputs/2026-12-01/*/        # earlier runs

Emulator specimens: each seed composes the normal configuration (``conf/config.yaml`` plus the
Hydra overrides given), draws that specimen, acquires its overview as the experiment would, and
scores every candidate with the noise-free ground truth of the configured reward. Runs: the
overview (``overview.npz``) and the measured rewards (``journal.jsonl``) of finished or killed runs.
Keep the seeds you pretrain on apart from the seeds you evaluate on.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from .errors import PretrainedModelError
from .features import structure_features
from .pretrained import StructurePropertyModel, TrainingSet

__all__ = ["emulator_sets", "run_sets", "main"]

log = logging.getLogger(__name__)


def _seeds(text: str) -> list[int]:
    """``"1000-1031"`` or ``"1,2,5"`` -> list of ints."""
    out: list[int] = []
    for part in text.split(","):
        if "-" in part.strip()[1:]:
            lo, hi = part.split("-", 1)
            out.extend(range(int(lo), int(hi) + 1))
        elif part.strip():
            out.append(int(part))
    if not out:
        raise PretrainedModelError(f"--emulator-seeds={text!r}: give a range like 1000-1031 or a list 1,2,3")
    return out


def emulator_sets(seeds: list[int], overrides: list[str], progress: bool = True) -> list[TrainingSet]:
    """Descriptors and noise-free targets of one emulator specimen per seed."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from tqdm.auto import tqdm

    from agent.app import CONF_DIR
    from agent.candidates import make_candidates
    from agent.settings import ExperimentSettings
    from drivers.protocol import GroundTruth
    from rewards import evaluate_at, first_objective

    sets = []
    for seed in tqdm(seeds, desc="emulator specimens", disable=not progress, leave=False):
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=[*overrides, f"seed={seed}"])
        driver = instantiate(cfg.driver)
        reward = instantiate(cfg.reward)
        oracle = driver if isinstance(driver, GroundTruth) else None
        if oracle is None:
            raise PretrainedModelError(
                f"driver {type(driver).__name__} has no noise-free ground truth; pretrain on an emulator "
                "(driver=emulator|pfm_emulator|fourd_emulator) or on run folders (--runs)")
        settings = ExperimentSettings.from_mapping(cfg.experiment)
        ov, c = settings.overview, settings.candidates
        shape = None if ov.shape_px is None else tuple(int(v) for v in ov.shape_px)
        frame = driver.acquire_overview(ov.fov_m, shape, ov.dwell_s, ov.detector)
        cand = make_candidates(frame, c.window_px, c.stride_px, c.margin_px, c.normalise)
        feats = structure_features(cand.image, cand.yx_px, cand.pixel_m)
        truth = first_objective(evaluate_at(reward, oracle.expected_spectra, oracle.signal_axis, cand.yx_m))
        sets.append(TrainingSet(feats.values, truth, f"emulator seed {seed}"))
        driver.close()
    return sets


def run_sets(run_dirs: list[Path]) -> list[TrainingSet]:
    """Descriptors at the measured positions and the measured rewards of earlier runs."""
    from agent.journal import read_journal
    from agent.runfiles import load_overview

    sets = []
    for run in run_dirs:
        run = Path(run)
        if not (run / "journal.jsonl").is_file():
            raise PretrainedModelError(f"--runs {run}: not a run folder (no journal.jsonl)")
        frame = load_overview(run / "overview.npz")
        rows = read_journal(run / "journal.jsonl")
        yx = np.array([r.yx_px for r in rows], dtype=np.int64).reshape(-1, 2)
        y = np.array([r.reward for r in rows], dtype=np.float64)
        ay, ax = frame.axes[0], frame.axes[1]
        pixel = (abs(ay.scale) if ay.units == "m" else float("nan"),
                 abs(ax.scale) if ax.units == "m" else float("nan"))
        feats = structure_features(np.asarray(frame.data, dtype=np.float64), yx, pixel)
        sets.append(TrainingSet(feats.values, y, str(run)))
    return sets


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="autoscope-pretrain", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="model file to write (.pt)")
    ap.add_argument("--emulator-seeds", default=None, help="specimen seeds, e.g. 1000-1031")
    ap.add_argument("--runs", type=Path, nargs="*", default=[], help="run folders to learn from")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0, help="network initialisation and batch order")
    ap.add_argument("overrides", nargs="*",
                    help="Hydra overrides of the emulator config (driver=..., reward.window_eV=...)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if not args.emulator_seeds and not args.runs:
            raise PretrainedModelError("give --emulator-seeds and/or --runs: there is nothing to learn from")
        t0 = time.perf_counter()
        sets: list[TrainingSet] = []
        if args.emulator_seeds:
            seeds = _seeds(args.emulator_seeds)
            log.info("describing %d emulator specimens (overrides: %s)", len(seeds), args.overrides or "none")
            sets += emulator_sets(seeds, list(args.overrides))
        if args.runs:
            sets += run_sets(list(args.runs))
        model = StructurePropertyModel()
        model.info["overrides"] = list(args.overrides)
        model.fit(sets, epochs=args.epochs, seed=args.seed)
        model.save(args.out)
    except PretrainedModelError as err:
        print(f"autoscope-pretrain: {err}", file=sys.stderr)
        return 2
    log.info("wrote %s: %d specimens, training R^2 %.3f, %.0f s", args.out, len(sets),
             model.info["train_r2"], time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
