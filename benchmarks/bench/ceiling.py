"""``python -m benchmarks.bench.ceiling``: per-dataset facts for the benchmark report.

For every recorded dataset (``conf/dataset/*.yaml``) it writes into ``benchmarks/results/dataset_facts.json``:

* ``reliability``: split-half agreement of the denoised ground truth (:mod:`.reliability`);
* ``ceiling``: what a supervised model trained on ALL candidates reaches, measured with spatially
  blocked cross-validation: the candidate grid is cut into 4 x 4 blocks, the blocks go to 4 folds
  as a Latin square (fold = (block row + block column) mod 4: every fold holds one block of each
  block row and block column), a ``sklearn`` ``HistGradientBoostingRegressor`` (defaults,
  ``random_state=0``) is trained on three folds and predicts the held-out one. Features per
  candidate: its coordinates (fractions of the field), Gaussian blurs of the z-scored structure image
  at sigma 1, 2, 4, 8 px and the local standard deviation at sigma 2 and 4 px (all sampled at the
  candidate pixel), and the candidate's patch (the benchmark's window, z-scored) averaged down to
  4 x 4. Reported: R^2 of the pooled out-of-fold predictions against the truth, each fold's R^2,
  and for comparison the R^2 of a random 4-fold split (which leaks neighbours into training and
  flatters the model).

The report (:func:`benchmarks.bench.aggregate.write_report`) reads the file when it exists.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .reliability import SPLIT_SEED, UNRELIABLE_OVERLAP, split_half_reliability

__all__ = ["BLOCKS", "blocked_folds", "ceiling_r2", "dataset_facts", "main", "structure_features"]

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
#: Blocks per side of the candidate grid.
BLOCKS = 4
#: Gaussian sigmas (px) of the blurred structure image features.
BLUR_SIGMAS = (1.0, 2.0, 4.0, 8.0)
#: Sigmas (px) of the local standard deviation features.
STD_SIGMAS = (2.0, 4.0)
#: The patch is averaged down to this many cells per side.
PATCH_CELLS = 4


def _zscore(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image, dtype=np.float64)
    finite = np.isfinite(img)
    mu = float(img[finite].mean()) if finite.any() else 0.0
    sd = float(img[finite].std()) if finite.any() else 1.0
    img = np.where(finite, img, mu)
    return (img - mu) / (sd if sd > 0 else 1.0)


def _downsample(patches: np.ndarray, cells: int = PATCH_CELLS) -> np.ndarray:
    """(n, h, w) -> (n, cells * cells): means over a cells x cells partition of each patch."""
    p = np.asarray(patches, dtype=np.float64)
    n, h, w = p.shape
    rows = np.array_split(np.arange(h), min(cells, h))
    cols = np.array_split(np.arange(w), min(cells, w))
    out = [p[:, r][:, :, c].mean(axis=(1, 2)) for r in rows for c in cols]
    return np.stack(out, axis=1)


def structure_features(image: np.ndarray, yx_px: np.ndarray, yx_frac: np.ndarray,
                       patches: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """(n, f) features of each candidate and their names (see the module docstring)."""
    from scipy import ndimage

    img = _zscore(image)
    rows, cols = np.asarray(yx_px, dtype=np.int64).T
    feats = [np.asarray(yx_frac, dtype=np.float64)[:, 0], np.asarray(yx_frac, dtype=np.float64)[:, 1]]
    names = ["y_frac", "x_frac"]
    for s in BLUR_SIGMAS:
        feats.append(ndimage.gaussian_filter(img, s, mode="reflect")[rows, cols])
        names.append(f"blur_s{s:g}")
    for s in STD_SIGMAS:
        m = ndimage.gaussian_filter(img, s, mode="reflect")
        m2 = ndimage.gaussian_filter(img * img, s, mode="reflect")
        feats.append(np.sqrt(np.clip(m2 - m * m, 0.0, None))[rows, cols])
        names.append(f"local_std_s{s:g}")
    down = _downsample(patches)
    for k in range(down.shape[1]):
        feats.append(down[:, k])
        names.append(f"patch_{k}")
    return np.stack(feats, axis=1), names


def blocked_folds(grid_rows: np.ndarray, grid_cols: np.ndarray, grid_shape: tuple[int, int],
                  blocks: int = BLOCKS) -> np.ndarray:
    """(n,) fold of each candidate: ``blocks x blocks`` spatial blocks of the candidate grid, block
    (i, j) in fold ``(i + j) mod blocks`` (a Latin square)."""
    gr, gc = grid_shape
    bi = np.minimum((np.asarray(grid_rows) * blocks) // max(gr, 1), blocks - 1)
    bj = np.minimum((np.asarray(grid_cols) * blocks) // max(gc, 1), blocks - 1)
    return ((bi + bj) % blocks).astype(np.int64)


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    ss = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - pred) ** 2)) / ss if ss > 0 else math.nan


def ceiling_r2(X: np.ndarray, y: np.ndarray, folds: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Out-of-fold R^2 of ``HistGradientBoostingRegressor`` over the given ``folds`` (and a random
    split with as many folds for comparison). Rows with a non-finite target are left out."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    ok = np.isfinite(y)
    X, y, folds = X[ok], y[ok], folds[ok]

    def oof(assign: np.ndarray) -> tuple[np.ndarray, list[float]]:
        pred = np.full(y.shape, np.nan)
        per = []
        for f in np.unique(assign):
            test = assign == f
            model = HistGradientBoostingRegressor(random_state=seed)
            model.fit(X[~test], y[~test])
            pred[test] = model.predict(X[test])
            per.append(_r2(y[test], pred[test]))
        return pred, per

    with threadpool_limits(1):
        pred_b, per_b = oof(folds)
        rand = np.random.default_rng(seed).permutation(y.size) % len(np.unique(folds))
        pred_r, _ = oof(rand)
    return {
        "r2": _r2(y, pred_b),
        "fold_r2": per_b,
        "r2_random_split": _r2(y, pred_r),
        "n": int(y.size),
        "folds": int(len(np.unique(folds))),
        "blocks": f"{BLOCKS}x{BLOCKS}",
        "model": "sklearn HistGradientBoostingRegressor(random_state=0), defaults",
    }


def _compose(dataset: str) -> Any:
    from hydra import compose, initialize_config_dir

    from agent.app import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("bench", overrides=[f"dataset={dataset}", "method=random"])


def dataset_facts(dataset: str, seed: int = SPLIT_SEED, threshold: float = UNRELIABLE_OVERLAP) -> dict[str, Any]:
    """Reliability and ceiling of one dataset (``conf/dataset/<dataset>.yaml``)."""
    from hydra.utils import instantiate

    from agent.candidates import make_candidates
    from agent.settings import ExperimentSettings
    from drivers.replay.denoise import denoise_cube
    from rewards import evaluate_at, first_objective

    t0 = time.perf_counter()
    cfg = _compose(dataset)
    settings = ExperimentSettings.from_mapping(cfg.experiment)
    driver = instantiate(cfg.driver)
    reward = instantiate(cfg.reward)
    try:
        overview = driver.acquire_overview(None, None, None)
        c = settings.candidates
        cand = make_candidates(overview, c.window_px, c.stride_px, c.margin_px, c.normalise)
        truth = first_objective(evaluate_at(reward, driver.expected_spectra, driver.signal_axis, cand.yx_m))
        pixels = driver.pixels_of(cand.yx_m)
        d = cfg.driver
        options = dict(method=str(d.denoise), sigma_px=float(d.sigma_px), box_px=int(d.box_px),
                       n_components=int(d.n_components), counts=driver.counts, blas_threads=1)

        def denoise(half: np.ndarray) -> np.ndarray:
            opts = dict(options)
            if opts["method"] == "pca":
                opts["n_components"] = min(opts["n_components"], half.shape[-1], half.shape[0] * half.shape[1])
            return denoise_cube(half, **opts)

        rec = driver.recording
        rel, _, _ = split_half_reliability(rec.cube, rec.signal_axis, pixels, reward, denoise, driver.counts,
                                           settings.maximize, seed, threshold)
        X, names = structure_features(overview.data, cand.yx_px, cand.yx_frac, cand.patches)
        gr, gc = cand.grid_shape
        idx = np.arange(cand.n)
        folds = blocked_folds(idx // gc, idx % gc, cand.grid_shape)
        ceiling = ceiling_r2(X, truth if settings.maximize else -truth, folds)
        ceiling["features"] = names
    finally:
        driver.close()
    return {
        "n_candidates": int(cand.n),
        "grid_shape": [int(gr), int(gc)],
        "n_finite_truth": int(np.isfinite(truth).sum()),
        "denoise": {k: v for k, v in options.items() if k != "blas_threads"},
        "reliability": rel.as_dict(),
        "ceiling": ceiling,
        "seconds": round(time.perf_counter() - t0, 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: ``python -m benchmarks.bench.ceiling [--datasets a b] [--out FILE]``."""
    from agent.app import CONF_DIR

    known = sorted(p.stem for p in (CONF_DIR / "dataset").glob("*.yaml"))
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench.ceiling",
                                 description="Split-half reliability and supervised ceiling per recorded dataset.")
    ap.add_argument("--datasets", nargs="*", default=known, help=f"default: all ({', '.join(known)})")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "dataset_facts.json")
    ap.add_argument("--threshold", type=float, default=UNRELIABLE_OVERLAP,
                    help="top-1 %% overlap below which the truth is unreliable (default %(default)s)")
    ap.add_argument("--seed", type=int, default=SPLIT_SEED, help="seed of the binomial split")
    ns = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    unknown = [d for d in ns.datasets if d not in known]
    if unknown:
        print(f"unknown dataset(s) {unknown}; known: {known}", file=sys.stderr)
        return 2
    out: dict[str, Any] = {
        "generated": _dt.datetime.now().isoformat(timespec="seconds"),
        "command": "python -m benchmarks.bench.ceiling " + " ".join(argv if argv is not None else sys.argv[1:]),
        "threshold": ns.threshold,
        "split_seed": ns.seed,
        "datasets": {},
    }
    if ns.out.exists():  # keep the datasets not recomputed now
        try:
            out["datasets"].update(json.loads(ns.out.read_text()).get("datasets", {}))
        except (OSError, json.JSONDecodeError):
            pass
    for d in ns.datasets:
        facts = dataset_facts(d, ns.seed, ns.threshold)
        out["datasets"][d] = facts
        rel, ceil = facts["reliability"], facts["ceiling"]
        print(f"{d:20s} N={facts['n_candidates']:5d} rho={rel['spearman']:.2f} top1 overlap={rel['top1_overlap']:.2f}"
              f"{' UNRELIABLE' if rel['unreliable'] else ''}  ceiling R2 blocked={ceil['r2']:.2f} "
              f"random-split={ceil['r2_random_split']:.2f} ({facts['seconds']:.0f} s)", flush=True)
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(out, indent=1, default=float))
    print(f"-> {ns.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
